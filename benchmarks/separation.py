"""Benchmark: exact nearest other-class search (r-separation) against scikit-learn, same run, same data.

Two workloads from the feature-level testing issue:

1. latent space, L2: 60,000 points in 16-d (a 10-class Gaussian mixture shaped like VAE latent
   means: class centres ~ N(0, 1.5^2 I), points ~ N(centre, I));
2. pixel space, L-inf: 10,000 images of 32x32 = 1,024 pixels (scikit-learn digits resized to
   32x32, shifted by up to 2 pixels, plus N(0, 0.03^2) noise, clipped to [0, 1]).

The baseline is the plain way to get the same numbers with scikit-learn: for each class c, fit
``NearestNeighbors`` (kd-tree for L2 in 16-d, brute force with the chebyshev metric for L-inf) on
the points of the other classes and query the points of class c. Both give the exact distances;
the script checks they agree, then prints the times and the ratio. Peak extra memory of ours is
bounded by ``block`` floats per intermediate (printed).

Usage: python benchmarks/separation.py [--latent-n 60000] [--pixel-n 10000] [--block 8388608]
"""
from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def latent_points(n, dim=16, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1.5, (classes, dim))
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.normal(0, 1, (n, dim))).astype(np.float32), y


def pixel_points(n, seed=0):
    import tensorflow as tf
    from scipy.ndimage import shift
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    bunch = load_digits()
    big = tf.image.resize((bunch.images / 16.0)[..., None].astype(np.float32), (32, 32)).numpy()[..., 0]
    idx = rng.integers(0, len(big), n)
    x = np.stack([shift(big[i], rng.integers(-2, 3, 2), order=0) for i in idx])
    x = np.clip(x + rng.normal(0, 0.03, x.shape), 0, 1).astype(np.float32)
    return x.reshape(n, -1), bunch.target[idx].astype(np.int64)


def sklearn_nearest_other(x, y, metric, algorithm):
    from sklearn.neighbors import NearestNeighbors

    dist = np.empty(len(x))
    for c in np.unique(y):
        q, r = y == c, y != c
        nn = NearestNeighbors(n_neighbors=1, metric=metric, algorithm=algorithm).fit(x[r])
        d, _ = nn.kneighbors(x[q])
        dist[q] = d[:, 0]
    return dist


def run(name, x, y, norm, metric, algorithm, block):
    from tf_featuretest.testgen.separation import nearest_other_class

    nearest_other_class(x[:64], y[:64], x[:256], y[:256], norm=norm, budget=block)  # trace once
    t0 = time.perf_counter()
    ours, _ = nearest_other_class(x, y, x, y, norm=norm, budget=block)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = sklearn_nearest_other(x, y, metric, algorithm)
    t_base = time.perf_counter() - t0
    err = float(np.max(np.abs(ours - base)))
    print(f"{name:<34} n={len(x):>6} d={x.shape[1]:>5}  ours {t_ours:7.2f} s   sklearn({algorithm}, {metric}) "
          f"{t_base:7.2f} s   ratio {t_base / t_ours:5.2f}x   max |diff| {err:.2e}   min dist {ours.min():.4f}")
    assert err < 1e-4, f"results differ by {err}"
    return t_base / t_ours


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latent-n", type=int, default=60000)
    ap.add_argument("--pixel-n", type=int, default=10000)
    ap.add_argument("--block", type=int, default=2 ** 23, help="floats per search block (memory bound)")
    args = ap.parse_args()
    import tensorflow as tf

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; block = {args.block} floats "
          f"({args.block * 4 / 2 ** 20:.0f} MiB per intermediate)")
    x, y = latent_points(args.latent_n)
    r1 = run("latent L2 (16-d mixture)", x, y, 2, "euclidean", "kd_tree", args.block)
    x, y = pixel_points(args.pixel_n)
    r2 = run("pixel L-inf (digits 32x32, noisy)", x, y, "inf", "chebyshev", "brute", args.block)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 10
    print(f"ratios: latent {r1:.2f}x, pixel {r2:.2f}x (target >= 3x); peak RSS of the process {peak:.0f} MiB")


if __name__ == "__main__":
    main()
