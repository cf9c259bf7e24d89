"""Commands that train and evaluate classifiers and generative models, and run whole pipelines."""
import os
import sys

import click

from ..errors import ConfigError
from ._common import (
    channels_option,
    check_out,
    check_out_dir,
    cli,
    data_options,
    library_errors,
    open_data,
    open_model,
    parse_size,
    quiet_option,
    say,
    write_json,
)


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

    from ..metrics import evaluate_classifier
    from ..models import build_classifier, compile_classifier, train_classifier

    check_out(out, suffix=".keras", what="--out")  # before any training: a wrong name or a read-only folder
    work_dir = os.path.splitext(out)[0] + "_work"
    check_out_dir(work_dir, what="training backup folder")
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
        from ..attacks.adversarial_training import AdversarialModel

        model = AdversarialModel(model, attack=adversarial, eps=adv_eps, ratio=adv_ratio, seed=seed)
    compile_classifier(model, learning_rate=learning_rate, num_classes=info.num_classes)
    say(quiet, f"training {model_name} on {info.num_examples} images, {info.num_classes} classes ...")
    result = train_classifier(model, tr, va, epochs=epochs, verbose=0 if quiet else 2, compile=False,
                              work_dir=work_dir)
    if adversarial != "none":
        model = model.classifier
    from ..models import save_model_atomic

    save_model_atomic(model, out)
    report = evaluate_classifier(model, te, info.class_names)
    click.echo(f"test top-1 {report.accuracy:.4f}  " +
               "  ".join(f"top-{k} {v:.4f}" for k, v in report.top_k.items() if k != 1))
    resumed = result.extra.get("resumed_from_epoch")
    click.echo(f"epochs {result.epochs_run}" + (f" (resumed after epoch {resumed})" if resumed else "") +
               f", saved {out}")


@cli.command()
@click.option("--model", "model_path", required=True, help="A .keras classifier.")
@data_options
@channels_option
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default="test", show_default=True)
@click.option("--out", default=None, help="Write the report as JSON here.")
@quiet_option
@library_errors
def evaluate(model_path, data, image_size, batch_size, data_dir, channels, split, out, quiet):
    """Top-1/top-5 accuracy and the per-class precision/recall/F1 report."""
    from ..metrics import evaluate_classifier

    check_out(out, what="--out")
    model = open_model(model_path, data=data, image_size=image_size, channels=channels, data_dir=data_dir, quiet=quiet)
    ds, info = open_data(data, split, image_size=image_size, batch_size=batch_size, data_dir=data_dir, model=model,
                         channels=channels)
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

    from ..metrics import generative_report
    from ..models import save_model_atomic, train_dcgan, train_vae

    out = out or os.path.join("runs", f"{kind}.keras")
    check_out(out, suffix=".keras", what="--out")
    check_out(json_path, what="--json")
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
        click.echo(f"{'IS':<16}{report.inception_score.score:>12.4f}    "
                   f"(real test images {report.real_inception_score.score:.4f})")
        payload["metrics"] = report.to_dict()
    if json_path:
        write_json(json_path, payload)
        say(quiet, f"wrote {json_path}")


@cli.command()
@click.argument("pipeline", required=False, type=click.Path(dir_okay=False))
@click.option("--stages", default=None,
              help="Comma-separated subset of: data, classifier, evaluate, attacks, noise, advgan, feature, lookalike, "
                   "saliency, export (the stages they need run too; the report always does).")
@click.option("--retrain", is_flag=True, help="Train models even if an earlier run left matching ones.")
@click.option("--reports", default="reports", show_default=True, help="Report root; the report goes to <root>/<pipeline>.")
@click.option("--runs", default="runs", show_default=True, help="Where trained models are kept for reuse.")
@click.option("--export-root", default="saved_models", show_default=True, help="SavedModel export root.")
@quiet_option
@library_errors
def run(pipeline, stages, retrain, reports, runs, export_root, quiet):
    """Run a whole pipeline (default: the built-in digits one) and write the HTML report."""
    from ..config import load_config
    from ..pipeline.runner import parse_stages, run_pipeline

    cfg = load_config(pipeline)
    parse_stages(stages)  # a bad stage name fails before any work
    result = run_pipeline(cfg, stages=stages, retrain=retrain, quiet=quiet, reports_root=reports, runs_root=runs,
                          export_root=export_root)
    width = max(len(s.name) for s in result.stages)
    for s in result.stages:
        click.echo(f"{s.name:<{width}}  {s.status:<7} {s.seconds:7.1f} s" + ("  (reused)" if s.reused else "")
                   + (f"  {s.error}" if s.error else ""))
    click.echo(f"total {result.seconds:.1f} s; report: {result.report_path}")
    if not result.ok:
        sys.exit(1)
