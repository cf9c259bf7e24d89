"""Throughput of the HTTP service against calling the same exported model in process.

Measures requests/s for ``POST /v1/predict`` and ``POST /v1/attack`` with 1 and 16 concurrent
clients over loopback (``featuretest serve`` in a subprocess, keep-alive http.client clients in threads), and the
same work done in process through :class:`tf_featuretest.serve.backend.ExportBackend` with the
same number of threads. The overhead ratio is in-process req/s divided by service req/s
(target: <= 1.3 for predict at 16 clients; the service batches concurrent predictions).

"Predict latency while attacks run" (``--parts contention``): the median latency of one client's
``POST /v1/predict`` calls, first on an idle server, then while 8 clients keep sending
``POST /v1/attack`` (the page's default method); idle and loaded rounds alternate and the ratio is
loaded p50 / idle p50 (target: <= 2x on 2 cores; attacks run on their own worker thread, so a
queue of attacks never holds a prediction back).

Usage::

    python benchmarks/service.py [--models saved_models/digits] [--seconds 4] [--parts throughput,contention]
                                 [--attack-clients 8] [--rounds 2] [--out bench.json]

Without ``--models`` it trains the small digits CNN for a few epochs and exports it to a temporary
folder first.
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from _harness import rate  # noqa: E402
from PIL import Image  # noqa: E402


def build_export(root):
    import keras
    import tensorflow as tf

    from tf_featuretest.attacks.feature_space import class_centroids
    from tf_featuretest.data import load_arrays
    from tf_featuretest.export import export_attacks, export_classifier
    from tf_featuretest.models import build_classifier, compile_classifier

    keras.utils.set_random_seed(0)
    x, y, info = load_arrays("digits", "train")
    model = build_classifier("small_cnn", 10, x.shape[1:])
    compile_classifier(model, learning_rate=2e-3)
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=0).batch(64), epochs=4, verbose=0)
    names = [str(n) for n in info.class_names]
    export_classifier(model, root, "digits", class_names=names)
    export_attacks(model, root, "digits", class_names=names, centroids=class_centroids(model, x, y))
    return os.path.join(root, "digits")


def png_bytes(img):
    buf = io.BytesIO()
    Image.fromarray(np.round(img[..., 0] * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def latencies(fn, seconds, min_calls=20) -> list:
    """Wall seconds of sequential ``fn(i)`` calls for about ``seconds`` seconds (at least ``min_calls``)."""
    out, stop, i = [], time.perf_counter() + seconds, 0
    while time.perf_counter() < stop or len(out) < min_calls:
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
        i += 1
    return out


def contention(predict, attack, seconds, attack_clients=8, rounds=2) -> dict:
    """Predict latency on an idle server and while ``attack_clients`` threads keep attacking, in alternating rounds."""
    idle, loaded, ratios, attacks, lock = [], [], [], [0], threading.Lock()
    for _ in range(rounds):
        quiet = latencies(predict, seconds)
        stop = threading.Event()

        def attacker(w, stop):
            i = w * 100000
            while not stop.is_set():
                attack(i)
                i += 1
                with lock:
                    attacks[0] += 1

        threads = [threading.Thread(target=attacker, args=(w, stop)) for w in range(attack_clients)]
        for t in threads:
            t.start()
        time.sleep(1.0)  # every attack client has a request in flight
        before, t0 = attacks[0], time.perf_counter()
        busy = latencies(predict, seconds)
        rate_now = (attacks[0] - before) / (time.perf_counter() - t0)
        stop.set()
        for t in threads:
            t.join()
        idle += quiet
        loaded += busy
        ratios.append(float(np.median(busy) / np.median(quiet)))
        attacks.append(rate_now)
    ms = 1e3
    return {"predict_p50_idle_ms": float(np.median(idle)) * ms, "predict_p50_loaded_ms": float(np.median(loaded)) * ms,
            "predict_p90_idle_ms": float(np.percentile(idle, 90)) * ms,
            "predict_p90_loaded_ms": float(np.percentile(loaded, 90)) * ms,
            "predict_p50_ratio": float(np.median(loaded) / np.median(idle)), "predict_p50_ratio_rounds": ratios,
            "predict_calls_idle": len(idle), "predict_calls_loaded": len(loaded),
            "attacks_per_s": float(np.mean(attacks[1:])), "attack_clients": attack_clients}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None)
    ap.add_argument("--seconds", type=float, default=4.0, help="seconds per measurement")
    ap.add_argument("--attack-eps", type=float, default=0.1)
    ap.add_argument("--parts", default="throughput,contention", help="throughput and/or contention")
    ap.add_argument("--attack-clients", type=int, default=8, help="attack clients of the contention part")
    ap.add_argument("--rounds", type=int, default=2, help="idle/loaded round pairs of the contention part")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}

    from tf_featuretest.data import load_arrays
    from tf_featuretest.serve.backend import ExportBackend
    from tf_featuretest.serve.images import decode_upload

    tmp = tempfile.mkdtemp(prefix="featuretest-bench-")
    models = args.models or build_export(tmp)
    x, _, _ = load_arrays("digits", "test")
    payloads = [png_bytes(img) for img in x[:64]]
    targets = [str(i % 10) for i in range(64)]

    backend = ExportBackend(models)
    shape = backend.image_shape
    results = {}

    # in process: decode the same PNG and call the exported model, one image per call
    def local_predict(i):
        backend.predict(decode_upload(payloads[i % 64], shape)[None])

    def local_attack(i):
        backend.attack(decode_upload(payloads[i % 64], shape), targets[i % 64], eps=args.attack_eps)

    local_predict(0), local_attack(0)
    for clients in (1, 16) if "throughput" in parts else ():
        results[f"inprocess_predict_{clients}"] = rate(local_predict, clients, args.seconds)
        results[f"inprocess_attack_{clients}"] = rate(local_attack, clients, args.seconds)
    backend.close() if hasattr(backend, "close") else None  # the service below loads its own copy

    import httpx

    port = free_port()
    env = dict(os.environ, FEATURETEST_API_KEY="")
    server = subprocess.Popen([sys.executable, "-m", "tf_featuretest", "serve", "--models", models, "--host",
                               "127.0.0.1", "--port", str(port), "--quiet"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            if server.poll() is not None:
                raise SystemExit(f"server exited: {server.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError as exc:
                if time.time() > deadline:
                    raise SystemExit("server did not start within 180 s") from exc
                time.sleep(0.5)
        # a light keep-alive client per thread (http.client, body encoded once) so that the
        # client's own CPU use on this shared loopback machine stays small
        local = threading.local()
        boundary = "featuretestbench"

        def multipart(i, fields):
            parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                     for k, v in fields.items()]
            parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.png\"\r\n"
                         "Content-Type: image/png\r\n\r\n".encode() + payloads[i % 64] + b"\r\n")
            return b"".join(parts) + f"--{boundary}--\r\n".encode()

        predict_bodies = [multipart(i, {}) for i in range(64)]
        attack_bodies = [multipart(i, {"target": targets[i], "eps": args.attack_eps}) for i in range(64)]

        def post(path, body):
            if not hasattr(local, "conn"):
                local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            local.conn.request("POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
            resp = local.conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise SystemExit(f"{path} answered {resp.status}")

        def remote_predict(i):
            post("/v1/predict", predict_bodies[i % 64])

        def remote_attack(i):
            post("/v1/attack", attack_bodies[i % 64])

        remote_predict(0), remote_attack(0)
        for clients in (1, 16) if "throughput" in parts else ():
            results[f"service_predict_{clients}"] = rate(remote_predict, clients, args.seconds)
            results[f"service_attack_{clients}"] = rate(remote_attack, clients, args.seconds)
        if "contention" in parts:
            results.update(contention(remote_predict, remote_attack, args.seconds, args.attack_clients, args.rounds))
    finally:
        server.terminate()
        server.wait(timeout=30)

    if "throughput" in parts:
        print(f"{'endpoint':<10}{'clients':>8}{'in-process/s':>14}{'service/s':>11}{'overhead':>10}")
        for kind in ("predict", "attack"):
            for clients in (1, 16):
                local = results[f"inprocess_{kind}_{clients}"]
                remote = results[f"service_{kind}_{clients}"]
                results[f"overhead_{kind}_{clients}"] = local / remote
                print(f"{kind:<10}{clients:>8}{local:>14.1f}{remote:>11.1f}{local / remote:>9.2f}x")
        ok = results["overhead_predict_16"] <= 1.3
        print(f"predict overhead at 16 clients: {results['overhead_predict_16']:.2f}x "
              f"({'meets' if ok else 'misses'} the 1.3x target)")
    if "contention" in parts:
        print(f"predict latency while {args.attack_clients} clients attack: p50 idle "
              f"{results['predict_p50_idle_ms']:.1f} ms, loaded {results['predict_p50_loaded_ms']:.1f} ms "
              f"(p90 {results['predict_p90_idle_ms']:.1f} / {results['predict_p90_loaded_ms']:.1f} ms), "
              f"{results['attacks_per_s']:.2f} attacks/s")
        rounds = ", ".join(f"{r:.2f}x" for r in results["predict_p50_ratio_rounds"])
        ok = results["predict_p50_ratio"] <= 2.0
        print(f"predict p50 ratio loaded/idle: {results['predict_p50_ratio']:.2f}x (rounds: {rounds}; "
              f"{'meets' if ok else 'misses'} the 2x target)")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return results


if __name__ == "__main__":
    main()
