"""Wall time and peak memory of ``featuretest run`` per stage, first run and reused second run.

Runs the pipeline twice in a fresh temporary folder (the second run reuses trained models and
stage results) and prints a table; targets on 2 CPU cores: whole default run <= 300 s, second
run <= 60 s, no stage above ~2 GiB resident.

    python benchmarks/run.py [PIPELINE.toml] [--stages data,classifier,evaluate]
"""
import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tf_featuretest.config import load_config  # noqa: E402
from tf_featuretest.pipeline.runner import run_pipeline  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pipeline", nargs="?", default=None)
    ap.add_argument("--stages", default=None)
    args = ap.parse_args()
    cfg = load_config(args.pipeline)
    with tempfile.TemporaryDirectory() as root:
        kw = dict(stages=args.stages, quiet=True, reports_root=os.path.join(root, "reports"),
                  runs_root=os.path.join(root, "runs"), export_root=os.path.join(root, "saved_models"))
        runs = []
        for _ in range(2):
            t0 = time.perf_counter()
            res = run_pipeline(cfg, **kw)
            runs.append((res, time.perf_counter() - t0))
    first, second = runs[0][0], runs[1][0]
    print(f"pipeline {cfg.name}: {len(first.stages)} stages")
    print(f"{'stage':<11} {'first s':>8} {'peak MiB':>9} {'second s':>9} {'reused':>7}")
    for a, b in zip(first.stages, second.stages):
        print(f"{a.name:<11} {a.seconds:>8.1f} {a.peak_rss_mb or 0:>9.0f} {b.seconds:>9.1f} {str(b.reused):>7}")
    peak = max(s.peak_rss_mb or 0 for s in first.stages)
    print(f"first run {runs[0][1]:.1f} s (target <= 300), second run {runs[1][1]:.1f} s (target <= 60), "
          f"largest stage peak {peak:.0f} MiB (target <= 2048); all ok: {first.ok and second.ok}")


if __name__ == "__main__":
    main()
