"""The ``featuretest`` command line: thin click shells over the library.

Every command parses its options, calls the library and prints a table; errors from the library
(:class:`~tf_featuretest.errors.FeatureTestError`) and bad options print one line naming the bad
value and exit with status 2, without a traceback.
"""
from __future__ import annotations

import functools
import json
import os
import sys

import click

from .errors import ConfigError, FeatureTestError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# ---------------------------------------------------------------- shared helpers for commands


def fail(message: str, code: int = 2):
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def library_errors(fn):
    """Turn the library's errors into one-line messages and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FeatureTestError as exc:
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    return wrapper


def quiet_option(fn):
    """``--quiet``: silence progress output."""
    return click.option("--quiet", "-q", is_flag=True, help="Silence progress output.")(fn)


def say(quiet: bool, message: str):
    """Progress line unless ``quiet``."""
    if not quiet:
        click.echo(message, err=True)


def parse_size(value):
    """``"32"`` -> (32, 32); ``"48x64"`` -> (48, 64); None stays None."""
    if value in (None, ""):
        return None
    try:
        parts = [int(v) for v in str(value).lower().split("x")]
    except ValueError:
        raise ConfigError(f"--image-size must be N or HxW, got {value!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise ConfigError(f"--image-size must be N or HxW with positive sizes, got {value!r}")
    return tuple(parts)


def parse_floats(value, name):
    """``"0.03,0.1"`` -> (0.03, 0.1), naming the option on error."""
    try:
        out = tuple(float(v) for v in str(value).split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated numbers, got {value!r}") from None
    if not out:
        raise ConfigError(f"{name} needs at least one value")
    return out


def data_options(fn):
    """``--data``, ``--image-size``, ``--batch-size``, ``--data-dir`` for commands that read a data set."""
    fn = click.option("--data-dir", default=None, help="TFDS data directory (prepared data).")(fn)
    fn = click.option("--batch-size", default=128, show_default=True, type=click.IntRange(min=1))(fn)
    fn = click.option("--image-size", default=None, help="Resize images to N or HxW (default: per source).")(fn)
    fn = click.option("--data", "data", default="digits", show_default=True,
                      help="digits | folder:PATH | gtsrb:PATH | tiny_imagenet:PATH | tfds:NAME")(fn)
    return fn


def open_data(data, split, *, image_size=None, batch_size=128, data_dir=None, model=None, **kw):
    """Load a split as a dataset; with ``model``, match its input size and channels."""
    from .data import load

    channels = None
    if model is not None:
        shape = model.input_shape
        if image_size is None:
            image_size = (shape[1], shape[2])
        channels = shape[3]
    return load(data, split, image_size=parse_size(image_size) if isinstance(image_size, str) else image_size,
                channels=channels, batch_size=batch_size, data_dir=data_dir, **kw)


def open_model(path):
    """Load a classifier file with a one-line error when it is missing or unreadable."""
    from .models import load_classifier

    return load_classifier(path)


def write_json(path, payload):
    """Write JSON atomically (temp file + rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, default=_json_default)
    os.replace(tmp, path)
    return path


def _json_default(obj):
    import numpy as np

    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ---------------------------------------------------------------- the group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tf-featuretest")
def cli():
    """Test image classifiers: attacks, noise, generated test cases, saliency, export, report."""


@cli.command()
@data_options
@click.option("--model", "model_name", default="small_cnn", show_default=True,
              help="small_cnn, inception_v3, densenet121, densenet169, mobilenet_v2, resnet50 or vgg16.")
@click.option("--weights", default=None, help="Backbone weights: 'imagenet' or a local weights file.")
@click.option("--trainable-layers", default=None, type=click.IntRange(min=0),
              help="Backbone layers to fine-tune (default: all without weights, none with).")
@click.option("--epochs", default=12, show_default=True, type=click.IntRange(min=1))
@click.option("--learning-rate", default=1e-3, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--augment/--no-augment", default=False, show_default=True)
@click.option("--adversarial", type=click.Choice(["none", "fgsm", "pgd"]), default="none", show_default=True,
              help="Mix adversarial examples into every training batch.")
@click.option("--adv-eps", default=0.1, show_default=True, type=float)
@click.option("--adv-ratio", default=0.5, show_default=True, type=click.FloatRange(0, 1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", default="runs/classifier.keras", show_default=True, help="Where to save the .keras model.")
@quiet_option
@library_errors
def train(data, image_size, batch_size, data_dir, model_name, weights, trainable_layers, epochs, learning_rate,
          augment, adversarial, adv_eps, adv_ratio, seed, out, quiet):
    """Train a classifier and report its test accuracy."""
    import keras

    from .metrics import evaluate_classifier
    from .models import build_classifier, compile_classifier, train_classifier

    keras.utils.set_random_seed(seed)
    size = parse_size(image_size)
    say(quiet, f"loading {data} ...")
    tr, info = open_data(data, "train", image_size=size, batch_size=batch_size, data_dir=data_dir,
                         augment=augment, seed=seed)
    va, _ = open_data(data, "validation", image_size=size, batch_size=batch_size, data_dir=data_dir)
    te, _ = open_data(data, "test", image_size=size, batch_size=batch_size, data_dir=data_dir)
    model = build_classifier(model_name, info.num_classes, info.image_shape, weights=weights,
                             trainable_layers=trainable_layers)
    if adversarial != "none":
        from .models.adversarial import AdversarialModel

        model = AdversarialModel(model, attack=adversarial, eps=adv_eps, ratio=adv_ratio, seed=seed)
    compile_classifier(model, learning_rate=learning_rate, num_classes=info.num_classes)
    say(quiet, f"training {model_name} on {info.num_examples} images, {info.num_classes} classes ...")
    result = train_classifier(model, tr, va, epochs=epochs, verbose=0 if quiet else 2, compile=False,
                              work_dir=os.path.splitext(out)[0] + "_work")
    if adversarial != "none":
        model = model.classifier
    from .models import save_model_atomic

    save_model_atomic(model, out)
    report = evaluate_classifier(model, te, info.class_names)
    click.echo(f"test top-1 {report.accuracy:.4f}  " +
               "  ".join(f"top-{k} {v:.4f}" for k, v in report.top_k.items() if k != 1))
    click.echo(f"epochs {result.epochs_run}, saved {out}")


@cli.command()
@click.option("--model", "model_path", required=True, help="A .keras classifier.")
@data_options
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default="test", show_default=True)
@click.option("--out", default=None, help="Write the report as JSON here.")
@quiet_option
@library_errors
def evaluate(model_path, data, image_size, batch_size, data_dir, split, out, quiet):
    """Top-1/top-5 accuracy and the per-class precision/recall/F1 report."""
    from .metrics import evaluate_classifier

    model = open_model(model_path)
    ds, info = open_data(data, split, image_size=image_size, batch_size=batch_size, data_dir=data_dir, model=model)
    say(quiet, f"evaluating on {info.num_examples} {split} images ...")
    if model.output_shape[-1] != info.num_classes:
        raise ConfigError(f"model has {model.output_shape[-1]} outputs but {data} has {info.num_classes} classes")
    report = evaluate_classifier(model, ds, info.class_names)
    click.echo("  ".join(f"top-{k} {v:.4f}" for k, v in report.top_k.items()))
    click.echo(report.format())
    if out:
        write_json(out, {"data": info.to_dict(), "report": report.to_dict()})
        say(quiet, f"wrote {out}")


@cli.command("train-generative")
@click.option("--kind", type=click.Choice(["vae", "dcgan"]), required=True, help="Which generative model to train.")
@data_options
@click.option("--epochs", default=30, show_default=True, type=click.IntRange(min=1))
@click.option("--latent-dim", default=None, type=click.IntRange(min=1), help="Default: VAE 16, DCGAN 64.")
@click.option("--classifier", "classifier_path", default=None,
              help="A trained .keras classifier: report FID/KID/IS of samples against the test split in its features.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", default=None, help="Where to save the .keras model (default runs/<kind>.keras).")
@click.option("--json", "json_path", default=None, help="Write losses and metrics as JSON here.")
@quiet_option
@library_errors
def train_generative(kind, data, image_size, batch_size, data_dir, epochs, latent_dim, classifier_path, seed, out,
                     json_path, quiet):
    """Train the VAE or the conditional DCGAN; optionally score its samples (FID, KID, IS)."""
    import numpy as np

    from .metrics import generative_report
    from .models import save_model_atomic, train_dcgan, train_vae

    out = out or os.path.join("runs", f"{kind}.keras")
    classifier = open_model(classifier_path) if classifier_path else None
    size = parse_size(image_size)
    tr, info = open_data(data, "train", image_size=size, batch_size=batch_size, data_dir=data_dir, seed=seed)
    say(quiet, f"training {kind} on {info.num_examples} images {info.image_shape} for {epochs} epochs ...")
    verbose = 0 if quiet else 2
    if kind == "vae":
        model = train_vae(tr, info.image_shape, latent_dim=latent_dim or 16, epochs=epochs, seed=seed, verbose=verbose)
    else:
        model = train_dcgan(tr, info.image_shape, info.num_classes, latent_dim=latent_dim or 64, epochs=epochs,
                            seed=seed, verbose=verbose)
    save_model_atomic(model, out)
    losses = {k: float(v[-1]) for k, v in model.history.history.items()}
    click.echo("  ".join(f"{k} {v:.4f}" for k, v in losses.items()) + f"  saved {out}")
    payload = {"kind": kind, "data": info.to_dict(), "epochs": epochs, "final_losses": losses, "model_path": out}
    if classifier is not None:
        te, _ = open_data(data, "test", image_size=size, batch_size=batch_size, data_dir=data_dir, model=classifier)
        xs, ys = zip(*[(np.asarray(x), np.asarray(y)) for x, y in te])
        x_test, y_test = np.concatenate(xs), np.concatenate(ys)
        fake = model.sample(len(x_test), seed=seed) if kind == "vae" else model.generate(y_test, seed=seed)
        report = generative_report(x_test, np.asarray(fake), classifier, seed=seed)
        click.echo(f"{'metric':<16}{'generated':>12}{'':>4}n={len(x_test)}, features {report.fid.feature_extractor}")
        click.echo(f"{'FID':<16}{report.fid.fid:>12.4f}")
        click.echo(f"{'KID':<16}{report.kid.kid:>12.5f} +- {report.kid.kid_std:.5f}")
        click.echo(f"{'IS':<16}{report.inception_score.score:>12.4f}    (real test images {report.real_inception_score.score:.4f})")
        payload["metrics"] = report.to_dict()
    if json_path:
        write_json(json_path, payload)
        say(quiet, f"wrote {json_path}")


@cli.command()
@click.argument("pipeline", required=False, type=click.Path(dir_okay=False))
@click.option("--stages", default=None,
              help="Comma-separated subset of: data, classifier, evaluate, attacks, noise, feature, lookalike, "
                   "saliency, export (the stages they need run too; the report always does).")
@click.option("--retrain", is_flag=True, help="Train models even if an earlier run left matching ones.")
@click.option("--reports", default="reports", show_default=True, help="Report root; the report goes to <root>/<pipeline>.")
@click.option("--runs", default="runs", show_default=True, help="Where trained models are kept for reuse.")
@click.option("--export-root", default="saved_models", show_default=True, help="SavedModel export root.")
@quiet_option
@library_errors
def run(pipeline, stages, retrain, reports, runs, export_root, quiet):
    """Run a whole pipeline (default: the built-in digits one) and write the HTML report."""
    from .config import load_config
    from .runner import parse_stages, run_pipeline

    cfg = load_config(pipeline)
    parse_stages(stages)  # a bad stage name fails before any work
    result = run_pipeline(cfg, stages=stages, retrain=retrain, quiet=quiet, reports_root=reports, runs_root=runs,
                          export_root=export_root)
    width = max(len(s.name) for s in result.stages)
    for s in result.stages:
        click.echo(f"{s.name:<{width}}  {s.status:<7} {s.seconds:7.1f} s" + (f"  {s.error}" if s.error else ""))
    click.echo(f"total {result.seconds:.1f} s; report: {result.report_path}")
    if not result.ok:
        sys.exit(1)


@cli.command()
@click.option("--model", "model_path", required=True, help="A .keras classifier.")
@data_options
@click.option("--noises", default=None, help="Comma-separated noise names (default: all of them).")
@click.option("--baseline", "baseline_path", default=None,
              help="A second .keras classifier; corruption errors are relative to it.")
@click.option("--severities", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1", show_default=True,
              help="Sweep grid in [0, 1], starting at 0.")
@click.option("--fraction", default=0.5, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Failure criterion: this fraction of clean accuracy.")
@click.option("--accuracy", "abs_accuracy", default=None, type=click.FloatRange(0, 1),
              help="Absolute accuracy criterion instead of --fraction.")
@click.option("--tol", default=0.01, show_default=True, type=click.FloatRange(0, 1, min_open=True))
@click.option("--bootstrap", default=200, show_default=True, type=click.IntRange(min=0))
@click.option("--max-examples", default=None, type=click.IntRange(min=1), help="Use only the first test images.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", default="runs/noise", show_default=True, help="Folder for noise.json and the PNG plots.")
@quiet_option
@library_errors
def noise(model_path, data, image_size, batch_size, data_dir, noises, baseline_path, severities, fraction,
          abs_accuracy, tol, bootstrap, max_examples, seed, out, quiet):
    """Noise robustness: failure threshold per noise, ranking, corruption error vs a baseline."""
    import numpy as np

    from .noise import parse_noises
    from .report.noise_plots import write_noise_plots
    from .robustness import noise_robustness

    names = parse_noises(noises)
    grid = parse_floats(severities, "--severities")
    model = open_model(model_path)
    baseline = open_model(baseline_path) if baseline_path else None
    if baseline is not None and tuple(baseline.input_shape[1:]) != tuple(model.input_shape[1:]):
        raise ConfigError(f"--baseline takes images {tuple(baseline.input_shape[1:])} but --model takes "
                          f"{tuple(model.input_shape[1:])}")
    te, info = open_data(data, "test", image_size=image_size, batch_size=batch_size, data_dir=data_dir, model=model)
    say(quiet, f"{len(names)} noises x {len(grid)} severities on {info.num_examples} test images ...")
    result = noise_robustness(
        model, te, names, baseline=baseline, severities=grid, fraction=fraction, accuracy=abs_accuracy, tol=tol,
        bootstrap=bootstrap, seed=seed, batch_size=batch_size, max_examples=max_examples,
        model_name=os.path.splitext(os.path.basename(model_path))[0],
        baseline_name=os.path.splitext(os.path.basename(baseline_path))[0] if baseline_path else "baseline",
        progress=None if quiet else (lambda who, i, n: say(False, f"  {who}: {i}/{n} noises done")))
    click.echo(result.table())
    image = np.asarray(next(iter(te))[0][0])
    plots = write_noise_plots(result, image, out, seed=seed)
    write_json(os.path.join(out, "noise.json"), {**result.to_dict(), "data": info.to_dict(), "plots": plots})
    say(quiet, f"wrote {out}/noise.json and {len(plots)} plots")


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

    from .serve.app import create_app

    app = create_app(models_dir, reports_dir=reports_dir, workers=workers)
    say(quiet, f"serving {models_dir} on http://{host}:{port}/ (labels: {', '.join(app.state.backend.labels)})")
    uvicorn.run(app, host=host, port=port, log_level="warning" if quiet else "info")


@cli.command()
@click.option("--model", "model_path", required=True, help="A .keras classifier.")
@data_options
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default="test", show_default=True)
@click.option("--attack", "attack_name", default="pgd", show_default=True, help="fgsm, pgd, one_pixel, ...")
@click.option("--eps", default="0.03,0.1,0.3", show_default=True, help="Comma-separated perturbation budgets.")
@click.option("--pixels", default="1,3", show_default=True, help="Comma-separated pixel counts (one_pixel).")
@click.option("--target", default=None, type=click.IntRange(min=0), help="Target class (default: untargeted).")
@click.option("--steps", default=None, type=click.IntRange(min=1), help="Iterations / generations of the attack.")
@click.option("--norm", type=click.Choice(["inf", "2"]), default="inf", show_default=True)
@click.option("--max-examples", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", default=None, help="Folder for attack.json and the PNG plots.")
@quiet_option
@library_errors
def attack(model_path, data, image_size, batch_size, data_dir, split, attack_name, eps, pixels, target, steps, norm,
           max_examples, seed, out, quiet):
    """Sweep an attack over eps (or pixels): accuracy, success rate and perturbation size per value."""
    import inspect

    import numpy as np

    from .attacks import get_attack
    from .evaluate import as_batches, sweep

    fn = get_attack(attack_name)
    params = inspect.signature(fn).parameters
    param, values = ("eps", parse_floats(eps, "--eps")) if "eps" in params else \
        ("pixels", parse_floats(pixels, "--pixels"))
    bound = {}
    if steps is not None:
        key = "steps" if "steps" in params else "generations" if "generations" in params else None
        if key is None:
            raise ConfigError(f"attack {attack_name!r} takes no --steps")
        bound[key] = steps
    if norm != "inf":
        if "norm" not in params:
            raise ConfigError(f"attack {attack_name!r} takes no --norm")
        bound["norm"] = 2
    transform = functools.partial(fn, **bound)
    model = open_model(model_path)
    ds, info = open_data(data, split, image_size=image_size, batch_size=batch_size, data_dir=data_dir, model=model)
    if target is not None and target >= info.num_classes:
        raise ConfigError(f"--target must be below the {info.num_classes} classes, got {target}")
    say(quiet, f"{attack_name} on up to {max_examples} {split} images of {data}, {param} = {list(values)} ...")
    res = sweep(model, ds, transform, param, values, name=attack_name, target=target, seed=seed,
                batch_size=batch_size, max_examples=max_examples,
                progress=None if quiet else (lambda d, t: say(False, f"  batch {d}/{t}")))
    click.echo(res.table())
    if out:
        from .models import as_logits_model
        from .report.attack_plots import plot_accuracy_vs_eps, plot_adversarial_triplets

        x, y = as_batches(ds, 8, 8)[0]
        extra = {} if target is None else {"target": target}
        adv = np.asarray(transform(model, x, y, **{param: values[-1]}, seed=seed, **extra))
        logits = as_logits_model(model)
        pc, pa = (np.argmax(logits.predict(v, verbose=0), 1) for v in (x, adv))
        write_json(os.path.join(out, "attack.json"), {"model": model_path, "data": data, "split": split,
                                                      "settings": {**bound, "seed": seed}, "sweep": res})
        plot_accuracy_vs_eps({attack_name: res}, os.path.join(out, "attack_curve.png"),
                             title=f"{attack_name}: accuracy and success rate")
        plot_adversarial_triplets(x, adv, y, pc, pa, os.path.join(out, "attack_examples.png"),
                                  class_names=info.class_names, title=f"{attack_name}, {param}={values[-1]:g}")
        say(quiet, f"wrote {out}/attack.json, attack_curve.png, attack_examples.png")


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
    from .export_pipeline import export_all, load_generative

    model = open_model(model_path)
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
@click.option("--model", "model_path", required=True, help="A .keras classifier to test.")
@data_options
@click.option("--vae", "vae_path", default=None, help="A trained VAE (.keras); trained on the data when omitted.")
@click.option("--generator", "gan_path", default=None, help="A trained conditional DCGAN (.keras): test its cases too.")
@click.option("--radius", default="0.5local", show_default=True,
              help="Latent sampling radius: global | local | <f>local | <f>global | a number.")
@click.option("--n", "n", default=1000, show_default=True, type=click.IntRange(min=1), help="Generated cases.")
@click.option("--count", default=10, show_default=True, type=click.IntRange(min=1), help="Cases per anchor.")
@click.option("--vae-epochs", default=30, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--out", default=None, help="Directory for results.json and the plots.")
@quiet_option
@library_errors
def testgen(model_path, data, image_size, batch_size, data_dir, vae_path, gan_path, radius, n, count, vae_epochs,
            seed, out, quiet):
    """Feature-level tests: r-separation, labelled latent (and DCGAN) cases with measured validity."""
    from .testgen.run import run_testgen

    model = open_model(model_path)
    res = run_testgen(model, data, vae_path=vae_path, gan_path=gan_path, radius=radius, n=n, count=count,
                      vae_epochs=vae_epochs, seed=seed, out=out, data_dir=data_dir, batch_size=batch_size,
                      image_size=parse_size(image_size), progress=lambda m: say(quiet, m))
    click.echo(res.table())
    if out:
        say(quiet, f"wrote {out}/results.json and plots")


# ---- more commands above this line ----


def main(argv=None):
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="featuretest")


if __name__ == "__main__":  # pragma: no cover
    main()
