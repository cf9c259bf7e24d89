"""The AdvGAN stage on a tiny pipeline, recomputed independently, and its section's prose on edge inputs."""
import copy
import json
import os
import re

import keras
import numpy as np
import pytest

from tf_featuretest.config import parse_config
from tf_featuretest.data import load_arrays
from tf_featuretest.noise import NOISES
from tf_featuretest.pipeline.runner import run_pipeline
from tf_featuretest.report.sections import advgan as writer

TINY = """
name = "tiny"
seed = 3
[data]
source = "digits"
image_size = [16, 16]
[[classifiers]]
name = "cnn"
model = "small_cnn"
epochs = 2
learning_rate = 0.003
[[classifiers]]
name = "cnn_fgsm"
model = "small_cnn"
epochs = 1
learning_rate = 0.003
adversarial = "fgsm"
[attacks]
pgd_steps = 3
[advgan]
eps = 0.3
epochs = 1
family_epochs = 1
families = ["black_rows", "brightness_contrast"]
max_examples = 50
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("advgan")
    cfg = parse_config(TINY, "tiny.toml")
    kw = dict(stages="advgan,export", quiet=True, reports_root=str(root / "r"), runs_root=str(root / "runs"),
              export_root=str(root / "saved"))
    first = run_pipeline(cfg, **kw)
    second = run_pipeline(cfg, **kw)
    return root, first, second


def test_stage_numbers_recomputed_independently(tiny_run):
    root, first, _ = tiny_run
    assert first.ok, first.to_dict()
    res = json.loads(open(first.results_path).read())["advgan"]
    x, y, _ = load_arrays("digits", "test", image_size=(16, 16))
    idx = np.asarray(res["subset"]["indices"])
    x, y = x[idx], y[idx]
    runs = root / "runs" / "tiny"
    clf = keras.models.load_model(next(str(p) for p in runs.glob("cnn-*.keras") if "work" not in p.name))
    gen = keras.models.load_model(next(str(p) for p in runs.glob("advgan-pixel-*.keras")))
    ok = clf.predict(x, verbose=0).argmax(1) == y
    adv = gen.perturb(x).numpy()
    assert np.abs(adv.astype(np.float64) - x).max() <= 0.3
    fooled = (clf.predict(adv, verbose=0).argmax(1) != y) & ok
    assert res["pixel"]["untargeted"]["success_rate"][-1] == pytest.approx(fooled.sum() / ok.sum())
    # the random draws of the matching noise, with the stage's seeds (the run's seed + draw)
    rows = next(f for f in res["families"] if f["family"] == "black_rows")
    draws = [(clf.predict(NOISES["black_rows"](x, 0.3, seed=3 + r).numpy(), verbose=0).argmax(1) != y) & ok
             for r in range(rows["random"][-1]["draws"])]
    assert rows["random"][-1]["any"] == pytest.approx(np.any(draws, 0).sum() / ok.sum())
    assert rows["random"][-1]["mean"] == pytest.approx(np.mean([d.sum() for d in draws]) / ok.sum())
    names = {f["noise"] for f in res["families"]}
    assert names == {"black_rows", "brightness", "contrast"}
    # transfer: the same images on both classifiers, the attacked one flagged
    assert [(t["classifier"], t["white_box"]) for t in res["transfer"]] == [("cnn", True), ("cnn_fgsm", False)]
    assert res["transfer"][0]["advgan_success"] == pytest.approx(res["pixel"]["untargeted"]["success_rate"][-1])
    assert len(res["pixel"]["targeted"]["success"]) == 10
    assert set(res["training"]) == {"pixel", "black_rows", "brightness_contrast"}
    assert all(r["seconds"] > 0 and not r["reused"] for r in res["training"].values())
    for fig in ("success_vs_budget.png", "triplets.png", "targets.png", "families.png"):
        assert os.path.getsize(root / "r" / "tiny" / "advgan" / fig) > 1000


def test_export_signs_the_generator_and_a_second_run_reuses_everything(tiny_run):
    _, first, second = tiny_run
    assert second.ok
    for run in (first, second):
        results = json.loads(open(run.results_path).read())
        sigs = {a["artifact"]: a["signatures"] for a in results["export"]["artifacts"]}
        assert "advgan" in sigs["attacks"]
    stages = {s.name: s for s in second.stages}
    assert stages["advgan"].reused
    assert json.loads(open(second.results_path).read())["advgan"] == json.loads(open(first.results_path).read())["advgan"]


# ----------------------------------------------------------------------------- the prose on edge inputs


def _sweep(values, success):
    return {"values": list(values), "success_rate": list(success)}


def _random(mean, best, any_, draws=5):
    return {"mean": mean, "best_draw": best, "any": any_, "draws": draws, "noise": "n", "severity": 0.3}


BASE = {
    "classifier": "cnn", "eps": 0.3, "severity": 0.3, "train_images": 1258, "subset": {"size": 270},
    "pixel": {"values": [0.05, 0.1, 0.2, 0.3], "mode": "both",
              "untargeted": _sweep([0.05, 0.1, 0.2, 0.3], [0.1, 0.3, 0.8, 0.95]),
              "random": [_random(0.01, 0.02, 0.03)] * 4,
              "targeted": {"eps": 0.3, "success": [0.9, 0.7, 0.95, 0.8, 0.85, 0.9, 0.9, 0.9, 0.9, 1.0], "mean": 0.88}},
    "families": [
        {"family": "black_rows", "noise": "black_rows", "severity": 0.3,
         "learned": _sweep([0.3], [0.9]), "random": [_random(0.15, 0.2, 0.4)]},
        {"family": "brightness_contrast", "noise": "brightness", "severity": 0.3,
         "learned": _sweep([0.3], [0.03]), "random": [_random(0.04, 0.04, 0.04)]},
        {"family": "brightness_contrast", "noise": "contrast", "severity": 0.3,
         "learned": _sweep([0.3], [0.03]), "random": [_random(0.01, 0.01, 0.01)]},
    ],
    "training": {"pixel": {"seconds": 12.0, "epochs": 5, "reused": False},
                 "black_rows": {"seconds": 5.0, "epochs": 2, "reused": False},
                 "brightness_contrast": {"seconds": 4.0, "epochs": 2, "reused": False}},
    "timing": {"images": 270, "advgan_seconds_per_image": 1e-4, "pgd_seconds_per_image": 5e-3, "pgd_steps": 10,
               "speedup": 50.0},
    "transfer": [{"classifier": "cnn", "white_box": True, "clean_accuracy": 0.98, "advgan_success": 0.95,
                  "advgan_targeted_success": 0.85, "pgd_success": 1.0},
                 {"classifier": "cnn_fgsm", "white_box": False, "clean_accuracy": 0.95, "advgan_success": 0.4,
                  "advgan_targeted_success": 0.1, "pgd_success": 0.7}],
}


def _text(r):
    return writer.section(r, [], coverage="270 test images").reading


def test_prose_quotes_the_numbers_and_compares_families_with_their_stronger_noise():
    text = _text(BASE)
    assert "misclassify 95.0% of the test images" in text and "does so for 1.0%" in text
    assert "88.0% of the images on average over the 10 targets (from 70.0% for class 1 to 100.0% for class 9)" in text
    assert "50 times faster than 10-step PGD" in text
    # black_rows beats its noise; brightness_contrast (3%) loses to brightness (4%), the stronger of its two noises
    assert "beats the mean random draw for 1 of 2 families and the best of 5 draws per image for 1" in text
    assert "brightness_contrast 3.0% against 4.0% for brightness" in text
    assert "For brightness_contrast the trained generator did not beat random draws" in text
    assert "cnn_fgsm: 40.0% (PGD's images: 70.0%)" in text
    assert "12.0 s for the pixel generator (5 epochs) and 9.0 s for the 2 family generators (2 epochs each)" in text
    assert "within chance" not in text and "earlier run" not in text and "CPU time" not in text
    assert "patch and stickers" not in text  # no patch or sticker family here
    r = copy.deepcopy(BASE)
    for rec in r["training"].values():
        rec["cpu_seconds"] = 2.5
    assert "(2 epochs each), 7.5 s of CPU time in all." in _text(r)
    sec = writer.section(BASE, [], coverage="x")
    assert [t.caption.split(" ")[0] for t in sec.tables] == ["Learned", "Targeted", "Transfer:", "Time"]
    assert len(sec.tables[0].rows) == 4  # the pixel budget and three family/noise rows


def test_prose_edge_cases():
    r = copy.deepcopy(BASE)
    r["transfer"] = r["transfer"][:1]
    r["families"] = []
    r["timing"].update(images=40, speedup=0.5)
    r["training"] = {"pixel": {"seconds": 3.0, "epochs": 1, "reused": True}}
    del r["pixel"]["targeted"]
    text = _text(r)
    assert "one classifier, so the transfer" in text
    assert "structured noise family" not in text and "target class" not in text
    assert "2.0 times slower than" in text
    assert "With only 40 images" in text
    assert "(1 epoch)." in text and "1 generator of this run came from an earlier run" in text
    sec = writer.section(r, [], coverage="x")
    assert [t.caption.split(" ")[0] for t in sec.tables] == ["Learned", "Transfer:", "Time"]
    # a generator trained targeted only: no untargeted sentence, no pixel row, the PGD comparison stays
    r = copy.deepcopy(BASE)
    del r["pixel"]["untargeted"]
    text = _text(r)
    assert "misclassify" not in text and "on average over the 10 targets" in text
    assert writer.section(r, [], coverage="x").tables[0].rows[0][0] == "black_rows"
    # nothing correct to fool: success unknown, written as n/a, no comparison claimed for it
    r = copy.deepcopy(BASE)
    r["families"][0]["learned"]["success_rate"] = [None]
    text = _text(r)
    assert "for 0 of 1 family and" in text and "black_rows" not in text


def test_every_percentage_in_the_prose_is_a_number_of_the_results():
    text = _text(BASE)
    numbers = set()

    def walk(v):
        if isinstance(v, dict):
            for w in v.values():
                walk(w)
        elif isinstance(v, list):
            for w in v:
                walk(w)
        elif isinstance(v, float):
            numbers.add(f"{100 * v:.1f}%")

    walk(BASE)
    for found in re.findall(r"\d+\.\d%", text):
        assert found in numbers, found
