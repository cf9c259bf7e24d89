"""Report: classifier and saliency plots, the HTML/JSON renderer, and the page in headless Chromium."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from tf_featuretest._util.io import to_jsonable
from tf_featuretest.errors import ConfigError, DataError
from tf_featuretest.report.html import Section, Table, format_cell, write_report

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test-artifacts")


def png_size(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def pixels(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def fgsm(model, x, y, eps):
    """One signed-gradient step (Goodfellow et al. 2015), enough to flip most digits."""
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.keras.losses.sparse_categorical_crossentropy(y, model(xt, training=False), from_logits=True)
    return np.clip(x + eps * np.sign(tape.gradient(loss, xt).numpy()), 0, 1).astype("float32")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, digits, digits_cnn):
    """A report with every kind of figure this module draws, a table and a failed stage."""
    from tf_featuretest.explain import saliency_maps
    from tf_featuretest.metrics import classification_report
    from tf_featuretest.report import classifier_plots as cp
    from tf_featuretest.report import explain_plots as ep

    out = str(tmp_path_factory.mktemp("report"))
    names = digits["info"].class_names
    x, y = digits["test"]
    scores = digits_cnn.predict(x, verbose=0)
    rep = classification_report(y, scores, names)
    history = {"loss": [1.2, 0.5, 0.3], "val_loss": [0.8, 0.4, 0.45], "accuracy": [0.6, 0.85, 0.92],
               "val_accuracy": [0.7, 0.88, 0.9]}
    figs = {
        "counts": cp.plot_class_counts({s: digits[s][1] for s in ("train", "validation", "test")}, names,
                                       f"{out}/data/counts.png"),
        "samples": cp.plot_class_samples(*digits["train"], names, f"{out}/data/samples.png", per_class=6),
        "augment": cp.plot_augmentation_examples(digits["train"][0][:3], f"{out}/data/augment.png", variants=4),
        "curves": cp.plot_training_curves(history, f"{out}/classifier/curves.png"),
        "confusion": cp.plot_confusion_matrix(rep.confusion, names, f"{out}/classifier/confusion.png"),
    }
    xs, ys = x[:64], y[:64]
    res = saliency_maps(digits_cnn, xs, ys, n=8, seed=0)
    xa = fgsm(digits_cnn, xs[:3], ys[:3], eps=0.2)
    clean, adv = saliency_maps(digits_cnn, xs[:3], ys[:3], n=8), saliency_maps(digits_cnn, xa, ys[:3], n=8)
    figs["saliency"] = ep.plot_saliency_grid(res, f"{out}/saliency/grid.png", class_names=names,
                                             indices=ep.pick_examples(res, correct=3, wrong=2))
    figs["adversarial"] = ep.plot_clean_vs_adversarial(clean, adv, f"{out}/saliency/adversarial.png",
                                                       class_names=names, max_images=2)
    rel = {k: os.path.relpath(v, out) for k, v in figs.items()}
    sections = [
        Section("data", "Data", "The digits set is balanced: every class has about the same number of images.",
                figures=[(rel["counts"], "Images per class and split"), (rel["samples"], "Random training images"),
                         (rel["augment"], "Augmented training images")]),
        Section("classifier", "Classifier", f"The small CNN classifies {rep.accuracy:.1%} of test digits correctly.",
                figures=[(rel["curves"], "Loss and accuracy per epoch"), (rel["confusion"], "Confusion matrix")],
                tables=[cp.per_class_table(rep)]),
        Section("attacks", "Adversarial attacks", "", error="ModelError: attack stage crashed on purpose"),
        Section("saliency", "Saliency", "Bright pixels are the ones whose change moves the decision most.",
                figures=[(rel["saliency"], "Correct and misclassified test digits"),
                         (rel["adversarial"], "Clean and FGSM-attacked versions of the same digits")]),
    ]
    results = {"classifier": rep, "saliency": res, "nan_value": float("nan"), "array": np.arange(3)}
    index = write_report(out, results, sections, title="Digits report", summary={"data": "digits", "accuracy": rep.accuracy})
    return {"out": out, "index": index, "figs": figs, "report": rep, "sections": sections, "saliency": res}


def test_plots_are_pngs_of_readable_size(report_dir):
    for name, path in report_dir["figs"].items():
        w, h = png_size(path)
        assert w >= 250 and h >= 150, (name, w, h)
        assert pixels(path).std() > 5, name  # not a blank canvas


def test_augmentation_figure_is_seeded(tmp_path, digits):
    from tf_featuretest.report.classifier_plots import plot_augmentation_examples

    x = digits["train"][0][:2]
    a = plot_augmentation_examples(x, str(tmp_path / "a.png"), variants=3, seed=4)
    b = plot_augmentation_examples(x, str(tmp_path / "b.png"), variants=3, seed=4)
    c = plot_augmentation_examples(x, str(tmp_path / "c.png"), variants=3, seed=5)
    np.testing.assert_array_equal(pixels(a), pixels(b))
    assert not np.array_equal(pixels(a), pixels(c))


def test_per_class_table_and_worst(report_dir):
    from tf_featuretest.report.classifier_plots import per_class_table

    rep = report_dir["report"]
    full = per_class_table(rep)
    assert len(full.rows) == 10 and full.columns == ("class", "precision", "recall", "F1", "support")
    assert sum(r[4] for r in full.rows) == 270
    worst = per_class_table(rep.to_dict(), worst=3)
    f1s = [r[3] for r in worst.rows]
    assert len(f1s) == 3 and f1s == sorted(f1s) and f1s[-1] <= min(r[3] for r in full.rows if r not in worst.rows)


def test_pick_examples_splits_correct_and_wrong(report_dir):
    from tf_featuretest.report.explain_plots import pick_examples

    res = report_dir["saliency"]
    idx = pick_examples(res, correct=3, wrong=64)
    hit = res.labels[idx] == res.predictions[idx]
    assert hit[:3].all() and not hit[3:].any()
    assert len(idx) == 3 + int((res.labels != res.predictions).sum())


def test_results_json_and_html_contents(report_dir):
    out = report_dir["out"]
    with open(os.path.join(out, "results.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    assert data["nan_value"] is None and data["array"] == [0, 1, 2]
    assert data["classifier"]["accuracy"] == pytest.approx(report_dir["report"].accuracy)
    assert data["saliency"]["methods"] == ["vanilla", "smoothgrad", "gradcam"]
    page = open(report_dir["index"], encoding="utf-8").read()
    for sec in report_dir["sections"]:
        assert f'id="{sec.id}"' in page and f'href="#{sec.id}"' in page
        for rel, _ in sec.figures:
            assert f'src="{rel}"' in page and os.path.isfile(os.path.join(out, rel))
    assert 'class="wide"><img src="classifier/curves.png"' in page  # wide figures span the row
    assert "This stage failed: ModelError: attack stage crashed on purpose" in page
    assert page.count("<tr>") == 11  # header + 10 classes
    assert not [f for f in os.listdir(out) if ".tmp-" in f]


def test_page_in_headless_chromium(report_dir):
    from playwright.sync_api import sync_playwright

    os.makedirs(ARTIFACTS, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto("file://" + os.path.abspath(report_dir["index"]))
        page.wait_for_load_state("load")
        for sec in report_dir["sections"]:
            assert page.locator(f"#{sec.id} h2").is_visible(), sec.id
        assert page.locator("h1").inner_text() == "Digits report"
        assert page.locator("#attacks .error").is_visible()
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        assert len(widths) == sum(len(s.figures) for s in report_dir["sections"]) and min(widths) > 0
        page.screenshot(path=os.path.join(ARTIFACTS, "report.png"), full_page=True)
        browser.close()
    assert png_size(os.path.join(ARTIFACTS, "report.png"))[1] > 900


def test_missing_or_outside_figure_raises_and_writes_nothing(tmp_path):
    out = tmp_path / "r"
    with pytest.raises(ConfigError, match="figure not found"):
        write_report(str(out), {}, [Section("a", "A", "x", figures=[("nope.png", "missing")])])
    assert not (out / "index.html").exists() and not (out / "results.json").exists()
    (tmp_path / "outside.png").write_bytes(b"png")
    with pytest.raises(ConfigError, match="outside the report folder"):
        write_report(str(out), {}, [Section("a", "A", figures=[("../outside.png", "x")])])
    with pytest.raises(ConfigError, match="relative"):
        write_report(str(out), {}, [Section("a", "A", figures=[(str(tmp_path / "outside.png"), "x")])])
    (out / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError, match="not a readable image"):
        write_report(str(out), {}, [Section("a", "A", figures=[("broken.png", "x")])])
    assert not (out / "index.html").exists()


def test_bad_sections_and_results_raise(tmp_path):
    with pytest.raises(ConfigError, match="used more than once"):
        write_report(str(tmp_path), {}, [Section("a", "A"), Section("a", "B")])
    with pytest.raises(ConfigError, match="section id"):
        Section("1 bad", "B")
    with pytest.raises(ConfigError, match="row 1 has 1 cells"):
        Table(("a", "b"), [(1, 2), (3,)])
    with pytest.raises(ConfigError, match="object"):
        write_report(str(tmp_path), {"x": object()}, [Section("a", "A")])
    assert not (tmp_path / "results.json").exists()


def test_html_escapes_text_and_formats_cells(tmp_path):
    sec = Section("a", "<script>alert(1)</script>", "5 < 6 & 7 > 3",
                  tables=[Table(("k", "v"), [("x", 0.123456789), ("y", None), ("z", 123456)])])
    page = open(write_report(str(tmp_path), {}, [sec]), encoding="utf-8").read()
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "5 &lt; 6 &amp; 7 &gt; 3" in page
    assert format_cell(0.123456789) == "0.1235" and format_cell(None) == "\u2014" and format_cell(123456) == "123,456"
    assert to_jsonable({"a": (np.float32(1.5), np.int64(2), float("inf"))}) == {"a": [1.5, 2, None]}


def test_plot_input_errors(tmp_path):
    from tf_featuretest.report import classifier_plots as cp

    with pytest.raises(DataError, match="confusion matrix"):
        cp.plot_confusion_matrix(np.zeros((3, 3)), ["a", "b"], str(tmp_path / "c.png"))
    with pytest.raises(DataError, match="history"):
        cp.plot_training_curves({}, str(tmp_path / "h.png"))
    with pytest.raises(DataError, match="label 5"):
        cp.plot_class_counts({"train": np.array([0, 5])}, ["a", "b"], str(tmp_path / "n.png"))


def test_crop_examples_pairs_full_images_with_crops(tmp_path, digits):
    from tf_featuretest.report.classifier_plots import plot_crop_examples

    x, y = digits["test"]
    crops = np.repeat(np.repeat(x[:4, 8:24, 8:24], 2, axis=1), 2, axis=2)  # centre box, upscaled
    path = plot_crop_examples(x[:4], crops, str(tmp_path / "crops.png"), labels=y[:4],
                              class_names=digits["info"].class_names)
    w, h = png_size(path)
    assert w > h > 150
    with pytest.raises(DataError, match="matching"):
        plot_crop_examples(x[:4], crops[:3], str(tmp_path / "bad.png"))
