"""Every bad input of the issue's items 7 and 8: one ``error:`` line, exit 2, before any training or evaluation.

``keras.Model.fit`` and ``Model.predict`` are replaced by functions that fail the test, so a check
that comes only after training (or after evaluating everything) shows up as a failure here.
"""
import os

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tf_featuretest.cli import cli
from tf_featuretest.models import build_classifier, save_model_atomic

MINI = """
name = "{name}"
[data]
source = "digits"
image_size = [16, 16]
[[classifiers]]
name = "cnn"
epochs = 1
{classifier}
{extra}
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input")
    out = {}
    rgb = build_classifier("small_cnn", 10, (32, 32, 3))
    out["rgb"] = save_model_atomic(rgb, str(root / "rgb.keras"))
    nan = build_classifier("small_cnn", 10, (32, 32, 1))
    nan.set_weights([np.full_like(w, np.nan) for w in nan.get_weights()])
    out["nan"] = save_model_atomic(nan, str(root / "nan.keras"))
    out["gray"] = save_model_atomic(build_classifier("small_cnn", 10, (32, 32, 1)), str(root / "gray.keras"))
    (root / "text.keras").write_text("hello, not a model")
    out["text"] = str(root / "text.keras")
    with open(out["gray"], "rb") as fh:
        (root / "cut.keras").write_bytes(fh.read()[:3000])
    out["cut"] = str(root / "cut.keras")
    folder = root / "images"
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (folder / name).mkdir(parents=True)
        for i in range(10):
            if name == "cat":
                Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / name / f"{i}.png")
            else:  # every file of this class is unreadable
                (folder / name / f"{i}.png").write_bytes(b"not a png")
    out["folder"] = str(folder)
    return out


@pytest.fixture
def no_training(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("training or evaluation started before the bad input was refused")

    monkeypatch.setattr(keras.Model, "fit", refuse)
    monkeypatch.setattr(keras.Model, "evaluate", refuse)
    monkeypatch.chdir(tmp_path)


def _config(tmp_path, name="mini", classifier="", extra=""):
    path = tmp_path / "bad.toml"
    path.write_text(MINI.format(name=name, classifier=classifier, extra=extra))
    return str(path)


CASES = [
    # item 7: a 3-channel model on 1-channel data
    ("evaluate rgb model", lambda f, t: ["evaluate", "--model", f["rgb"]], "3 channels"),
    ("attack rgb model", lambda f, t: ["attack", "--model", f["rgb"], "--attack", "fgsm", "--eps", "0.1"], "3 channels"),
    ("export rgb model", lambda f, t: ["export", "--model", f["rgb"], "--data", "digits", "--root", str(t / "sm")],
     "3 channel"),
    ("eps = ['a']", lambda f, t: ["run", _config(t, extra='[attacks]\neps = ["a"]')], "attacks.eps[0]"),
    # item 8
    ("learning_rate = -1", lambda f, t: ["run", _config(t, classifier="learning_rate = -1")], "learning_rate"),
    ("max_examples = -5", lambda f, t: ["run", _config(t, extra="[attacks]\nmax_examples = -5")], "max_examples"),
    ("lookalike.eps = 5.0", lambda f, t: ["run", _config(t, extra="[lookalike]\neps = 5.0")], "lookalike.eps"),
    ("radius = banana", lambda f, t: ["run", _config(t, extra='[feature]\nradius = "banana"')], "banana"),
    ("attack --eps 5", lambda f, t: ["attack", "--model", f["gray"], "--attack", "fgsm", "--eps", "5"], "--eps"),
    ("attack NaN model", lambda f, t: ["attack", "--model", f["nan"], "--attack", "fgsm", "--eps", "0.1"], "NaN"),
    ("export NaN model", lambda f, t: ["export", "--model", f["nan"], "--root", str(t / "sm")], "NaN"),
    ("evaluate NaN model", lambda f, t: ["evaluate", "--model", f["nan"]], "NaN"),
    ("class all unreadable", lambda f, t: ["train", "--data", f"folder:{f['folder']}", "--epochs", "1",
                                           "--out", str(t / "m.keras")], "'dog'"),
    ("train --out x.h5", lambda f, t: ["train", "--epochs", "1", "--out", str(t / "x.h5")], "x.h5"),
    ("generative --out x.h5", lambda f, t: ["train-generative", "--kind", "vae", "--out", str(t / "x.h5")], "x.h5"),
    ("testgen --radius banana", lambda f, t: ["testgen", "--model", f["gray"], "--radius", "banana"], "banana"),
    ("not a model", lambda f, t: ["evaluate", "--model", f["text"]], "is not a Keras model file"),
    ("truncated model", lambda f, t: ["evaluate", "--model", f["cut"]], "truncated"),
    # item 4: the pipeline name must not leave the output folders
    ("name ../../../escaped", lambda f, t: ["run", _config(t, name="../../../escaped")], "name"),
    ("name /abs/path", lambda f, t: ["run", _config(t, name=str(t / "abs"))], "name"),
]


@pytest.mark.parametrize("what, args, needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_with_exit_2(files, tmp_path, no_training, what, args, needle):
    before = sorted(os.listdir(tmp_path.parent))
    res = CliRunner().invoke(cli, args(files, tmp_path))
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert res.exit_code == 2, (what, res.output[-2000:], res.exception)
    assert len(errors) == 1 and needle in errors[0], (what, res.output[-2000:])
    assert "Traceback" not in res.output
    assert "File not found" not in errors[0]
    assert sorted(os.listdir(tmp_path.parent)) == before  # nothing written beside the test's own folder
    assert not os.path.exists(tmp_path / "abs")
