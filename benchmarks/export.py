"""Benchmark: exported signatures loaded from disk vs the same functions compiled in process.

For every signature of the classifier, attacks and generator artifacts (and the VAE's when
testgen.latent is available) this prints the median latency of the in-process ``tf.function`` and
of ``tf.saved_model.load(...).signatures[name]`` at batch 1 and 128, and their ratio (target
<= 1.2), then each export's size on disk against the bytes of the variables it uses (target <= 1.2x).

Usage: python benchmarks/export.py [--repeats 5] [--pgd-steps 5] [--feature-space-steps 10]
"""
import argparse
import importlib.util
import os
import statistics
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from _harness import timed  # noqa: E402


def _once(fn, kwargs):
    return timed(lambda: [v.numpy() for v in fn(**kwargs).values()])[1]


def median_pair(fn_a, fn_b, kwargs, repeats):
    """Median seconds of ``fn_a`` and ``fn_b``, calls interleaved so machine load hits both alike."""
    fn_a(**kwargs), fn_b(**kwargs)  # warm up (first call traces / loads)
    a, b = [], []
    for _ in range(repeats):
        a.append(_once(fn_a, kwargs))
        b.append(_once(fn_b, kwargs))
    return statistics.median(a), statistics.median(b)


def feeds(name, x, y, steps):
    n = len(x)
    common = {"image": tf.constant(x)}
    return {
        "serving_default": common, "features": common,
        "fgsm": {**common, "label": tf.constant(y), "eps": tf.constant(0.1), "target": tf.constant(-1, tf.int64)},
        "pgd": {**common, "label": tf.constant(y), "eps": tf.constant(0.1), "step_size": tf.constant(0.02),
                "steps": tf.constant(steps), "target": tf.constant(-1, tf.int64)},
        "feature_space": {**common, "target": tf.constant(3, tf.int64), "eps": tf.constant(0.1)},
        "generate": {"labels": tf.constant(y), "seed": tf.constant(1)},
        "encode": common, "decode": {"z": tf.zeros([n, 8])},
        "sample_tests": {"anchors": tf.constant(x[:max(1, n // 4)]), "anchor_labels": tf.constant(y[:max(1, n // 4)]),
                         "count": tf.constant(4), "radius": tf.constant(0.5), "seed": tf.constant(0)},
    }[name]


def main():
    import keras

    from tf_featuretest import export
    from tf_featuretest.attacks.feature_space import class_centroids
    from tf_featuretest.data import load_arrays
    from tf_featuretest.export import signatures as sig
    from tf_featuretest.models import build_classifier, compile_classifier
    from tf_featuretest.models.dcgan import ConditionalDCGAN

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pgd-steps", type=int, default=5)
    ap.add_argument("--feature-space-steps", type=int, default=10)
    args = ap.parse_args()

    keras.utils.set_random_seed(0)
    x, y, info = load_arrays("digits", "train")
    model = build_classifier("small_cnn", 10, (32, 32, 1))
    compile_classifier(model)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    cents = class_centroids(model, x[:400], y[:400], k=1, seed=0)
    gan = ConditionalDCGAN((32, 32, 1), num_classes=10, latent_dim=64, seed=0)
    names = list(info.class_names)
    shape = (32, 32, 1)

    arts = {
        "classifier": (lambda root: export.export_classifier(model, root, "bench", class_names=names),
                       lambda: sig.classifier_endpoints(model, names, shape)),
        "attacks": (lambda root: export.export_attacks(model, root, "bench", class_names=names, centroids=cents,
                                                         feature_space_steps=args.feature_space_steps),
                    lambda: sig.attack_endpoints(model, shape, centroids=cents, steps=args.feature_space_steps)[0]),
        "generator": (lambda root: export.export_generator(gan, root, "bench", class_names=names),
                      lambda: sig.generator_endpoints(gan)),
    }
    if importlib.util.find_spec("tf_featuretest.testgen.latent") is not None:
        from tf_featuretest.models.vae import VAE

        vae = VAE(shape, latent_dim=8, seed=0)
        vae(x[:2])
        arts["vae"] = (lambda root: export.export_vae(vae, root, "bench", train_images=x[:500], train_labels=y[:500],
                                                      class_names=names),
                       lambda: sig.vae_endpoints(vae, shape, x[:500], y[:500])[0])

    root = tempfile.mkdtemp(prefix="bench-export-")
    print(f"{'artifact/signature':<28} {'batch':>5} {'in-process ms':>14} {'loaded ms':>10} {'ratio':>6}")
    sizes = []
    for artifact, (do_export, endpoints) in arts.items():
        res = do_export(root)
        sizes.append((artifact, res.size_bytes, res.variable_bytes))
        loaded, _ = export.load_artifact(os.path.join(root, "bench"), artifact)
        for name, fn, spec in endpoints():
            local = tf.function(fn, input_signature=spec)
            for batch in (1, 128):
                kw = feeds(name, x[:batch], y[:batch], args.pgd_steps)
                t_local, t_loaded = median_pair(local, loaded.signatures[name], kw, args.repeats)
                print(f"{artifact + '/' + name:<28} {batch:>5} {t_local * 1e3:>14.2f} {t_loaded * 1e3:>10.2f} "
                      f"{t_loaded / t_local:>6.2f}")
    print(f"\n{'artifact':<12} {'on disk':>10} {'variables':>10} {'ratio':>6}")
    for artifact, size, var in sizes:
        print(f"{artifact:<12} {size / 1e6:>9.2f}M {var / 1e6:>9.2f}M {size / max(var, 1):>6.2f}")


if __name__ == "__main__":
    main()
