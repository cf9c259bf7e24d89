"""A user's own data and model through the reduced pipeline: class-sorted folders, grayscale and RGB, and a
tutorial-style Keras model with Rescaling(1/255) and a softmax.

The folders hold the digits written class by class (``train/0/*.png`` ... ``test/9/*.png``), the layout
where "the first N images" are one or two classes. The references are independent: scikit-learn's
stratified split for the subsets, PIL for the files' modes, Keras's own ``evaluate`` for the model.
"""
import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.model_selection import train_test_split

from tf_featuretest.cli import cli
from tf_featuretest.data import load_arrays

CONFIG = """
name = "{name}"
seed = 0
[data]
source = "folder:{root}"
batch_size = 64
{data_extra}
{classifiers}
[attacks]
eps = [0.0, 0.1]
pgd_steps = 2
max_examples = 200
one_pixel_images = 2
one_pixel_population = 10
one_pixel_generations = 1
fooling_classes = 2
[noise]
noises = ["gaussian"]
severities = 2
max_examples = 60
[feature]
committee_epochs = 2
[lookalike]
images = 20
methods = ["perceptual", "pgd"]
[saliency]
images = 2
max_examples = 40
smoothgrad_samples = 2
"""
CNN = """[[classifiers]]
name = "cnn"
model = "small_cnn"
epochs = 4
learning_rate = 0.003
"""
STAGES = "evaluate,attacks,noise,lookalike,saliency"


def write_folder(root, rgb=False):
    """The digits at 28x28 as PNG files, class-sorted: ``root/train/<c>/`` and ``root/test/<c>/``."""
    rng = np.random.default_rng(0)
    for split, folder in (("train", "train"), ("test", "test")):
        x, y, _ = load_arrays("digits", split, image_size=(28, 28))
        for c in range(10):
            (root / folder / str(c)).mkdir(parents=True, exist_ok=True)
        for i in np.argsort(y, kind="stable"):  # written in class order
            gray = np.round(x[i, ..., 0] * 255).astype(np.uint8)
            if rgb:  # a coloured digit on a coloured background: channels differ
                fg, bg = rng.uniform(150, 255, 3), rng.uniform(0, 90, 3)
                a = gray[..., None] / 255.0
                img = Image.fromarray(np.clip(a * fg + (1 - a) * bg, 0, 255).astype(np.uint8), "RGB")
            else:
                img = Image.fromarray(gray, "L")
            img.save(root / folder / str(y[i]) / f"{i:04d}.png")
    return root


def run(tmp, name, root, classifiers=CNN, data_extra="", stages=STAGES, quiet=True):
    cfg = tmp / f"{name}.toml"
    cfg.write_text(CONFIG.format(name=name, root=root, data_extra=data_extra, classifiers=classifiers))
    args = ["run", str(cfg), "--stages", stages, "--reports", str(tmp / "reports"), "--runs", str(tmp / "runs"),
            "--export-root", str(tmp / "saved")] + (["--quiet"] if quiet else [])
    res = CliRunner().invoke(cli, args)
    path = tmp / "reports" / name / "results.json"
    return res, (json.loads(path.read_text()) if path.exists() else None)


@pytest.fixture(scope="module", params=["gray", "rgb"])
def folder_run(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    root = write_folder(tmp / "data", rgb=request.param == "rgb")
    res, results = run(tmp, f"folder_{request.param}", root)
    return request.param, root, res, results


def test_a_class_sorted_folder_is_evaluated_on_stratified_subsets(folder_run):
    kind, root, res, results = folder_run
    assert res.exit_code == 0, res.output
    assert all(s["status"] == "ok" for s in results["stages"]), results["stages"]
    # Channels and size come from the files: 28x28, one channel for the grayscale PNGs, three for the coloured.
    channels = 1 if kind == "gray" else 3
    assert results["data"]["image_shape"] == [28, 28, channels]
    assert results["data"]["shape"]["channels_from"] == "inferred"
    assert results["data"]["shape"]["survey"]["modes"] == {"L" if kind == "gray" else "RGB": 96}
    _, y_test, _ = load_arrays(f"folder:{root}", "test")
    assert np.all(np.diff(y_test) >= 0)  # the folder really is class-sorted
    for stage in ("attacks", "noise", "lookalike", "saliency"):
        sub = results[stage]["subset"]
        idx = np.asarray(sub["indices"])
        ours = np.bincount(y_test[idx], minlength=10)
        assert ours.tolist() == sub["per_class"] and len(set(idx.tolist())) == sub["size"]
        _, ref_idx = train_test_split(np.arange(len(y_test)), test_size=sub["size"], stratify=y_test, random_state=0)
        ref = np.bincount(y_test[ref_idx], minlength=10)
        assert np.all(np.abs(ours - ref) <= 1) and (ours > 0).all(), (stage, ours, ref)
    # The attacked subset scores (at eps 0) what the whole test split scores, within 3 points.
    full = results["evaluate"]["classifiers"]["cnn"]["accuracy"]
    at_zero = results["attacks"]["cnn"]["fgsm"]["accuracy"][0]
    assert results["attacks"]["cnn"]["fgsm"]["values"][0] == 0.0 and full > 0.6
    assert abs(at_zero - full) <= 0.03, (at_zero, full)
    page = (root.parent / "reports" / f"folder_{kind}" / "index.html").read_text()
    assert f"{channels} channel{'s' if channels > 1 else ''} ({'grayscale' if kind == 'gray' else 'colour'}" in page


def tutorial_model(x, y, epochs=3):
    """Trained the way Keras's tutorial does: raw 0-255 pixels, Rescaling(1/255) inside, softmax out."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Rescaling(1.0 / 255),
                              keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x * 255.0, y, batch_size=64, epochs=epochs, verbose=0)
    return model


@pytest.fixture(scope="module")
def gray_folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("user") / "data")


def test_a_rescaling_softmax_model_scores_what_keras_scores(gray_folder, tmp_path):
    x, y, _ = load_arrays(f"folder:{gray_folder}", "train")
    model = tutorial_model(x, y)
    path = tmp_path / "mine.keras"
    model.save(path)
    xt, yt, _ = load_arrays(f"folder:{gray_folder}", "test")
    _, keras_acc = model.evaluate(xt * 255.0, yt, verbose=0)  # the pixels it was trained on
    user = f'[[classifiers]]\nname = "mine"\nmodel = "{path}"\n'
    res, results = run(tmp_path, "mine", gray_folder, classifiers=user, stages="evaluate,attacks,saliency")
    assert res.exit_code == 0, res.output
    ours = results["evaluate"]["classifiers"]["mine"]["accuracy"]
    assert abs(ours - keras_acc) <= 0.01, (ours, keras_acc)
    naive = float(np.mean(model.predict(xt, verbose=0).argmax(1) == yt))  # fed [0, 1] pixels, as before
    assert naive < keras_acc - 0.3
    c = results["classifier"]["mine"]
    assert c["source"] == "user" and c["adaptation"]["expects"] == "0-255" and c["adaptation"]["softmax"]
    assert results["attacks"]["mine"]["fgsm"]["accuracy"][-1] < results["attacks"]["mine"]["fgsm"]["accuracy"][0]
    page = (tmp_path / "reports" / "mine" / "index.html").read_text()
    assert "your own model" in page and "Rescaling(255)" in page and "earlier run" not in page


def test_a_channel_mismatch_is_one_line_with_both_shapes(gray_folder, tmp_path):
    x, y, _ = load_arrays(f"folder:{gray_folder}", "train")
    path = tmp_path / "mine.keras"
    tutorial_model(x[:64], y[:64], epochs=1).save(path)
    user = f'[[classifiers]]\nname = "mine"\nmodel = "{path}"\n'
    res, results = run(tmp_path, "mm", gray_folder, classifiers=user, data_extra="channels = 3", quiet=False)
    assert res.exit_code == 2 and results is None
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    assert "(28, 28, 1)" in lines[0] and "(28, 28, 3)" in lines[0] and "data.channels = 1" in lines[0]
    assert not (tmp_path / "reports").exists()


def test_a_model_at_chance_is_refused_with_one_line(gray_folder, tmp_path):
    keras.utils.set_random_seed(1)
    untrained = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Rescaling(1.0 / 255), keras.layers.Flatten(),
                                  keras.layers.Dense(10, activation="softmax", kernel_initializer="zeros")])
    path = tmp_path / "blank.keras"
    untrained.save(path)
    user = f'[[classifiers]]\nname = "blank"\nmodel = "{path}"\n'
    res, results = run(tmp_path, "blank", gray_folder, classifiers=user, stages="evaluate")
    assert res.exit_code == 1
    status = {s["name"]: s for s in results["stages"]}
    assert status["classifier"]["status"] == "failed" and status["evaluate"]["status"] == "skipped"
    assert "no better than chance" in status["classifier"]["error"] and "\n" not in status["classifier"]["error"]
