"""Timing helpers shared by the benchmarks: wall and CPU time, medians, interleaved rounds, throughput.

Benchmarks compare a contender with a baseline measured in the same run; interleaving the two (and
rotating which goes first) keeps a burst of load from other processes on a shared machine from
favouring one side of a ratio.
"""
from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def timed(fn, *args, **kwargs):
    """``(result, wall seconds, CPU seconds)`` of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w0, time.process_time() - c0


def median_seconds(fn, repeats, warmup=2):
    """Median wall seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    return statistics.median(timed(fn)[1] for _ in range(repeats))


def interleaved(contenders: dict, repeats: int) -> dict:
    """``{name: [(wall, CPU), ...]}``: every contender once per round, the order rotated each round."""
    names = list(contenders)
    for fn in contenders.values():
        fn()  # warm-up (tracing)
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(timed(contenders[name])[1:])
    return times


def median_ratio(times: dict, a: str, b: str) -> tuple:
    """``(wall, CPU)``: the median over rounds of ``time[a] / time[b]`` within the same round."""
    pairs = np.array([[ta[0] / tb[0], ta[1] / tb[1]] for ta, tb in zip(times[a], times[b])])
    return tuple(np.median(pairs, axis=0))


def fastest(times: dict, name: str) -> tuple:
    """``(wall, CPU)`` of the fastest round."""
    return tuple(np.min(np.array(times[name]), axis=0))


def rate(fn, clients, seconds, max_calls=None) -> float:
    """Calls per second of ``fn(i)`` run by ``clients`` threads for about ``seconds`` seconds."""
    count = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(w):
        i = 0
        while time.perf_counter() < stop and (max_calls is None or count[0] < max_calls):
            fn(w * 1000 + i)
            i += 1
            with lock:
                count[0] += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return count[0] / (time.perf_counter() - t0)


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")
