"""The HTTP service through FastAPI's TestClient, on a real export of the digits CNN."""
import base64
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from serve_helpers import make_export, png


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, digits, digits_cnn):
    x, y = digits["train"]
    xs, ys = digits["test"]
    return make_export(digits_cnn, x, y, tmp_path_factory.mktemp("exports"), samples=(xs[:12], ys[:12]))


@pytest.fixture(scope="module")
def backend(export_dir):
    from tf_featuretest.serve.backend import ExportBackend

    return ExportBackend(export_dir)


@pytest.fixture(scope="module")
def reports_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    for name, mtime in (("old", 1_000_000), ("new", 2_000_000)):
        os.makedirs(root / name)
        (root / name / "index.html").write_text(f"<html><body>report {name}</body></html>")
        (root / name / "results.json").write_text(json.dumps({"run": name}))
        os.utime(root / name / "index.html", (mtime, mtime))
    return str(root)


@pytest.fixture(scope="module")
def client(backend, reports_dir):
    from fastapi.testclient import TestClient

    from tf_featuretest.serve.app import create_app
    from tf_featuretest.serve.images import UploadLimits

    app = create_app(backend=backend, reports_dir=reports_dir, api_key=None,
                     limits=UploadLimits(max_bytes=200_000, max_side=512, max_pixels=300 * 300))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def sample(digits, digits_cnn):
    """A correctly classified test 3 and its PNG bytes."""
    x, y = digits["test"]
    pred = np.argmax(np.asarray(digits_cnn(x[:64])), axis=1)
    i = int(np.flatnonzero((y[:64] == 3) & (pred == 3))[0])
    return x[i], png(x[i])


def test_healthz_and_labels(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["pipeline"] == "digits"
    info = client.get("/v1/labels").json()
    assert info["labels"] == [str(i) for i in range(10)]
    assert info["image_shape"] == [32, 32, 1]
    assert info["methods"] == ["perceptual", "cw", "ddn", "feature_space", "pgd", "fgsm"]
    assert info["default_method"] == "perceptual" and info["minimal_methods"] == ["perceptual", "cw", "ddn"]
    assert info["judge"] == ["cnn", "wide_cnn", "knn"] and info["samples"] == 12


def test_samples_are_the_exported_test_images(client, digits):
    xs, ys = digits["test"]
    items = client.get("/v1/samples").json()["samples"]
    assert [it["label"] for it in items] == [str(v) for v in ys[:12]]
    for it, img in zip(items, xs[:12]):
        raw = base64.b64decode(it["png"].split(",", 1)[1])
        back = np.asarray(Image.open(io.BytesIO(raw)), np.float32) / 255.0
        assert np.abs(back - img[..., 0]).max() <= 0.5 / 255 + 1e-6


def test_default_attack_is_a_judged_look_alike(client, backend, sample):
    x, data = sample
    r = client.post("/v1/attack?format=json", files={"file": ("d.png", data, "image/png")}, data={"target": "8"})
    assert r.status_code == 200
    body = r.json()
    assert body["method"] == "perceptual" and body["eps"] == 1.0
    assert body["success"] and body["predicted_label"] == "8"
    j = body["judge"]
    assert j["label"] == "3" and j["verdict"] in ("kept", "changed", "ambiguous")
    assert [m["name"] for m in j["members"]] == ["cnn", "wide_cnn", "knn"]
    # the verdict follows the committee's rule on the members' answers
    sure = [m["confidence"] >= backend.judge.agree for m in j["members"]]
    kept = all(m["label"] == "3" and ok for m, ok in zip(j["members"], sure))
    assert (j["verdict"] == "kept") == kept
    # the committee sees the unchanged 3 as a 3
    assert backend.verdict(np.round(x[None] * 255) / 255, [3])[0]["verdict"] == "kept"


def test_predict_matches_model(client, digits, digits_cnn):
    x, _ = digits["test"]
    for img in x[:5]:
        # the PNG round trip quantises to 1/255, so compare with the model on the quantised image
        q = np.round(img * 255) / 255
        want = int(np.argmax(np.asarray(digits_cnn(q[None]))[0]))
        r = client.post("/v1/predict?k=3", files={"file": ("d.png", png(img), "image/png")})
        assert r.status_code == 200
        body = r.json()
        assert body["index"] == want and body["label"] == str(want)
        probs = [t["probability"] for t in body["top_k"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-5


def test_predict_resizes_and_converts_rgb(client, sample):
    x, _ = sample
    big = np.repeat(np.repeat(x, 3, 0), 3, 1)
    rgb = Image.fromarray(np.round(np.repeat(big, 3, -1) * 255).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=95)
    r = client.post("/v1/predict", files={"file": ("d.jpg", buf.getvalue(), "image/jpeg")})
    assert r.status_code == 200 and r.json()["label"] == "3"


def test_attack_png_with_headers(client, sample):
    x, data = sample
    r = client.post("/v1/attack", files={"file": ("d.png", data, "image/png")},
                    data={"target": "8", "method": "feature_space", "eps": "0.2"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    out = np.asarray(Image.open(io.BytesIO(r.content)), np.float32) / 255.0
    assert out.shape == (32, 32)
    assert float(r.headers["X-Linf"]) <= 0.2 + 1e-5
    assert np.abs(out - np.round(x[..., 0] * 255) / 255).max() <= 0.2 + 1.5 / 255
    assert 0.0 < float(r.headers["X-SSIM"]) <= 1.0
    assert r.headers["X-Target"] == "8" and r.headers["X-Original-Label"] == "3"
    assert r.headers["X-Success"] == str(r.headers["X-Predicted-Label"] == "8").lower()


@pytest.mark.parametrize("method", ["perceptual", "cw", "ddn", "feature_space", "pgd", "fgsm"])
def test_attack_json_every_method(client, sample, method):
    _, data = sample
    minimal = method in ("perceptual", "cw", "ddn")
    # the minimal-change methods search freely (eps = 1: no cap); the others spend an L-inf budget of 0.3
    r = client.post("/v1/attack?format=json", files={"file": ("d.png", data, "image/png")},
                    data={"target": "8", "method": method, "eps": "1" if minimal else "0.3"})
    assert r.status_code == 200
    body = r.json()
    assert body["method"] == method and body["target"] == "8"
    assert 0.0 < body["ssim"] <= 1.0 and (minimal or body["linf"] <= 0.3 + 1e-5)
    assert body["predicted_label"] == body["adversarial_prediction"]["label"]
    assert body["original_prediction"]["label"] == "3"
    for key in ("original_png", "adversarial_png", "perturbation_png"):
        assert body[key].startswith("data:image/png;base64,")
    if method != "fgsm":
        assert body["success"] and body["predicted_label"] == "8"
    if minimal:  # a cap bounds the change, reached or not
        r = client.post("/v1/attack?format=json", files={"file": ("d.png", data, "image/png")},
                        data={"target": "8", "method": method, "eps": "0.1"})
        assert r.status_code == 200 and r.json()["linf"] <= 0.1 + 1e-5


def test_upload_limits_and_formats(client, sample):
    _, data = sample
    # 413: more bytes than the limit (declared length and actual body)
    noise = np.random.default_rng(0).integers(0, 256, (260, 260), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="BMP")
    r = client.post("/v1/predict", files={"file": ("n.bmp", buf.getvalue() * 4, "image/bmp")})
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    # 413: a small file announcing too many pixels (the decompression-bomb cap)
    buf = io.BytesIO()
    Image.new("L", (600, 20)).save(buf, format="PNG")
    r = client.post("/v1/predict", files={"file": ("wide.png", buf.getvalue(), "image/png")})
    assert r.status_code == 413 and "600x20" in r.json()["detail"]
    # 415: not an image, and an image format that is not accepted
    r = client.post("/v1/predict", files={"file": ("a.txt", b"hello, not an image", "text/plain")})
    assert r.status_code == 415
    buf = io.BytesIO()
    Image.new("L", (32, 32)).save(buf, format="TIFF")
    r = client.post("/v1/predict", files={"file": ("a.tif", buf.getvalue(), "image/tiff")})
    assert r.status_code == 415 and "TIFF" in r.json()["detail"]
    # a missing file is FastAPI's 422
    assert client.post("/v1/predict").status_code == 422


def test_bad_label_method_and_eps(client, sample):
    _, data = sample
    r = client.post("/v1/attack", files={"file": ("d.png", data, "image/png")}, data={"target": "eleven"})
    assert r.status_code == 422
    assert "'eleven'" in r.json()["detail"] and "0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in r.json()["detail"]
    r = client.post("/v1/attack", files={"file": ("d.png", data, "image/png")},
                    data={"target": "8", "method": "deepfool"})
    assert r.status_code == 422 and "deepfool" in r.json()["detail"] and "feature_space" in r.json()["detail"]
    r = client.post("/v1/attack", files={"file": ("d.png", data, "image/png")}, data={"target": "8", "eps": "1.5"})
    assert r.status_code == 422 and "1.5" in r.json()["detail"]


def test_api_key(backend, sample, monkeypatch):
    from fastapi.testclient import TestClient

    from tf_featuretest.serve.app import create_app

    monkeypatch.setenv("FEATURETEST_API_KEY", "s3cret")
    _, data = sample
    with TestClient(create_app(backend=backend)) as c:
        assert c.get("/healthz").status_code == 200
        for path in ("/v1/labels", "/openapi.json", "/docs"):
            assert c.get(path).status_code == 401
        assert c.get("/v1/labels", headers={"X-API-Key": "wrong"}).status_code == 401
        r = c.post("/v1/predict", files={"file": ("d.png", data, "image/png")})
        assert r.status_code == 401
        r = c.post("/v1/attack", files={"file": ("d.png", data, "image/png")}, data={"target": "8"})
        assert r.status_code == 401
        assert c.get("/v1/labels", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        c.cookies.set("featuretest_api_key", "s3cret")
        r = c.post("/v1/predict", files={"file": ("d.png", data, "image/png")})
        assert r.status_code == 200 and r.json()["label"] == "3"


def test_concurrent_requests_no_5xx(client, digits):
    x, _ = digits["test"]
    payloads = [png(img) for img in x[:32]]

    def call(i):
        if i % 8 == 7:
            return client.post("/v1/attack", files={"file": ("d.png", payloads[i], "image/png")},
                               data={"target": "1", "method": "fgsm", "eps": "0.1"}).status_code
        return client.post("/v1/predict", files={"file": ("d.png", payloads[i], "image/png")}).status_code

    with ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(call, range(32)))
    assert codes == [200] * 32


def test_pages_docs_and_report(client):
    page = client.get("/")
    assert page.status_code == 200 and "Make look-alike" in page.text
    assert client.get("/static/app.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/attack", "/v1/labels", "/healthz"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200
    info = client.get("/v1/report").json()
    assert info["results"] == {"run": "new"}
    assert "report new" in client.get("/report/").text
    assert client.get("/report/results.json").json() == {"run": "new"}
    assert client.get("/report/../old/index.html").status_code == 404


def test_no_report_is_404(backend):
    from fastapi.testclient import TestClient

    from tf_featuretest.serve.app import create_app

    with TestClient(create_app(backend=backend, api_key=None)) as c:
        assert c.get("/v1/report").status_code == 404
        assert c.get("/report/").status_code == 404


def test_missing_models_dir_is_a_clear_error(tmp_path):
    from tf_featuretest.errors import ModelError
    from tf_featuretest.serve.app import create_app

    with pytest.raises(ModelError, match="no exported classifier"):
        create_app(str(tmp_path))


def test_cli_serve_refuses_a_missing_models_folder(tmp_path):
    from click.testing import CliRunner

    from tf_featuretest.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--models", str(tmp_path / "nope"), "--port", "0"])
    assert result.exit_code == 2
    assert "models folder not found" in result.output and "nope" in result.output
