"""Train the VAE and the conditional DCGAN on digits and measure their cost and quality.

Prints, for each model, wall-clock and process CPU seconds of ``fit`` (CPU seconds are the honest
figure on a shared machine; on an idle 2-core machine wall time is about CPU time / 2), the ratio of
that time to training the small CNN in the same run, the VAE's test reconstruction loss and ELBO, and
the DCGAN's FID / KID / Inception Score against the test images in the feature space of the trained
digits CNN (penultimate layer; ImageNet Inception weights are not available offline). The floor for
FID/KID is the same metric between two real sets of equal size (train subset vs test); the DCGAN's
FID ratio to that floor says how far its samples are from real data. The CNN's accuracy on the
generated images (labelled by their condition) is printed as a plainer quality figure.

Run: ``python benchmarks/generative.py [--vae-epochs 30] [--gan-epochs 30] [--out /tmp/gen]``
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _harness import timed  # noqa: E402

from tf_featuretest.data import load_arrays  # noqa: E402
from tf_featuretest.metrics import fid, inception_score, kid  # noqa: E402
from tf_featuretest.models import build_classifier, compile_classifier, train_dcgan, train_vae  # noqa: E402


def grid(images, path, title):
    from tf_featuretest.report.style import image_grid_axes, save, show_image

    fig, axes = image_grid_axes(10, 10, cell=0.6, title=title)
    for ax, img in zip(axes.flat, images):
        show_image(ax, img)
    fig.suptitle(title)
    save(fig, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vae-epochs", type=int, default=30)
    ap.add_argument("--gan-epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="folder for sample grids and results.json")
    args = ap.parse_args()

    x, y, info = load_arrays("digits", "train")
    xt, yt, _ = load_arrays("digits", "test")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=args.seed).batch(args.batch).cache()
    test_ds = tf.data.Dataset.from_tensor_slices((xt, yt)).batch(256)

    keras.utils.set_random_seed(args.seed)
    cnn = build_classifier("small_cnn", info.num_classes, x.shape[1:])
    compile_classifier(cnn, learning_rate=2e-3)
    _, cnn_wall, cnn_cpu = timed(lambda: cnn.fit(ds, epochs=8, verbose=0))
    cnn_acc = float(cnn.evaluate(test_ds, verbose=0, return_dict=True)["accuracy"])
    print(f"small CNN: 8 epochs {cnn_wall:.1f} s wall, {cnn_cpu:.1f} s CPU; test accuracy {cnn_acc:.4f}")

    vae, vae_wall, vae_cpu = timed(lambda: train_vae(ds, x.shape[1:], latent_dim=16, epochs=args.vae_epochs,
                                                     seed=args.seed))
    ev = vae.evaluate(test_ds, verbose=0, return_dict=True)
    elbo = float(np.mean(vae.elbo(xt).numpy()))
    print(f"VAE: {args.vae_epochs} epochs {vae_wall:.1f} s wall, {vae_cpu:.1f} s CPU "
          f"({vae_cpu / cnn_cpu:.1f}x the CNN's CPU time); test reconstruction loss "
          f"{ev['reconstruction_loss']:.2f} nats/image ({ev['reconstruction_loss'] / x[0].size:.4f} per pixel), "
          f"KL {ev['kl_loss']:.2f}, mean ELBO {elbo:.2f}")

    gan, gan_wall, gan_cpu = timed(lambda: train_dcgan(ds, x.shape[1:], info.num_classes, epochs=args.gan_epochs,
                                                       seed=args.seed))
    n = len(yt)
    fake = gan.generate(yt, seed=args.seed).numpy()
    real_ref = x[np.random.default_rng(args.seed).choice(len(x), n, replace=False)]
    gen_acc = float(np.mean(cnn.predict(fake, verbose=0).argmax(1) == yt))
    vae_fake = vae.sample(n, seed=args.seed).numpy()
    results = {
        "cnn": {"wall_s": cnn_wall, "cpu_s": cnn_cpu, "test_accuracy": cnn_acc},
        "vae": {"epochs": args.vae_epochs, "wall_s": vae_wall, "cpu_s": vae_cpu, **ev, "mean_elbo": elbo,
                "fid_samples_vs_test": fid(xt, vae_fake, cnn).fid},
        "dcgan": {"epochs": args.gan_epochs, "wall_s": gan_wall, "cpu_s": gan_cpu,
                  "cnn_accuracy_on_generated": gen_acc,
                  "fid": fid(xt, fake, cnn).to_dict(), "kid": kid(xt, fake, cnn, subsets=10, subset_size=200).to_dict(),
                  "inception_score": inception_score(fake, cnn).to_dict()},
        "real_floor": {"fid": fid(xt, real_ref, cnn).fid, "kid": kid(xt, real_ref, cnn, subsets=10, subset_size=200).kid,
                       "inception_score": inception_score(xt, cnn).score},
    }
    d, f = results["dcgan"], results["real_floor"]
    print(f"DCGAN: {args.gan_epochs} epochs {gan_wall:.1f} s wall, {gan_cpu:.1f} s CPU "
          f"({gan_cpu / cnn_cpu:.1f}x the CNN's CPU time); CNN accuracy on generated digits {gen_acc:.3f}")
    print(f"  vs {n} test images, features {d['fid']['feature_extractor']}: FID {d['fid']['fid']:.2f} "
          f"(real train subset: {f['fid']:.2f}, ratio {d['fid']['fid'] / max(f['fid'], 1e-9):.1f}x), "
          f"KID {d['kid']['kid']:.4f} +- {d['kid']['kid_std']:.4f} (real: {f['kid']:.4f}), "
          f"IS {d['inception_score']['score']:.2f} (real test images: {f['inception_score']:.2f})")
    print(f"  VAE samples FID {results['vae']['fid_samples_vs_test']:.2f}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        grid(gan.generate(np.repeat(np.arange(10), 10), seed=1).numpy(), os.path.join(args.out, "dcgan.png"),
             "DCGAN samples (row = class)")
        grid(vae.sample(100, seed=1).numpy(), os.path.join(args.out, "vae.png"), "VAE samples")
        with open(os.path.join(args.out, "results.json"), "w") as fh:
            json.dump(results, fh, indent=2, default=float)


if __name__ == "__main__":
    main()
