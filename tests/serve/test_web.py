"""The web page in a real browser: Debian's headless Chromium driven by Playwright, against
``featuretest serve`` on 127.0.0.1. Saves a screenshot to ``test-artifacts/``."""
import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from serve_helpers import make_export, png

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test-artifacts")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, digits, digits_cnn):
    x, y = digits["train"]
    xs, ys = digits["test"]
    first = [int(np.flatnonzero(ys == c)[0]) for c in range(10)]  # one test image per class, as the strip shows
    models = make_export(digits_cnn, x, y, tmp_path_factory.mktemp("web_exports"), samples=(xs[first], ys[first]))
    port = free_port()
    env = dict(os.environ, FEATURETEST_API_KEY="")
    proc = subprocess.Popen([sys.executable, "-m", "tf_featuretest", "serve", "--models", models,
                             "--host", "127.0.0.1", "--port", str(port), "--quiet"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    up = False
    while time.time() < deadline and proc.poll() is None and not up:
        with socket.socket() as s:
            up = s.connect_ex(("127.0.0.1", port)) == 0
        time.sleep(0.3)
    assert up, f"featuretest serve did not start: {proc.stderr.read().decode()[-2000:] if proc.poll() else 'timeout'}"
    assert httpx.get(base + "/healthz").status_code == 200
    yield base
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def three_png(tmp_path_factory, digits, digits_cnn):
    x, y = digits["test"]
    pred = np.argmax(np.asarray(digits_cnn(x[:64])), axis=1)
    i = int(np.flatnonzero((y[:64] == 3) & (pred == 3))[0])
    path = tmp_path_factory.mktemp("web_upload") / "three.png"
    path.write_bytes(png(x[i]))
    return str(path)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed (.ci/run installs it)")
def test_turn_a_three_into_an_eight(server, three_png):
    from playwright.sync_api import sync_playwright

    os.makedirs(ARTIFACTS, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1000, "height": 760})
        page.goto(server + "/")
        page.wait_for_function("document.querySelectorAll('#target option').length === 10")
        page.set_input_files("#file", three_png)
        page.wait_for_function("document.getElementById('pred-original').textContent.includes('3')")
        page.select_option("#target", "8")
        page.select_option("#method", "feature_space")
        page.fill("#eps", "0.2")
        page.click("#run")
        page.wait_for_function("document.getElementById('result-label').textContent !== ''", timeout=120_000)
        label = page.text_content("#result-label")
        ssim = float(page.text_content("#ssim"))
        linf = float(page.text_content("#linf"))
        page.screenshot(path=os.path.join(ARTIFACTS, "web_attack.png"), full_page=True)
        assert page.get_attribute("#img-result", "src").startswith("data:image/png")
        assert page.get_attribute("#img-perturbation", "src").startswith("data:image/png")
        # the report tab without --reports says so instead of failing silently
        page.click("#tab-report")
        page.wait_for_function("document.getElementById('report-status').textContent.includes('404')")
        browser.close()
    assert label == "8"
    assert linf <= 0.2 + 1e-4 and 0.0 < ssim <= 1.0


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed (.ci/run installs it)")
def test_strip_and_default_method_make_a_look_alike(server):
    """No broken images before anything is chosen; a test image from the strip and the default method
    turn a 3 into an 8, with SSIM and the committee's verdict shown."""
    from playwright.sync_api import sync_playwright

    os.makedirs(ARTIFACTS, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(server + "/")
        page.wait_for_function("document.querySelectorAll('#samples button').length === 10")
        broken = page.evaluate("[...document.querySelectorAll('img')].filter(i => i.offsetParent !== null && "
                               "(!i.getAttribute('src') || (i.complete && i.naturalWidth === 0))).length")
        assert broken == 0
        assert page.input_value("#method") == "perceptual" and page.input_value("#eps") == "1"
        page.click("#samples button[data-label='3']")
        page.wait_for_function("document.getElementById('pred-original').textContent.includes('model: 3')")
        assert page.input_value("#target") == "4"  # the next label, never the image's own
        page.select_option("#target", "8")
        page.click("#run")
        page.wait_for_function("document.getElementById('result-label').textContent !== ''", timeout=120_000)
        label = page.text_content("#result-label")
        judge = page.text_content("#judge")
        ssim = float(page.text_content("#ssim"))
        page.screenshot(path=os.path.join(ARTIFACTS, "web_lookalike.png"), full_page=True)
        browser.close()
    assert label == "8"
    assert judge.startswith(("yes: the label committee still sees 3", "no:", "unsure:")), judge
    assert 0.0 < ssim <= 1.0
