"""Scale-out costs: a training step on 2 workers vs 1 process, and a sweep on 1 and 2 Ray actors vs 1 process.

**Training.** The step is the one :func:`tf_featuretest.distribute.fit_distributed` runs
(``strategy.run`` of :func:`~tf_featuretest.distribute.steps.train_replica` on a
``distribute_datasets_from_function`` stream, the digits small CNN, no attack), timed step by step
after warm-up steps, median. The baseline is this process with the default strategy; the contender
is ``python -m tf_featuretest.distribute.launch -n 2`` on 127.0.0.1 with MultiWorkerMirroredStrategy,
each worker taking half of every global batch. Each worker also times the collective alone: an
all-reduce of tensors shaped like the model's gradients, the exchange a step pays. Both sides run in
alternating order, ``--rounds`` times; the ratio is the median of the per-round ratios.

**Sweeps.** The same PGD sweep (2 eps values on digits training images, batches of 32) in this process
(:func:`~tf_featuretest.evaluation.sweep.sweep_part`, after a warm-up) and through
:class:`~tf_featuretest.distribute.ray_sweep.RaySweepBackend` with 1 and 2 actors (0.5 CPU each) on a
local Ray (127.0.0.1, no dashboard), at each of the ``--sweep-images`` sizes. Every Ray sweep starts
its own actor pool and loads the model in each actor, so its time is a fixed start-up cost plus a
per-image cost: a line through the sizes gives both ("fixed s" and "marginal img/s"), and the ratio
compares marginal throughputs. The per-image predictions of every backend are checked equal.

On a shared 2-core machine, 2 workers (or 2 actors) cannot compute faster than one process: the
figures measure the overhead, and docs/distributed.md turns them into a scaling model. Nothing here
is a speed-up claim.

    python benchmarks/distributed.py [--batches 64,512] [--steps 5] [--rounds 2] [--sweep-images 32,768]
    python benchmarks/distributed.py --no-ray        # training only
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CPU on both sides (the launcher's --hide-gpus for the workers)
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LAUNCH = [sys.executable, "-m", "tf_featuretest.distribute.launch"]


def time_steps(strategy, gb, steps, warmup):
    """Median seconds of one training step and of one gradient-sized all-reduce at global batch ``gb``."""
    import keras
    import numpy as np
    import tensorflow as tf
    from _harness import timed

    from tf_featuretest.distribute.steps import train_replica
    from tf_featuretest.distribute.stream import GlobalBatches
    from tf_featuretest.models.architectures import small_cnn

    replicas = strategy.num_replicas_in_sync
    with strategy.scope():
        model = small_cnn(10, (32, 32, 1), dropout=0.0)
        optimizer = keras.optimizers.Adam(1e-3)
        optimizer.build(model.trainable_variables)
    n = gb * (steps + warmup)
    rng = np.random.default_rng(0)  # the step's cost does not depend on the pixels
    stream = GlobalBatches(rng.random((n, 32, 32, 1), dtype=np.float32), rng.integers(0, 10, n), gb, seed=0)
    it = iter(strategy.distribute_datasets_from_function(stream.dataset_fn(0, 0, replicas)))
    shapes = [v.shape for v in model.trainable_variables]

    @tf.function
    def step(i):
        out = strategy.run(lambda el: train_replica(model, optimizer, None, 5, el, tf.stack([0, i])),
                           args=(next(it),))
        return strategy.reduce("SUM", out, axis=None)

    @tf.function
    def exchange():
        def replica():
            return tf.distribute.get_replica_context().all_reduce("SUM", [tf.ones(s) for s in shapes])

        return strategy.run(replica)

    step_s, reduce_s = [], []
    for i in range(steps + warmup):
        wall = timed(lambda: step(tf.constant(i, tf.int64)).numpy())[1]  # noqa: B023 (called at once)
        rwall = timed(lambda: [t.numpy() for t in strategy.experimental_local_results(exchange())[0]])[1]
        if i >= warmup:
            step_s.append(wall)
            reduce_s.append(rwall)
    params = int(sum(np.prod(s) for s in shapes))
    return {"step_s": float(np.median(step_s)), "allreduce_s": float(np.median(reduce_s)), "params": params}


def worker(out, strategy_name, batches, steps, warmup):
    """Run inside each process: :func:`time_steps` at every global batch, written to ``out`` by the chief."""
    from tf_featuretest.distribute import make_strategy, worker_info

    strategy = make_strategy(strategy_name)  # first: before any other TensorFlow op
    rows = {str(gb): time_steps(strategy, gb, steps, warmup) for gb in batches}
    if worker_info(strategy).is_chief:
        with open(out, "w") as fh:
            json.dump({"replicas": strategy.num_replicas_in_sync, "rows": rows}, fh)


def run_workers(batches, steps, warmup, n=2):
    """The chief's :func:`worker` output of an ``n``-worker launch on 127.0.0.1."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "times.json")
        cmd = LAUNCH + ["-n", str(n), "--hide-gpus", "--timeout", "240", "--", sys.executable, os.path.abspath(__file__),
                        "--worker", out, "--strategy", "multiworker", "--batches", ",".join(map(str, batches)),
                        "--steps", str(steps), "--warmup", str(warmup)]
        path = os.pathsep.join(p for p in (HERE, ROOT, os.environ.get("PYTHONPATH")) if p)  # this checkout's code
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": path})
        if proc.returncode != 0:
            raise SystemExit(f"launch failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        with open(out) as fh:
            return json.load(fh)["rows"]


def training(args):
    import numpy as np

    from tf_featuretest.distribute import make_strategy

    batches = [int(b) for b in args.batches.split(",")]
    default = make_strategy("default")
    res = {1: [], 2: []}
    for r in range(args.rounds):  # alternate which side goes first
        for n in ((1, 2) if r % 2 == 0 else (2, 1)):
            if n == 1:  # this process (GPUs hidden like the workers'), default strategy
                res[1].append({str(gb): time_steps(default, gb, args.steps, args.warmup) for gb in batches})
            else:
                res[2].append(run_workers(batches, args.steps, args.warmup))
    params = res[1][0][str(batches[0])]["params"]
    print(f"training step, digits small CNN ({params} weights), {args.steps} timed steps after {args.warmup}"
          f", {args.rounds} rounds; 1 = one process, 2 = two workers on 127.0.0.1")
    print(f"{'global batch':>12} {'1 ms/step':>10} {'2 ms/step':>10} {'ratio 2/1':>10} {'all-reduce ms':>14}")
    for gb in map(str, batches):
        one = [r[gb]["step_s"] for r in res[1]]
        two = [r[gb]["step_s"] for r in res[2]]
        ratio = float(np.median([b / a for a, b in zip(one, two)]))
        ar = float(np.median([r[gb]["allreduce_s"] for r in res[2]]))
        print(f"{gb:>12} {np.median(one) * 1e3:>10.1f} {np.median(two) * 1e3:>10.1f} {ratio:>10.2f} {ar * 1e3:>14.1f}")
    print("(ratio: median over rounds of 2-worker / 1-process step time; all-reduce: one exchange of "
          "gradient-sized tensors between the 2 workers)")


def sweeps(args):
    import functools

    import numpy as np
    import ray
    from _harness import timed

    from tf_featuretest.attacks.pgd import pgd
    from tf_featuretest.data import load_arrays
    from tf_featuretest.distribute.ray_sweep import RaySweepBackend, connect
    from tf_featuretest.evaluation.sweep import as_batches, sweep_part
    from tf_featuretest.models.architectures import small_cnn

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="ERROR",
             log_to_driver=False)
    connect("local")
    x, y, _ = load_arrays("digits", "train")
    sizes = [min(int(s), len(y)) for s in args.sweep_images.split(",")]
    model = small_cnn(10, (32, 32, 1))
    transform, values = functools.partial(pgd, steps=args.pgd_steps), (0.05, 0.1)
    backends = {"one process": None}
    for actors in (1, 2):
        backends[f"ray, {actors} actor{'s' * (actors > 1)}"] = RaySweepBackend("local", actors=actors,
                                                                                cpus_per_actor=0.5)
    times = {name: [] for name in backends}
    for n in sizes:
        batches = as_batches((x[:n], y[:n]), 32)
        one = functools.partial(sweep_part, model, batches, transform, "eps", values, seed=0)
        one()  # warm-up: tracing (every Ray sweep starts its own actors: nothing to warm)
        ref = None
        for name in backends:
            fn = one if backends[name] is None else functools.partial(backends[name].run, model, batches, transform,
                                                                      "eps", values, seed=0)
            part, wall, _ = timed(fn)
            ref = part if ref is None else ref
            np.testing.assert_array_equal(part.pred, ref.pred, err_msg=name)  # the same work, image for image
            times[name].append(wall)
    ray.shutdown()
    print(f"\nsweep: PGD {args.pgd_steps} steps x {len(values)} eps on digits training images (batches of 32); "
          f"per-image predictions equal across backends")
    head = "".join(f"{f'{n} img s':>10}" for n in sizes)
    print(f"{'backend':<15}{head} {'fixed s':>8} {'marginal img/s':>15} {'ratio':>6}")
    base = None
    for name, ts in times.items():
        if len(sizes) > 1:  # a line through (images, seconds): start-up cost and the rate beyond it
            slope, fixed = np.polyfit(np.array(sizes, float) * len(values), ts, 1)
            rate = 1.0 / slope if slope > 0 else float("inf")
        else:
            fixed, rate = float("nan"), sizes[0] * len(values) / ts[0]
        base = rate if base is None else base
        print(f"{name:<15}" + "".join(f"{t:>10.2f}" for t in ts) + f" {fixed:>8.2f} {rate:>15.1f} {rate / base:>6.2f}")
    print("(ratio: marginal throughput against one process, measured in this run)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="64,512", help="global batch sizes, comma-separated")
    ap.add_argument("--steps", type=int, default=5, help="timed training steps per batch size")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (tracing)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of each comparison")
    ap.add_argument("--sweep-images", default="32,768", help="sweep sizes (images), comma-separated")
    ap.add_argument("--pgd-steps", type=int, default=5)
    ap.add_argument("--no-ray", action="store_true", help="skip the sweep comparison")
    ap.add_argument("--no-training", action="store_true", help="skip the training comparison")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--strategy", default="default", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.strategy, [int(b) for b in args.batches.split(",")], args.steps, args.warmup)
    if not args.no_training:
        training(args)
    if not args.no_ray:
        sweeps(args)


if __name__ == "__main__":
    main()
