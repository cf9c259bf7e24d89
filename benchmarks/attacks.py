"""Pixel-level attacks against CleverHans and ART on the digits CNN, as ratios measured in one run.

Prints:
* floor: one compiled forward+backward pass (gradient of the loss w.r.t. the input) per batch;
* FGSM time / floor, and PGD-k time / (k x floor) (targets: <= 1.03), each measured against floor
  passes of about the same total duration;
* CleverHans 4.0 PGD-k throughput, and ours / CleverHans (target: >= 1.05);
* one-pixel: our images/s / ART PixelAttack's (DE, equal population and generations; target >= 20)
  and both success rates on the same images (target: ours >= ART's);
* PGD memory on a large batch: resident memory after runs of 4x and 16x ``--mem-steps`` (no growth expected);
* AdvGAN: its training cost (wall and CPU seconds), then its images/s as a ratio to PGD-k's at the same eps and
  batch, in the same interleaved rounds (target: >= 20), and both attacks' success on the same images.

Gradient attacks run in ``--repeats`` interleaved rounds; each ratio is the median over rounds of
the ratio within a round, as wall and process-CPU seconds (CPU seconds move less when other
processes share the machine). Peers that fail to
install or import are reported and skipped.

Run: ``python benchmarks/attacks.py [--images 512] [--batch 128] [--steps 40] [--short-passes 20] [--op-images 8]
[--op-generations 100] [--op-pick first|least-confident] [--mem-batch 1024] [--advgan-epochs 5]
[--only floor,fgsm,pgd,cleverhans,one_pixel,memory,advgan]``
"""
import argparse
import gc
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _digits import train_model  # noqa: E402
from _harness import fastest, interleaved, median_ratio, rss_mb, timed  # noqa: E402

from tf_featuretest.attacks import advgan, fgsm, one_pixel_attack, pgd  # noqa: E402
from tf_featuretest.data import load_arrays  # noqa: E402
from tf_featuretest.models import train_advgan  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--short-passes", type=int, default=20, help="passes per round for the floor and FGSM")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--op-images", type=int, default=8, help="images for the one-pixel comparison")
    ap.add_argument("--op-generations", type=int, default=100)
    ap.add_argument("--op-pick", default="first", choices=["first", "least-confident"],
                    help="one-pixel images: the first test images, or the correctly classified ones with the "
                         "smallest margin between the top two probabilities (where one pixel can matter)")
    ap.add_argument("--mem-batch", type=int, default=1024)
    ap.add_argument("--mem-steps", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--advgan-epochs", type=int, default=5, help="training epochs of the AdvGAN generator")
    ap.add_argument("--only", default="floor,fgsm,pgd,cleverhans,one_pixel,memory,advgan")
    args = ap.parse_args()
    only = set(args.only.split(","))

    model = train_model(args.epochs, args.seed)
    xs, ys, _ = load_arrays("digits", "test")
    reps = int(np.ceil(args.images / len(ys)))
    xs, ys = np.concatenate([xs] * reps)[: args.images], np.concatenate([ys] * reps)[: args.images]
    batches = [(tf.constant(xs[i:i + args.batch]), tf.constant(ys[i:i + args.batch]))
               for i in range(0, len(ys), args.batch)]
    print(f"digits CNN ({model.count_params()} params), {len(ys)} images in batches of {args.batch}, "
          f"eps={args.eps}, {args.repeats} interleaved rounds")

    @tf.function
    def fwd_bwd(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(x, training=False)))
        return tape.gradient(loss, x)

    def run_all(fn, passes=1):
        def run():
            for _ in range(passes):
                for x, y in batches:
                    fn(x, y).numpy()
        return run

    # contenders that are compared run for about the same time, so that a burst of load on a shared
    # machine cannot favour the shorter one: FGSM against `--short-passes` floor passes, PGD-k and
    # CleverHans against k floor passes
    steps, eps, short = args.steps, args.eps, args.short_passes
    contenders = {"floor": run_all(fwd_bwd, short)}
    if "fgsm" in only:
        contenders["fgsm"] = run_all(lambda x, y: fgsm(model, x, y, eps=eps), short)
    if "pgd" in only or "cleverhans" in only or "advgan" in only:
        contenders[f"floor x{steps}"] = run_all(fwd_bwd, steps)
        contenders["pgd"] = run_all(lambda x, y: pgd(model, x, y, eps=eps, steps=steps, seed=0))
    if "advgan" in only:  # `steps` generator passes per round: about as long as one PGD-k run
        gen = train_generator(model, args)
        contenders[f"advgan x{steps}"] = run_all(lambda x, y: advgan(model, x, y, eps=eps, generator=gen), steps)
    if "cleverhans" in only:
        ch = cleverhans_pgd(model, args)
        if ch is not None:
            contenders["cleverhans"] = run_all(ch)
    t = interleaved(contenders, args.repeats)

    def both(a, b):
        """'median x (fastest x)': median of within-round ratios, and the ratio of fastest rounds."""
        (mw, mc), (fa, fb) = median_ratio(t, a, b), (fastest(t, a), fastest(t, b))
        return (f"{mw:.3f}x wall, {mc:.3f}x CPU (fastest rounds: {fa[0] / fb[0]:.3f}x wall, "
                f"{fa[1] / fb[1]:.3f}x CPU)")

    fl = [v / short for v in fastest(t, "floor")]
    print(f"floor (one forward+backward over all batches, fastest of {args.repeats} rounds of {short}): "
          f"{fl[0] * 1e3:.1f} ms wall, {fl[1] * 1e3:.1f} ms CPU. Ratios: median over rounds of the ratio "
          f"within a round, and the ratio of the fastest rounds")
    if "fgsm" in t:
        print(f"FGSM: {fastest(t, 'fgsm')[0] / short * 1e3:.1f} ms = {both('fgsm', 'floor')} (target <= 1.03)")
    if "pgd" in t:
        fk = fastest(t, f"floor x{steps}")
        print(f"floor x{steps}: {fk[0]:.2f} s wall, {fk[1]:.2f} s CPU")
        bw = fastest(t, "pgd")[0]
        print(f"PGD-{steps}: {bw:.2f} s ({len(ys) / bw:.1f} images/s) = {both('pgd', f'floor x{steps}')} "
              f"(target <= 1.03)")
    if "cleverhans" in t:
        bw = fastest(t, "cleverhans")[0]
        print(f"CleverHans PGD-{steps}: {bw:.2f} s ({len(ys) / bw:.1f} images/s) = "
              f"{both('cleverhans', f'floor x{steps}')}")
        print(f"PGD throughput ours / CleverHans = {both('cleverhans', 'pgd')} (target >= 1.05)")
    if f"advgan x{steps}" in t:
        (mw, mc), fa, fp = median_ratio(t, "pgd", f"advgan x{steps}"), fastest(t, f"advgan x{steps}"), fastest(t, "pgd")
        print(f"AdvGAN (one generator pass): {fa[0] / steps * 1e3:.1f} ms for all batches "
              f"({len(ys) * steps / fa[0]:.0f} images/s); throughput AdvGAN / PGD-{steps} = {mw * steps:.1f}x wall, "
              f"{mc * steps:.1f}x CPU (fastest rounds: {fp[0] / fa[0] * steps:.1f}x wall) (target >= 20)")
        success(model, gen, xs, ys, eps, steps)
    if "one_pixel" in only:
        one_pixel_vs_art(model, xs, ys, args)
    if "memory" in only:
        memory(model, xs, ys, args)


def train_generator(model, args):
    """The AdvGAN generator at ``--eps`` (untargeted and targeted), trained on the training split; prints its cost."""
    x, y, _ = load_arrays("digits", "train")
    keras.utils.set_random_seed(args.seed)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=args.seed).batch(64)
    gen, wall, cpu = timed(train_advgan, model, ds, eps=args.eps, mode="both", epochs=args.advgan_epochs,
                           seed=args.seed)
    print(f"AdvGAN training: {args.advgan_epochs} epochs on {len(y)} images in {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"(incl. tracing)")
    return gen


def success(model, gen, xs, ys, eps, steps):
    """Untargeted success of AdvGAN and PGD-k on the same images (correct before, wrong after)."""
    ok = model.predict(xs, verbose=0).argmax(1) == ys
    rates = {}
    for name, adv in (("AdvGAN", advgan(model, xs, ys, eps=eps, generator=gen)),
                      (f"PGD-{steps}", pgd(model, xs, ys, eps=eps, steps=steps, seed=0))):
        wrong = model.predict(np.asarray(adv), verbose=0).argmax(1) != ys
        rates[name] = (ok & wrong).sum() / max(ok.sum(), 1)
    print(f"untargeted success at eps {eps}: " + ", ".join(f"{k} {v:.3f}" for k, v in rates.items()))


def cleverhans_pgd(model, args):
    """CleverHans 4.0's PGD as ``fn(x, y)``, or None (with a message) when it does not import."""
    try:
        from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent
    except Exception as exc:  # a peer that does not import on this TF is reported, not fatal
        print(f"CleverHans: skipped ({type(exc).__name__}: {exc})")
        return None
    a = 2.5 * args.eps / args.steps

    def ch(x, y):
        return projected_gradient_descent(model, x, args.eps, a, args.steps, np.inf, clip_min=0.0, clip_max=1.0,
                                          y=y, rand_init=True, sanity_checks=False)

    return ch


def one_pixel_vs_art(model, xs, ys, args):
    n, gens = args.op_images, args.op_generations
    pick = np.arange(n)
    if args.op_pick == "least-confident":
        probs = tf.nn.softmax(model.predict(xs, verbose=0)).numpy()
        top2 = np.sort(probs, axis=1)[:, -2:]
        margin = np.where(probs.argmax(1) == ys, top2[:, 1] - top2[:, 0], np.inf)
        pick = np.argsort(margin, kind="stable")[:n]
        print(f"one-pixel images: {n} least-confident correct test images (top-2 margins "
              f"{margin[pick].min():.3f}..{margin[pick].max():.3f})")
    x, y = xs[pick], ys[pick]
    pop = max(1, 400 // (2 + x.shape[-1])) * (2 + x.shape[-1])  # ART's total population (scipy popsize x dims)
    t0 = time.perf_counter()
    one_pixel_attack(model, x, y, popsize=pop, generations=1, seed=0)  # trace and compile for this batch shape
    print(f"one-pixel (ours): first call (tracing, XLA compilation, exactness check, 1 generation) "
          f"{time.perf_counter() - t0:.1f} s, not counted below")
    t0, c0 = time.perf_counter(), time.process_time()
    ours = one_pixel_attack(model, x, y, popsize=pop, generations=gens, seed=args.seed)
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    print(f"one-pixel (ours): {n} images, population {pop}, {gens} generations: {t_ours:.1f} s wall "
          f"({c_ours:.1f} s CPU) = {n / t_ours:.3f} images/s, success {ours.success.mean():.3f} "
          f"({ours.success.sum()}/{n})")
    try:
        from art.attacks.evasion import PixelAttack
        from art.estimators.classification import TensorFlowV2Classifier
    except Exception as exc:
        print(f"ART: skipped ({type(exc).__name__}: {exc})")
        return
    clf = TensorFlowV2Classifier(model=model, nb_classes=10, input_shape=x.shape[1:], clip_values=(0.0, 1.0),
                                 loss_object=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    attack = PixelAttack(clf, th=1, es=1, max_iter=gens, targeted=False, verbose=False)
    np.random.seed(args.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    adv = attack.generate(x, y)
    t_art, c_art = time.perf_counter() - t0, time.process_time() - c0
    art_ok = model.predict(adv, verbose=0).argmax(1) != y
    print(f"one-pixel (ART PixelAttack, DE): {t_art:.1f} s wall ({c_art:.1f} s CPU) = {n / t_art:.3f} images/s, "
          f"success {art_ok.mean():.3f} ({art_ok.sum()}/{n})")
    print(f"one-pixel speed: ours / ART = {t_art / t_ours:.2f}x wall, {c_art / c_ours:.2f}x CPU (target >= 20); "
          f"success ours {ours.success.mean():.3f} vs ART {art_ok.mean():.3f}")


def memory(model, xs, ys, args):
    """RSS after PGD runs of growing length on one batch.

    The allocator settles over the first runs and then moves by tens of MB either way, so the
    check compares a run 4x as long as a run it follows: a leak per iteration would add at least
    one batch (4 MB at 1024 x 32 x 32) per extra step, i.e. gigabytes.
    """
    reps = int(np.ceil(args.mem_batch / len(ys)))
    x = tf.constant(np.concatenate([xs] * reps)[: args.mem_batch])
    y = tf.constant(np.concatenate([ys] * reps)[: args.mem_batch])
    m = args.mem_steps
    rows = []
    for steps in (2, m, 4 * m, 4 * m, 16 * m):  # the first three warm up the allocators
        pgd(model, x, y, eps=args.eps, steps=steps, seed=0).numpy()
        gc.collect()
        rows.append((steps, rss_mb()))
    print(f"PGD memory, batch {args.mem_batch}: " + ", ".join(f"after {s} steps {r:.0f} MB" for s, r in rows))
    extra = 12 * m
    growth = rows[4][1] - rows[3][1]
    print(f"growth from a {4 * m}-step to a {16 * m}-step run: {growth:+.0f} MB over {extra} more steps "
          f"({growth / extra * 1024:+.0f} KB per step; one batch is {x.numpy().nbytes / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
