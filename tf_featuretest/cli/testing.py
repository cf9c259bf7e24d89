"""Commands that test a classifier: attacks, noise robustness, generated test cases."""
import functools
import os

import click

from ..errors import ConfigError
from ._common import (
    check_out_dir,
    cli,
    data_options,
    library_errors,
    open_data,
    open_model,
    parse_floats,
    parse_size,
    quiet_option,
    say,
    write_json,
)


def _ray_backend(address, actors):
    """A Ray sweep backend for ``--ray ADDRESS`` (None without it: the sweep runs in this process)."""
    if not address:
        return None
    from ..distribute.ray_sweep import RaySweepBackend

    return RaySweepBackend(address, actors=actors)


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
@click.option("--generator", "generator_path", default=None,
              help="advgan: the trained generator (.keras, from train-generative --kind advgan).")
@click.option("--max-examples", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", default=None, help="Folder for attack.json and the PNG plots.")
@click.option("--ray", "ray_address", default=None,
              help="Run the sweep's batches on Ray: auto, local or a cluster address (host:port, ray://host:10001).")
@click.option("--ray-actors", default=2, show_default=True, type=click.IntRange(min=1),
              help="Actors in the Ray pool (each loads the model once).")
@quiet_option
@library_errors
def attack(model_path, data, image_size, batch_size, data_dir, split, attack_name, eps, pixels, target, steps, norm,
           generator_path, max_examples, seed, out, ray_address, ray_actors, quiet):
    """Sweep an attack over eps (or pixels): accuracy, success rate and perturbation size per value."""
    import numpy as np

    from ..attacks.registry import get_spec
    from ..evaluation.sweep import as_batches, sweep, sweep_backend

    spec = get_spec(attack_name)
    param = spec.param
    values = parse_floats(eps, "--eps") if param == "eps" else parse_floats(pixels, "--pixels")
    if param == "eps":
        bad = [v for v in values if not 0.0 <= v <= 1.0]
        if bad:
            raise ConfigError(f"--eps values must be in [0, 1] (images are in [0, 1]), got {bad[0]:g}")
    elif any(v < 1 or v != int(v) for v in values):
        raise ConfigError(f"--pixels must be positive whole numbers, got {pixels!r}")
    check_out_dir(out, what="--out folder")
    if spec.targeted == "required" and target is None:
        raise ConfigError(f"attack {attack_name!r} is targeted: give --target CLASS")
    if spec.targeted == "never" and target is not None:
        raise ConfigError(f"attack {attack_name!r} is untargeted: it takes no --target")
    bound = {}
    if steps is not None:
        if spec.steps is None:
            raise ConfigError(f"attack {attack_name!r} takes no --steps")
        bound[spec.steps] = steps
    if norm != "inf":
        if 2 not in spec.norms:
            raise ConfigError(f"attack {attack_name!r} takes no --norm 2")
        bound["norm"] = 2
    recorded = dict(bound)
    if "generator" in spec.requires:
        if generator_path is None:
            raise ConfigError(f"attack {attack_name!r} needs --generator G.keras (featuretest train-generative "
                              "--kind advgan)")
        from ..models import load_generative

        bound["generator"] = load_generative(generator_path, "advgan")
        recorded["generator"] = generator_path
    elif generator_path is not None:
        raise ConfigError(f"attack {attack_name!r} takes no --generator")
    fn = spec.fn
    transform = functools.partial(fn, **bound)
    model = open_model(model_path)
    ds, info = open_data(data, split, image_size=image_size, batch_size=batch_size, data_dir=data_dir, model=model)
    if target is not None and target >= info.num_classes:
        raise ConfigError(f"--target must be below the {info.num_classes} classes, got {target}")
    say(quiet, f"{attack_name} on up to {max_examples} {split} images of {data}, {param} = {list(values)} ...")
    with sweep_backend(_ray_backend(ray_address, ray_actors)):
        res = sweep(model, ds, transform, param, values, name=attack_name, target=target, seed=seed,
                    batch_size=batch_size, max_examples=max_examples,
                    progress=None if quiet else (lambda d, t: say(False, f"  batch {d}/{t}")))
    click.echo(res.table())
    if out:
        from ..models import as_logits_model
        from ..report.attack_plots import plot_accuracy_vs_eps, plot_adversarial_triplets

        x, y = as_batches(ds, 8, 8)[0]
        extra = {} if target is None else {"target": target}
        adv = np.asarray(transform(model, x, y, **{param: values[-1]}, seed=seed, **extra))
        logits = as_logits_model(model)
        pc, pa = (np.argmax(logits.predict(v, verbose=0), 1) for v in (x, adv))
        write_json(os.path.join(out, "attack.json"), {"model": model_path, "data": data, "split": split,
                                                      "settings": {**recorded, "seed": seed}, "sweep": res})
        plot_accuracy_vs_eps({attack_name: res}, os.path.join(out, "attack_curve.png"),
                             title=f"{attack_name}: accuracy and success rate")
        plot_adversarial_triplets(x, adv, y, pc, pa, os.path.join(out, "attack_examples.png"),
                                  class_names=info.class_names, title=f"{attack_name}, {param}={values[-1]:g}")
        say(quiet, f"wrote {out}/attack.json, attack_curve.png, attack_examples.png")


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
@click.option("--preset", default=None, type=click.Choice(["auto", "imagenet-c", "cifar10-c"]),
              help="Instead of the severity sweeps: the ImageNet-C / CIFAR-10-C table of corruption errors at the "
                   "reference's levels 1-5 (mCE and relative mCE vs --baseline); auto = CIFAR-10-C up to a 64-px side.")
@click.option("--ray", "ray_address", default=None,
              help="Run the sweep's batches on Ray: auto, local or a cluster address (host:port, ray://host:10001).")
@click.option("--ray-actors", default=2, show_default=True, type=click.IntRange(min=1),
              help="Actors in the Ray pool (each loads the model once).")
@quiet_option
@library_errors
def noise(model_path, data, image_size, batch_size, data_dir, noises, baseline_path, severities, fraction,
          abs_accuracy, tol, bootstrap, max_examples, seed, out, preset, ray_address, ray_actors, quiet):
    """Noise robustness: failure threshold per noise, ranking, corruption error vs a baseline (or --preset: mCE)."""
    import numpy as np

    from ..evaluation.robustness import noise_robustness
    from ..evaluation.sweep import sweep_backend
    from ..noise import parse_noises
    from ..report.noise_plots import write_noise_plots

    names = parse_noises(noises)
    grid = parse_floats(severities, "--severities")
    check_out_dir(out, what="--out folder")
    model = open_model(model_path)
    baseline = open_model(baseline_path) if baseline_path else None
    if baseline is not None and tuple(baseline.input_shape[1:]) != tuple(model.input_shape[1:]):
        raise ConfigError(f"--baseline takes images {tuple(baseline.input_shape[1:])} but --model takes "
                          f"{tuple(model.input_shape[1:])}")
    te, info = open_data(data, "test", image_size=image_size, batch_size=batch_size, data_dir=data_dir, model=model)
    if preset is not None:
        from ..evaluation.robustness import preset_robustness

        say(quiet, f"{preset} corruptions at levels 1-5 on {info.num_examples} test images ...")
        with sweep_backend(_ray_backend(ray_address, ray_actors)):
            table = preset_robustness(
                model, te, noises, preset=preset, baseline=baseline, seed=seed, batch_size=batch_size,
                max_examples=max_examples, model_name=os.path.splitext(os.path.basename(model_path))[0],
                baseline_name=os.path.splitext(os.path.basename(baseline_path))[0] if baseline_path else "baseline",
                progress=None if quiet else (lambda who, i, n: say(False, f"  {who}: {i}/{n} corruptions done")))
        click.echo(table.table())
        write_json(os.path.join(out, "noise.json"), {"preset": table.to_dict(), "data": info.to_dict()})
        say(quiet, f"wrote {out}/noise.json")
        return
    say(quiet, f"{len(names)} noises x {len(grid)} severities on {info.num_examples} test images ...")
    with sweep_backend(_ray_backend(ray_address, ray_actors)):
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
@click.option("--model", "model_path", required=True, help="A .keras classifier to test.")
@data_options
@click.option("--vae", "vae_path", default=None, help="A trained VAE (.keras); trained on the data when omitted.")
@click.option("--generator", "gan_path", default=None, help="A trained conditional DCGAN (.keras): test its cases too.")
@click.option("--radius", default="found", show_default=True,
              help="Latent sampling radius: found | <f>found | local | <f>local | global | <f>global | a number.")
@click.option("--n", "n", default=1000, show_default=True, type=click.IntRange(min=1), help="Generated cases.")
@click.option("--count", default=10, show_default=True, type=click.IntRange(min=1), help="Cases per anchor.")
@click.option("--vae-epochs", default=40, show_default=True, type=click.IntRange(min=1))
@click.option("--search-budget", default=40, show_default=True, type=click.IntRange(min=1),
              help="Model calls per anchor for each failure search and the random baseline.")
@click.option("--committee-epochs", default=30, show_default=True, type=click.IntRange(min=1),
              help="Training epochs of each network of the label committee.")
@click.option("--replay", "replay_path", default=None,
              help="A cases.npz from an earlier run: score --model on those cases instead of generating new ones.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--out", default=None, help="Directory for results.json, cases.npz and the plots (replay.json).")
@quiet_option
@library_errors
def testgen(model_path, data, image_size, batch_size, data_dir, vae_path, gan_path, radius, n, count, vae_epochs,
            search_budget, committee_epochs, replay_path, seed, out, quiet):
    """Feature-level tests: r-separation, latent (and DCGAN) cases judged by a label committee, failure search."""
    from ..pipeline.testgen import generate_tests, replay_cases
    from ..testgen.latent import parse_radius

    parse_radius(radius)  # a bad radius fails before the VAE trains
    check_out_dir(out, what="--out folder")
    model = open_model(model_path, data=data, image_size=image_size, data_dir=data_dir, quiet=quiet, convert=False)
    if replay_path:
        rep = replay_cases(model, replay_path, out=out)
        s = rep.summary
        click.echo(f"{s['num_cases']} cases, {s['num_valid']} valid: accuracy on valid "
                   f"{'n/a' if s['accuracy_on_valid'] != s['accuracy_on_valid'] else format(s['accuracy_on_valid'], '.1%')}"
                   f", {s['num_confirmed_failures']} confirmed failures; "
                   f"{rep.changed_predictions} predictions differ from the stored ones")
        if out:
            say(quiet, f"wrote {out}/replay.json")
        return
    res = generate_tests(model, data, vae_path=vae_path, gan_path=gan_path, radius=radius, n=n, count=count,
                         vae_epochs=vae_epochs, search_budget=search_budget, committee_epochs=committee_epochs,
                         seed=seed, out=out, data_dir=data_dir,
                         batch_size=batch_size, image_size=parse_size(image_size), progress=lambda m: say(quiet, m))
    click.echo(res.table())
    if out:
        say(quiet, f"wrote {out}/results.json, cases.npz and plots")
