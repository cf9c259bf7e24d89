"""Hostile requests against a real ``featuretest serve`` process: status codes, and the server's memory and disk.

The table of the faults issue: a 75 KB PNG that decodes to 4096x4096 RGBA (32 at once), a 500 MB
chunked body, class names outside Latin-1 in the ``X-*`` headers of ``/v1/attack``, odd report
paths and ``/v1/report`` without server paths or tracebacks. The server's peak resident memory
(``VmHWM``) and the size of its temporary folder are read from outside while it runs.
"""
import io
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import httpx
import keras
import numpy as np
import pytest
from PIL import Image

from tf_featuretest.export import export_attacks, export_classifier
from tf_featuretest.models import build_classifier

LABELS = ["zéro", "один", "二", "три", "četiri", "五", "six", "セブン", "восемь", "九"]
BOUNDARY = "hostileboundary"


def _png(arr, mode):
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _status(pid) -> dict:
    with open(f"/proc/{pid}/status") as fh:
        return {k: int(v.split()[0]) // 1024 for k, v in (ln.split(":", 1) for ln in fh) if k in ("VmRSS", "VmHWM")}


def _folder_bytes(path) -> int:
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass
    return total


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    keras.utils.set_random_seed(0)
    model = build_classifier("small_cnn", 10, (32, 32, 1))
    export_classifier(model, str(root / "sm"), "digits", class_names=LABELS)
    export_attacks(model, str(root / "sm"), "digits", class_names=LABELS)
    report = root / "reports" / "digits"
    report.mkdir(parents=True)
    (report / "index.html").write_text("<html><body>report</body></html>")
    secret = str(root / "private" / "data")
    (report / "results.json").write_text(json.dumps({
        "pipeline": "digits", "config": {"data": {"source": f"folder:{secret}"}, "source_file": f"{secret}/p.toml"},
        "errors": {"noise": f'Traceback (most recent call last):\n  File "{secret}/x.py", line 1\nValueError: bad'},
        "stages": [{"name": "noise", "status": "failed", "error": f"DataError: {secret}/cat/1.png: unreadable"}]}))
    temp = root / "tmp"
    temp.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, FEATURETEST_API_KEY="", TMPDIR=str(temp), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "-m", "tf_featuretest", "serve", "--models", str(root / "sm" / "digits"),
                             "--reports", str(root / "reports"), "--port", str(port), "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            assert time.time() < deadline, "the server did not start"
            time.sleep(0.5)
    small = _png(np.zeros((32, 32), np.uint8), "L")
    assert httpx.post(base + "/v1/predict", files={"file": ("d.png", small, "image/png")}, timeout=60).status_code == 200
    yield {"base": base, "port": port, "pid": proc.pid, "temp": temp, "root": root, "small": small,
           "rss_mb": _status(proc.pid)["VmRSS"]}
    proc.terminate()
    proc.wait(timeout=60)


def test_a_small_png_that_decodes_to_4096x4096_rgba_is_refused_without_the_memory(server):
    """Issue item 3: 32 clients sending this 75 KB file drove the server to a 7.8 GB peak."""
    bomb = _png(np.zeros((4096, 4096, 4), np.uint8), "RGBA")
    assert len(bomb) < 200_000

    def send(_):
        return httpx.post(server["base"] + "/v1/predict", files={"file": ("b.png", bomb, "image/png")},
                          timeout=120).status_code

    with ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(send, range(32)))
    assert codes == [413] * 32
    grew = _status(server["pid"])["VmHWM"] - server["rss_mb"]
    assert grew < 300, f"peak memory grew by {grew} MB"


def test_a_500_mb_chunked_body_is_cut_off_at_the_limit(server):
    """Issue item 5: a chunked body passed the size guard and was spooled to a 490 MB temporary file."""
    peak = {"disk": 0}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak["disk"] = max(peak["disk"], _folder_bytes(server["temp"]))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n").encode()
    part = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()
    block = b"\0" * (1 << 20)
    frame = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=20) as sock:
        sock.sendall(head + f"{len(part):x}\r\n".encode() + part + b"\r\n")
        while sent < 500 << 20:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += len(block)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    stop.set()
    watcher.join()
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert sent < 64 << 20  # the server answered long before the body ended
    assert peak["disk"] < 8 << 20, f"{peak['disk']} bytes spooled"
    grew = _status(server["pid"])["VmHWM"] - server["rss_mb"]
    assert grew < 300, f"peak memory grew by {grew} MB"


def test_a_declared_60_mb_body_is_refused_at_once(server):
    body = b"\0" * (60 << 20)
    r = httpx.post(server["base"] + "/v1/predict", content=body,
                   headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}, timeout=120)
    assert r.status_code == 413 and "limit" in r.json()["detail"]


@pytest.mark.parametrize("target", ["один", "二", "セブン", "zéro", "3"])
def test_attack_headers_carry_names_outside_latin_1(server, target):
    """Issue item 6: `/v1/attack` PNG replies were 500 for class names outside Latin-1."""
    r = httpx.post(server["base"] + "/v1/attack", files={"file": ("d.png", server["small"], "image/png")},
                   data={"target": target, "method": "fgsm", "eps": "0.1"}, timeout=120)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    for key, value in r.headers.raw:
        assert all(32 <= b < 127 for b in value), (key, value)
    want = target if not target.isdigit() else LABELS[int(target)]
    assert unquote(r.headers["X-Target"]) == want
    assert unquote(r.headers["X-Predicted-Label"]) in LABELS and unquote(r.headers["X-Original-Label"]) in LABELS


@pytest.mark.parametrize("path", ["/report/%00", "/report/a%00b.html", "/report/%ff%fe.html", "/report/" + "a" * 5000,
                                  "/report/../../etc/passwd", "/report/%2e%2e/%2e%2e/etc/passwd"])
def test_odd_report_paths_are_404(server, path):
    """Issue item 11: `/report/%00` was a 500."""
    r = httpx.get(server["base"] + path, timeout=30)
    assert r.status_code == 404
    assert str(server["root"]) not in r.text


def test_report_info_has_no_server_paths_or_tracebacks(server):
    """Issue item 11: `/v1/report` returned absolute server paths and stage tracebacks."""
    r = httpx.get(server["base"] + "/v1/report", timeout=30)
    assert r.status_code == 200
    text = r.text
    assert "Traceback" not in text and str(server["root"]) not in text and "/private/" not in text
    body = r.json()
    assert body["url"] == "/report/" and body["report"] == "digits"
    assert body["results"]["stages"][0]["error"] == "DataError: 1.png: unreadable"
    assert body["results"]["config"]["data"]["source"] == "folder:data"
    assert httpx.get(server["base"] + "/report/", timeout=30).status_code == 200
