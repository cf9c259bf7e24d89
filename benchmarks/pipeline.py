"""Is the input pipeline a bottleneck? Training-step time through ``data.load`` vs in-memory tensors.

Both runs use the same compiled train step of the same model; the baseline feeds batches that are
already tensors in memory, the other reads them through the tf.data pipeline (cache, shuffle,
batch, map, prefetch). Prints the ratio (target <= 1.1) and, for information, the ratio with
augmentation on.

    python benchmarks/pipeline.py [--source digits] [--epochs 5] [--batch-size 64]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_featuretest.data import load, load_arrays  # noqa: E402
from tf_featuretest.models import build_classifier  # noqa: E402


def make_step(model):
    opt = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def timed(step, batches_fn, epochs):
    for x, y in batches_fn():  # warm-up epoch: tracing, caches
        step(x, y)
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for x, y in batches_fn():
            loss = step(x, y)
            n += 1
    float(loss)
    return (time.perf_counter() - t0) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="digits")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    keras.utils.set_random_seed(0)
    x, y, info = load_arrays(args.source, "train")
    model = build_classifier("small_cnn", info.num_classes, info.image_shape)
    step = make_step(model)
    bs = args.batch_size
    mem = [(tf.constant(x[i:i + bs]), tf.constant(y[i:i + bs])) for i in range(0, len(x), bs)]
    ds, _ = load(args.source, "train", batch_size=bs, seed=0)
    ds_aug, _ = load(args.source, "train", batch_size=bs, seed=0, augment=True)
    rows = {"in-memory tensors": [], "tf.data pipeline": [], "tf.data + augmentation": []}
    for _ in range(args.repeats):  # interleave to even out machine noise
        rows["in-memory tensors"].append(timed(step, lambda: mem, args.epochs))
        rows["tf.data pipeline"].append(timed(step, lambda: ds, args.epochs))
        rows["tf.data + augmentation"].append(timed(step, lambda: ds_aug, args.epochs))
    base = min(rows["in-memory tensors"])
    print(f"source={args.source} images={len(y)} batch={bs} epochs={args.epochs} repeats={args.repeats}")
    print(f"{'input':<26} {'ms/step':>9} {'ratio':>7}")
    for name, vals in rows.items():
        best = min(vals)
        print(f"{name:<26} {best * 1e3:>9.2f} {best / base:>7.3f}")
    ratio = min(rows["tf.data pipeline"]) / base
    print(f"pipeline/in-memory ratio: {ratio:.3f} (target <= 1.10): {'OK' if ratio <= 1.10 else 'MISSED'}")


if __name__ == "__main__":
    main()
