"""Per-stage wall time and peak memory of ``featuretest run`` as the data set grows.

**The data.** For each size N, scikit-learn's digits (1,797 images, the package's 32x32 grayscale
version) are grown to N images by augmentation: every split of the digits (train / validation /
test, as ``load_arrays("digits", split)`` gives them) is repeated and each copy after the first
goes through the package's own training augmentation (:class:`tf_featuretest.data.AugmentConfig`:
rotation up to 0.04 turn, zoom and translation up to 10 % / 8 %, contrast 10 %), seeded per copy.
Each split keeps its share of N (70/15/15 on the digits), so no augmented test image is a copy of a
training image. The images are written as PNG files into ``folder:<tmp>/N/{train,val,test}/<class>/``
and the run reads them from there, as it would a user's folder; writing them is timed apart and is
not part of the run's figures.

**The run.** :func:`tf_featuretest.pipeline.runner.run_pipeline` with the built-in digits pipeline
pointed at that folder, a fresh ``runs`` folder each time (nothing reused), and the test-set sweeps
(attacks, noise, AdvGAN scoring) taken over the whole test split so they grow with the data. By
default the training lengths are cut (``--light``: 3 classifier epochs, VAE 5, DCGAN 3, committee 3,
AdvGAN 1, PGD 5 steps, 6 noise severities, no CIFAR-10-C preset table) so that the default sizes finish
in about 10 minutes on 2 shared cores; ``--full`` keeps the pipeline's own settings. Every stage's
time and peak resident memory come from the run's own stage records (as ``benchmarks/run.py``
prints them); the table adds, per stage, the growth exponent ``log(t2/t1) / log(N2/N1)`` between
consecutive sizes (1: linear in the data, 2: quadratic). The exact r-separation inside the feature
stage is also timed on its own on the same arrays, to show its quadratic term. The first size also
pays the process's one-off costs (imports, first tracing): a few seconds, which lower the first
exponents a little.

    python benchmarks/scale.py [--sizes 1800,5000] [--stages data,classifier,...] [--full]
    python benchmarks/scale.py --sizes 1800,10000,40000 --full     # the issue's sizes (hours on 2 cores)
"""
import argparse
import dataclasses
import math
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tf_featuretest.config import load_config  # noqa: E402
from tf_featuretest.data import AugmentConfig, load_arrays  # noqa: E402
from tf_featuretest.pipeline.runner import run_pipeline  # noqa: E402
from tf_featuretest.testgen.separation import r_separation  # noqa: E402

SPLITS = {"train": "train", "validation": "val", "test": "test"}


def augmented_digits(n_total, seed=0):
    """``{folder split: (x, y)}``: the digits grown to about ``n_total`` images (see the module docstring)."""
    import tensorflow as tf

    parts = {split: load_arrays("digits", split)[:2] for split in SPLITS}
    base = sum(len(y) for _, y in parts.values())
    out = {}
    for s, (split, (x, y)) in enumerate(parts.items()):
        want = max(len(y), round(n_total * len(y) / base))
        xs, ys = [x], [y]
        for copy in range(1, math.ceil(want / len(y))):
            layers = AugmentConfig().layers(seed + 1000 * s + 10 * copy)
            xa = tf.constant(x)
            for layer in layers:
                xa = layer(xa, training=True)
            xs.append(np.clip(np.asarray(xa), 0.0, 1.0))
            ys.append(y)
        out[SPLITS[split]] = (np.concatenate(xs)[:want], np.concatenate(ys)[:want])
    return out


def write_folder(root, splits):
    """PNG files ``root/<split>/<class>/<i>.png``; the ``folder:`` source of ``root``."""
    import tensorflow as tf

    for split, (x, y) in splits.items():
        for c in np.unique(y):
            os.makedirs(os.path.join(root, split, str(int(c))), exist_ok=True)
        for i, (img, c) in enumerate(zip(x, y)):
            png = tf.io.encode_png(tf.constant(np.round(img * 255).astype(np.uint8)))
            tf.io.write_file(os.path.join(root, split, str(int(c)), f"{i:06d}.png"), png)
    return f"folder:{root}"


def configure(cfg, source, n_test, light):
    """The digits pipeline on ``source``, its test-set sweeps over all ``n_test`` test images."""
    rep = dataclasses.replace
    cfg = rep(cfg, name="scale", data=rep(cfg.data, source=source, image_size=(32, 32), channels=1),
              attacks=rep(cfg.attacks, max_examples=n_test), noise=rep(cfg.noise, max_examples=n_test),
              advgan=rep(cfg.advgan, max_examples=n_test))
    if light:
        cfg = rep(cfg, classifiers=tuple(rep(c, epochs=3) for c in cfg.classifiers),
                  attacks=rep(cfg.attacks, pgd_steps=5, one_pixel_images=4, one_pixel_generations=10),
                  noise=rep(cfg.noise, severities=6, preset="none"),
                  feature=rep(cfg.feature, vae_epochs=5, dcgan_epochs=3, committee_epochs=3),
                  advgan=rep(cfg.advgan, epochs=1, family_epochs=1))
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1800,5000", help="data set sizes (images), comma-separated")
    ap.add_argument("--stages", default=None, help="stages to run (default: all)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--light", dest="light", action="store_true", default=True,
                       help="short training runs (default; see the docstring)")
    group.add_argument("--full", dest="light", action="store_false", help="the pipeline's own settings")
    ap.add_argument("--no-separation", action="store_true", help="skip timing the r-separation on its own")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    base = load_config(None)
    rows = []
    with tempfile.TemporaryDirectory(prefix="featuretest-scale-") as tmp:
        for n in sizes:
            t0 = time.perf_counter()
            splits = augmented_digits(n)
            source = write_folder(os.path.join(tmp, str(n)), splits)
            made = time.perf_counter() - t0
            counts = {k: len(v[1]) for k, v in splits.items()}
            cfg = configure(base, source, counts["test"], args.light)
            root = os.path.join(tmp, f"out-{n}")
            t0 = time.perf_counter()
            res = run_pipeline(cfg, stages=args.stages, quiet=True, reports_root=os.path.join(root, "reports"),
                               runs_root=os.path.join(root, "runs"), export_root=os.path.join(root, "saved_models"))
            total = time.perf_counter() - t0
            sep = None
            if not args.no_separation:
                (x, y), (xt, yt) = splits["train"], splits["test"]
                if not rows:  # warm-up (first calls), so the first size pays no one-off cost here
                    r_separation(x[:200].reshape(200, -1), y[:200], norm="inf")
                t0 = time.perf_counter()
                r_separation(x.reshape(len(x), -1), y, x_test=xt.reshape(len(xt), -1), y_test=yt, norm="inf")
                sep = time.perf_counter() - t0
            rows.append({"n": sum(counts.values()), "counts": counts, "made": made, "total": total, "ok": res.ok,
                         "stages": {s.name: s for s in res.stages}, "separation": sep})
            print(f"N={rows[-1]['n']} ({counts['train']}/{counts['val']}/{counts['test']}): PNGs written in "
                  f"{made:.1f} s, run {total:.1f} s, ok={res.ok}", flush=True)
    print(f"\nfeaturetest run, {'light' if args.light else 'full'} settings; s = seconds, MiB = peak resident "
          "memory during the stage; exp = growth exponent from the previous size")
    labels = ["N={} s".format(r["n"]) for r in rows]
    head = "".join(f"{label:>12}{'MiB':>7}" + (f"{'exp':>6}" if i else "") for i, label in enumerate(labels))
    print(f"{'stage':<12}{head}")

    def line(name, values):
        cells = []
        for i, (t, mem) in enumerate(values):
            cells.append(f"{t:>12.1f}{(f'{mem:.0f}' if mem else '-'):>7}")
            if i:
                prev = values[i - 1][0]
                grow = math.log(t / prev) / math.log(rows[i]["n"] / rows[i - 1]["n"]) if t > 0 and prev > 0 else 0
                cells.append(f"{grow:>6.2f}")
        print(f"{name:<12}" + "".join(cells))

    for name in rows[0]["stages"]:
        line(name, [(r["stages"][name].seconds, r["stages"][name].peak_rss_mb) for r in rows])
    line("total", [(r["total"], max((s.peak_rss_mb or 0) for s in r["stages"].values())) for r in rows])
    if rows[0]["separation"] is not None:
        line("r-sep alone", [(r["separation"], None) for r in rows])
        print("(r-sep alone: the exact pixel-space L-inf r-separation of the train and test splits, timed apart; "
              "the feature stage runs it too)")
    failed = [f"N={r['n']}: {s.name}: {s.error}" for r in rows for s in r["stages"].values() if s.status == "failed"]
    for f in failed:
        print("FAILED", f)


if __name__ == "__main__":
    main()
