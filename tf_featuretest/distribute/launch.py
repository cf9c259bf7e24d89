"""Start a command as ``n`` multi-worker processes on this machine, each with its own ``TF_CONFIG``.

``python -m tf_featuretest.distribute.launch -n 2 -- featuretest train --strategy multiworker ...``
picks ``n`` free ports on 127.0.0.1, gives worker ``i`` the cluster of all of them and task index
``i`` in ``TF_CONFIG``, prefixes each output line with ``[worker i]``, and waits. The first worker
that fails (a non-zero exit, a signal) stops the whole group at once: survivors of a killed peer
would otherwise fail only after their collective ops time out (0.2 s for a dead one, about 9 s of
missed heartbeats for a frozen one). ``--timeout`` stops the group too. The exit status is 0 when
every worker succeeded, else the first failure's (124 on timeout).

For tests and single machines; on a cluster, give every host its own ``TF_CONFIG`` (see
``docs/distributed.md``).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

#: Seconds between SIGTERM and SIGKILL when the group is stopped.
GRACE = 3.0
#: Seconds between polls of the workers.
POLL = 0.05
TIMEOUT_STATUS = 124


def free_ports(n: int, host: str = "127.0.0.1") -> list:
    """``n`` distinct ports free on ``host`` now (held open together while they are picked)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def worker_env(index: int, ports, *, host="127.0.0.1", hide_gpus=False, base=None) -> dict:
    """The environment of worker ``index``: ``TF_CONFIG`` naming every worker, GPUs hidden when asked."""
    env = dict(os.environ if base is None else base)
    env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"{host}:{p}" for p in ports]},
                                   "task": {"type": "worker", "index": index}})
    if hide_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _pump(stream, prefix, out):
    for line in iter(stream.readline, ""):
        out.write(f"{prefix}{line}")
        out.flush()
    stream.close()


def stop(procs, grace=GRACE):
    """SIGTERM every process group still running, then SIGKILL what is left after ``grace`` seconds."""
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while any(p.poll() is None for p in alive) and time.monotonic() < deadline:
        time.sleep(POLL)
    for p in alive:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def launch(command, n=2, *, timeout=None, hide_gpus=False, out=None, say=None) -> int:
    """Run ``command`` (a list) as ``n`` workers; the exit status of the group (see the module docstring)."""
    if n < 1:
        raise ValueError(f"-n must be at least 1, got {n}")
    if not command:
        raise ValueError("no command given (put it after --)")
    out = out or sys.stdout
    say = say or (lambda m: print(f"[launch] {m}", file=sys.stderr, flush=True))
    ports = free_ports(n)
    procs, pumps = [], []
    try:
        for i in range(n):
            p = subprocess.Popen(command, env=worker_env(i, ports, hide_gpus=hide_gpus), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1,
                                 start_new_session=True)
            procs.append(p)
            t = threading.Thread(target=_pump, args=(p.stdout, f"[worker {i}] ", out), daemon=True)
            t.start()
            pumps.append(t)
        say(f"{n} workers on 127.0.0.1 ports {', '.join(map(str, ports))}")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            codes = [p.poll() for p in procs]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                i, code = failed[0]
                say(f"worker {i} failed with status {code}; stopping the others")
                return code if code > 0 else 128 - code
            if all(c == 0 for c in codes):
                return 0
            if deadline is not None and time.monotonic() > deadline:
                say(f"timeout after {timeout:g} s; stopping every worker")
                return TIMEOUT_STATUS
            time.sleep(POLL)
    finally:
        stop(procs)
        for t in pumps:
            t.join(timeout=GRACE)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tf_featuretest.distribute.launch",
                                     description="Run a command as N multi-worker processes on 127.0.0.1.")
    parser.add_argument("-n", "--workers", type=int, default=2, help="number of workers (default 2)")
    parser.add_argument("--timeout", type=float, default=None, help="stop every worker after this many seconds")
    parser.add_argument("--hide-gpus", action="store_true", help="set CUDA_VISIBLE_DEVICES='' for every worker")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command every worker runs")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        return launch(command, args.workers, timeout=args.timeout, hide_gpus=args.hide_gpus)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    def _terminate(signum, frame):
        raise SystemExit(128 + signum)  # runs launch()'s finally: the workers are stopped

    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
