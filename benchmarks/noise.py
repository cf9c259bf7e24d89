"""Cost of each noise relative to one forward pass of the digits small CNN on the same batch.

Target: every noise <= 0.25x, so that a severity sweep is dominated by the model. Both sides are
compiled ``tf.function``s (the noise as :func:`tf_featuretest.noise.noise_transform` compiles it,
the model as ``evaluate.sweep`` calls it), timed on the same batch in the same run, median of
repeats. The CNN is untrained (its cost does not depend on its weights).

Two tables: every registered noise at ``--severity`` (for the ImageNet-C corruptions without a
scale of their own a severity between two levels computes both levels and blends them), and every
reference corruption through :func:`tf_featuretest.noise.corrupt` at ``--level`` of the preset the
digits' 32-px side picks (CIFAR-10-C). Where the reference's algorithm is exact but costly (exact
Poisson sampling, glass blur's sequential pixel moves, spatter's Canny / distance transform), the
exactness is kept and the ratio printed as measured.

Run: ``python benchmarks/noise.py [--batch 128] [--repeats 30] [--severity 0.5] [--level 3]``
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from _harness import median_seconds  # noqa: E402

from tf_featuretest.data import load_arrays  # noqa: E402
from tf_featuretest.models import build_classifier  # noqa: E402
from tf_featuretest.noise import BENCHMARK, EXTRA, NOISES, available, corrupt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--severity", type=float, default=0.5)
    ap.add_argument("--level", type=int, default=3)
    ap.add_argument("--target", type=float, default=0.25)
    args = ap.parse_args()

    x_np, _, _ = load_arrays("digits", "test")
    x = tf.constant(x_np[: args.batch])
    model = build_classifier("small_cnn", 10, tuple(x.shape[1:]))
    forward = tf.function(lambda t: model(t, training=False))
    base = median_seconds(lambda: forward(x).numpy(), args.repeats)
    print(f"batch {int(x.shape[0])}x{tuple(x.shape[1:])}, severity {args.severity}; "
          f"small CNN forward pass: {base * 1e3:.3f} ms (median of {args.repeats})")
    print(f"{'noise':<16} {'ms':>8} {'ratio':>7}  target <= {args.target}")
    s = tf.constant(args.severity)
    worst = 0.0
    for name, fn in NOISES.items():
        compiled = tf.function(lambda t, sv, seed, fn=fn: fn(t, sv, seed=seed))
        seed = tf.constant(1, tf.int64)
        sec = median_seconds(lambda compiled=compiled, seed=seed: compiled(x, s, seed).numpy(), args.repeats)
        ratio = sec / base
        worst = max(worst, ratio)
        print(f"{name:<16} {sec * 1e3:>8.3f} {ratio:>7.3f}  {'ok' if ratio <= args.target else 'OVER'}")
    print(f"worst ratio {worst:.3f} ({'meets' if worst <= args.target else 'misses'} the {args.target}x target)")
    print(f"\nreference corruptions, corrupt(x, name, {args.level}, preset='auto') (CIFAR-10-C at 32 px)")
    print(f"{'corruption':<18} {'ms':>8} {'ratio':>7}  target <= {args.target}")
    over = []
    for name in BENCHMARK + EXTRA:
        if not available(name):
            print(f"{name:<18} skipped: its pictures are not installed")
            continue
        compiled = tf.function(lambda t, seed, name=name: corrupt(t, name, args.level, preset="auto", seed=seed))
        seed = tf.constant(1, tf.int64)
        sec = median_seconds(lambda compiled=compiled, seed=seed: compiled(x, seed).numpy(), args.repeats)
        ratio = sec / base
        if ratio > args.target:
            over.append(name)
        print(f"{name:<18} {sec * 1e3:>8.3f} {ratio:>7.3f}  {'ok' if ratio <= args.target else 'OVER'}")
    print(f"over the target: {', '.join(over) or 'none'}")


if __name__ == "__main__":
    main()
