"""Commands that export SavedModels and serve them over HTTP."""
import click

from ._common import check_out, check_out_dir, cli, library_errors, open_model, quiet_option, say, write_json


@cli.command("export")
@click.option("--model", "model_path", required=True, help="The .keras classifier to export.")
@click.option("--pipeline", default="digits", show_default=True, help="Pipeline name (folder under --root).")
@click.option("--root", default="saved_models", show_default=True, help="Export root.")
@click.option("--vae", "vae_path", default=None, help="A trained VAE (.keras) to export too (needs --data).")
@click.option("--generator", "gan_path", default=None, help="A trained conditional DCGAN (.keras) to export too.")
@click.option("--data", default=None, help="Training data (e.g. digits): class names, attack centroids, VAE latents.")
@click.option("--out", default=None, help="Write the export summary as JSON here.")
@quiet_option
@library_errors
def export_cmd(model_path, pipeline, root, vae_path, gan_path, data, out, quiet):
    """Write versioned SavedModels (classifier, attacks, vae, generator) for TF Serving."""
    from ..export.bundle import export_all
    from ..models.saving import load_generative

    check_out(out, what="--out")
    check_out_dir(root, what="export root")
    model = open_model(model_path, data=data, quiet=quiet, convert=False)
    vae = load_generative(vae_path, "vae") if vae_path else None
    gan = load_generative(gan_path, "generator") if gan_path else None
    results = export_all(model, root, pipeline, data=data, vae=vae, gan=gan, progress=lambda m: say(quiet, m))
    click.echo(f"{'artifact':<11} {'version':>7} {'MB':>7}  signatures")
    for r in results:
        click.echo(f"{r.artifact:<11} {r.version:>7} {r.size_bytes / 1e6:>7.2f}  {', '.join(r.signatures)}")
    if out:
        write_json(out, {"exports": [r.to_dict() for r in results]})
        say(quiet, f"wrote {out}")


@cli.command()
@click.option("--models", "models_dir", required=True, help="Pipeline export folder, e.g. saved_models/digits.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--reports", "reports_dir", default=None, help="Folder whose latest report the page shows at /report/.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Inference threads.")
@quiet_option
@library_errors
def serve(models_dir, host, port, reports_dir, workers, quiet):
    """Serve predictions, look-alike images and the web page over HTTP (FEATURETEST_API_KEY: key)."""
    import uvicorn

    from ..serve.app import create_app

    app = create_app(models_dir, reports_dir=reports_dir, workers=workers)
    say(quiet, f"serving {models_dir} on http://{host}:{port}/ (labels: {', '.join(app.state.backend.labels)})")
    uvicorn.run(app, host=host, port=port, log_level="warning" if quiet else "info")
