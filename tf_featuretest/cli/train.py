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
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker", "tpu"]), default=None,
              help="Train with the distributed loop under this tf.distribute strategy; --batch-size is then the "
                   "global batch. multiworker: run the same command on every worker, each with its TF_CONFIG.")
@click.option("--checkpoint-every", default=None, type=click.IntRange(min=1),
              help="With --strategy: also checkpoint every N steps (default: after each epoch).")
@quiet_option
@library_errors
def train(data, image_size, batch_size, data_dir, model_name, weights, trainable_layers, epochs, learning_rate,
          augment, adversarial, adv_eps, adv_ratio, seed, out, strategy, checkpoint_every, quiet):
    """Train a classifier and report its test accuracy."""
    if strategy is not None:  # the strategy first: collective ops must be configured before any other TF op
        from ..distribute import make_strategy

        strategy = make_strategy(strategy)
    elif checkpoint_every is not None:
        raise ConfigError("--checkpoint-every needs --strategy (the Keras fit path backs up once per epoch)")
    import keras

    from ..metrics import evaluate_classifier
    from ..models import build_classifier, compile_classifier, train_classifier

    check_out(out, suffix=".keras", what="--out")  # before any training: a wrong name or a read-only folder
    work_dir = os.path.splitext(out)[0] + "_work"
    check_out_dir(work_dir, what="training backup folder")
    keras.utils.set_random_seed(seed)
    size = parse_size(image_size)
    if strategy is not None:
        return _train_distributed(strategy, data, size, batch_size, data_dir, model_name, weights, trainable_layers,
                                  epochs, learning_rate, augment, adversarial, adv_eps, adv_ratio, seed, out, work_dir,
                                  checkpoint_every, quiet)
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


def _train_distributed(strategy, data, size, batch_size, data_dir, model_name, weights, trainable_layers, epochs,
                       learning_rate, augment, adversarial, adv_eps, adv_ratio, seed, out, work_dir, checkpoint_every,
                       quiet):
    """``featuretest train --strategy``: the distributed loop on in-memory splits; the chief saves ``out``."""
    from ..data import load_arrays
    from ..distribute import Adversarial, augmenter, fit_distributed, worker_info
    from ..metrics import evaluate_classifier
    from ..models import build_classifier

    me = worker_info(strategy)
    say(quiet, f"loading {data} (worker {me.index + 1} of {me.count}, {strategy.num_replicas_in_sync} replicas) ...")
    x, y, info = load_arrays(data, "train", image_size=size, data_dir=data_dir)
    xv, yv, _ = load_arrays(data, "validation", image_size=size, data_dir=data_dir)
    xt, yt, _ = load_arrays(data, "test", image_size=size, data_dir=data_dir)
    say(quiet, f"training {model_name} on {info.num_examples} images, {info.num_classes} classes, global batch "
               f"{batch_size} ...")
    model, result = fit_distributed(
        lambda: build_classifier(model_name, info.num_classes, info.image_shape, weights=weights,
                                 trainable_layers=trainable_layers), (x, y), (xv, yv), strategy=strategy,
        epochs=epochs, learning_rate=learning_rate, global_batch_size=batch_size, seed=seed,
        adversarial=Adversarial.from_settings(adversarial, adv_eps, adv_ratio), augment=augmenter(augment, seed),
        work_dir=work_dir, save_path=out, checkpoint_every=checkpoint_every, verbose=0 if quiet else 1)
    report = evaluate_classifier(model, (xt, yt), info.class_names)
    click.echo(f"test top-1 {report.accuracy:.4f}  " +
               "  ".join(f"top-{k} {v:.4f}" for k, v in report.top_k.items() if k != 1))
    resumed = result.extra["resumed_from_step"]
    click.echo(f"epochs {result.epochs_run}" + (f" (resumed at step {resumed})" if resumed else "") +
               (f", saved {out}" if me.is_chief else " (the chief saves the model)"))


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
@click.option("--kind", type=click.Choice(["vae", "dcgan", "advgan"]), required=True,
              help="Which generative model to train (advgan: a generator against --model).")
@data_options
@click.option("--epochs", default=None, type=click.IntRange(min=1), help="Default: 30 (VAE, DCGAN), 5 (AdvGAN).")
@click.option("--latent-dim", default=None, type=click.IntRange(min=1), help="Default: VAE 16, DCGAN 64.")
@click.option("--classifier", "classifier_path", default=None,
              help="A trained .keras classifier: report FID/KID/IS of samples against the test split in its features.")
@click.option("--model", "model_path", default=None, help="advgan: the .keras classifier the generator learns to break.")
@click.option("--eps", default=0.3, show_default=True, type=click.FloatRange(0, min_open=True),
              help="advgan: the pixel family's budget (L-inf per pixel, or L2 with --norm 2).")
@click.option("--family", default="pixel", show_default=True,
              type=click.Choice(["pixel", "patch", "sticker", "black_rows", "black_columns", "brightness_contrast"]),
              help="advgan: a pixel budget or a structured noise family's support.")
@click.option("--severity", default=0.3, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="advgan: a structured family's budget on the noise severity scale.")
@click.option("--mode", default="both", show_default=True, type=click.Choice(["untargeted", "targeted", "both"]),
              help="advgan: the targets the generator serves (the target is a conditioning input).")
@click.option("--norm", type=click.Choice(["inf", "2"]), default="inf", show_default=True, help="advgan: pixel norm.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", default=None, help="Where to save the .keras model (default runs/<kind>.keras).")
@click.option("--json", "json_path", default=None, help="Write losses and metrics as JSON here.")
@quiet_option
@library_errors
def train_generative(kind, data, image_size, batch_size, data_dir, epochs, latent_dim, classifier_path, model_path, eps,
                     family, severity, mode, norm, seed, out, json_path, quiet):
    """Train the VAE, the conditional DCGAN or an AdvGAN generator; score it (FID/KID/IS, or attack success)."""
    import numpy as np

    if kind == "advgan":
        return _train_advgan(data, image_size, batch_size, data_dir, epochs or 5, model_path, eps, family, severity,
                             mode, norm, seed, out, json_path, quiet)
    if model_path is not None:
        raise ConfigError("--model is the classifier an AdvGAN attacks; give it with --kind advgan only")
    epochs = epochs or 30

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


def _train_advgan(data, image_size, batch_size, data_dir, epochs, model_path, eps, family, severity, mode, norm, seed,
                  out, json_path, quiet):
    """``train-generative --kind advgan``: train against --model on the training split, score on the test split."""
    import time

    import keras
    import numpy as np

    from ..attacks.advgan import success_rates
    from ..models import save_model_atomic, train_advgan

    if model_path is None:
        raise ConfigError("--kind advgan needs --model, the .keras classifier the generator learns to break")
    out = out or os.path.join("runs", "advgan.keras")
    check_out(out, suffix=".keras", what="--out")
    check_out(json_path, what="--json")
    model = open_model(model_path)
    keras.utils.set_random_seed(seed)  # before the data: its shuffle depends on the global seed
    tr, info = open_data(data, "train", image_size=image_size, batch_size=batch_size, data_dir=data_dir, seed=seed,
                         model=model)
    say(quiet, f"training an AdvGAN ({family}) against {model_path} on {info.num_examples} images for {epochs} epochs ...")
    t0, c0 = time.perf_counter(), time.process_time()
    gen = train_advgan(model, tr, epochs=epochs, seed=seed, family=family, eps=eps, severity=severity, mode=mode,
                       norm=2 if norm == "2" else "inf", verbose=0 if quiet else 2)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    save_model_atomic(gen, out)
    te, _ = open_data(data, "test", image_size=image_size, batch_size=batch_size, data_dir=data_dir, model=model)
    xs, ys = zip(*[(np.asarray(x), np.asarray(y)) for x, y in te])
    rates = success_rates(model, gen, np.concatenate(xs), np.concatenate(ys))
    budget = f"eps {eps:g}" if family == "pixel" else f"severity {severity:g}"
    line = f"trained in {seconds:.1f} s ({cpu:.1f} s CPU); on {rates['num_images']} test images at {budget}:"
    if rates["untargeted"] is not None:
        line += f" untargeted success {rates['untargeted']:.4f}"
    if rates["targeted_mean"] is not None:
        line += f" targeted success {rates['targeted_mean']:.4f} (mean over targets)"
    click.echo(f"{line}; saved {out}")
    if json_path:
        write_json(json_path, {"kind": "advgan", "data": info.to_dict(), "model": model_path, "epochs": epochs,
                               "family": family, "eps": eps, "severity": severity, "mode": mode, "norm": norm,
                               "seconds": seconds, "cpu_seconds": cpu, "success": rates, "model_path": out,
                               "final_losses": {k: float(v[-1]) for k, v in gen.history.history.items()}})
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
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker", "tpu"]), default=None,
              help="Override the pipeline's strategy. multiworker: run on every worker with its TF_CONFIG; the "
                   "workers train the classifiers together, the chief runs the other stages and writes the report.")
@click.option("--ray", "ray_address", default=None,
              help="Run the attack and noise sweeps on Ray: auto, local or a cluster address (host:port).")
@quiet_option
@library_errors
def run(pipeline, stages, retrain, reports, runs, export_root, strategy, ray_address, quiet):
    """Run a whole pipeline (default: the built-in digits one) and write the HTML report."""
    import dataclasses
    import tempfile

    from ..distribute import make_strategy, worker_info

    made = make_strategy(strategy) if strategy else None  # first: before any other TensorFlow op
    from ..config import load_config
    from ..pipeline.runner import parse_stages, run_pipeline

    cfg = load_config(pipeline)
    parse_stages(stages)  # a bad stage name fails before any work
    cfg = dataclasses.replace(cfg, strategy=strategy or cfg.strategy, ray=ray_address or cfg.ray)
    made = made or (make_strategy(cfg.strategy) if cfg.strategy != "default" else None)
    if cfg.strategy == "multiworker":
        retrain = True  # every worker must train: one reusing a model would leave the others waiting
        if not worker_info(made).is_chief:  # train with the others; the chief writes runs/, the report, exports
            scratch = tempfile.mkdtemp(prefix="featuretest-worker-")
            stages, reports, runs, export_root = "classifier", scratch, os.path.join(scratch, "runs"), scratch
            cfg = dataclasses.replace(cfg, ray=None)
    result = run_pipeline(cfg, stages=stages, retrain=retrain, quiet=quiet, reports_root=reports, runs_root=runs,
                          export_root=export_root)
    width = max(len(s.name) for s in result.stages)
    for s in result.stages:
        click.echo(f"{s.name:<{width}}  {s.status:<7} {s.seconds:7.1f} s" + ("  (reused)" if s.reused else "")
                   + (f"  {s.error}" if s.error else ""))
    click.echo(f"total {result.seconds:.1f} s; report: {result.report_path}")
    if not result.ok:
        sys.exit(1)
