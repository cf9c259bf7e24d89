"""Every section writer on edge inputs: each sentence it writes must stay true.

Table-driven: a case is (results as the stage records them, phrases that must appear, phrases that
must not). The inputs are the edges where prose generated from numbers goes wrong: everything
right, nothing right, one class, ties, a user's own model, attacks that change nothing.
"""
import re

import pytest

from tf_featuretest.report.sections import attacks, classifier, data, evaluate, export, lookalike, saliency

COVERAGE = "48 of the 270 test images, 4 to 5 per class, 10 of 10 classes (stratified, seed 0)"


def _report(recalls, supports=None, accuracy=None, top_k=None):
    """A ClassificationReport.to_dict() with these per-class recalls (precision = recall for simplicity)."""
    supports = supports or [10] * len(recalls)
    k = len(recalls)
    cm = [[0] * k for _ in range(k)]
    for i, (rec, n) in enumerate(zip(recalls, supports)):
        hit = round(rec * n)
        cm[i][i] = hit
        if n - hit:
            cm[i][(i + 1) % k] += n - hit
    acc = accuracy if accuracy is not None else sum(cm[i][i] for i in range(k)) / max(sum(supports), 1)
    return {"accuracy": acc, "top_k": top_k or {"1": acc, str(min(5, k)): 1.0},
            "macro_avg": {"precision": acc, "recall": acc, "f1": acc},
            "weighted_avg": {"precision": acc, "recall": acc, "f1": acc},
            "per_class": [{"class": str(i), "precision": r, "recall": r, "f1": r, "support": n, "tpr": r, "fpr": 0.0}
                          for i, (r, n) in enumerate(zip(recalls, supports))],
            "confusion_matrix": cm}


def _sweep(clean, accs, eps=(0.0, 0.1, 0.3), success=None, n=48):
    return {"name": "x", "param": "eps", "values": list(eps), "clean_accuracy": clean, "accuracy": list(accs),
            "success_rate": list(success if success is not None else [0.0] * len(eps)), "mean_linf": [0.0] * len(eps),
            "mean_l2": [0.0] * len(eps), "per_class_accuracy": [], "num_examples": n, "target": None, "seconds": []}


def _attacks(clean, fgsm, pgd, targeted=0.0, one_pixel=0.0, fooling=0.0, eps=(0.0, 0.1, 0.3)):
    return {"cnn": {"fgsm": _sweep(clean, fgsm, eps), "pgd": _sweep(clean, pgd, eps),
                    "targeted_pgd": _sweep(clean, [clean], (0.3,), [targeted])},
            "one_pixel": {"classifier": "cnn", "num_images": 16, "success_rate": one_pixel},
            "fooling": {"classifier": "cnn", "num_images": 10, "threshold": 0.9, "success_rate": fooling}}


def _data(k=10, train=None, test=None, skipped=0, note=None, channels=1):
    train = train or [100] * k
    test = test or [20] * k
    return {"source": "folder:/data/x", "class_names": [str(i) for i in range(k)], "image_shape": [28, 28, channels],
            "counts": {"train": train, "validation": [5] * k, "test": test},
            "sizes": {"train": sum(train), "validation": 5 * k, "test": sum(test)}, "skipped_files": skipped,
            "shape": {"note": note} if note else None}


USER = {"model": "/home/me/mine.keras", "params": 1234, "source": "user", "reused": False, "epochs": 0,
        "adversarial": "none", "history": {},
        "adaptation": {"expects": "0-255", "note": "It expects [0, 255] pixels (...), so it runs behind a "
                                                   "Rescaling(255) layer."}}
TRAINED = {"model": "small_cnn", "params": 5000, "source": "trained", "reused": False, "epochs": 3,
           "adversarial": "fgsm", "history": {"loss": [1, 0.5, 0.3]}, "adaptation": None}
REUSED = dict(TRAINED, source="reused", reused=True, adversarial="none")


def _saliency(changed, images=4, corr=0.4, wrong=1, available=3):
    return {"cnn": {"layer": "conv2", "images": 2, "misclassified_shown": wrong, "misclassified_available": available,
                    "picked_from": 48},
            "adversarial": {"classifier": "cnn", "images": images, "prediction_changed": changed, "eps": 0.1,
                            "method": "smoothgrad", "mean_map_correlation": corr}}


def _stats(method, rate, n=20):
    return {"method": method, "success_rate": rate, "linf": 0.1, "l2": 1.0, "psnr": 30.0, "ssim": 0.9,
            "seconds": 1.0, "num_examples": n}


def _lookalike(rates: dict, *, same, judge=True, n=20):
    """Look-alike results: ``rates`` method -> success; 10 wanted labels, the primary's label 3 never reached."""
    methods = {m: {**_stats(m, r, n), "looks_same": None if same is None or not r else same,
                   "looks_same_overall": None if same is None else same * r} for m, r in rates.items()}
    primary = next(iter(rates))
    per = [{"target": t, "images": n // 10, "success": 0.0 if t == 3 and rates[primary] < 1 else rates[primary],
            "looks_same": same, "ssim": 0.9} for t in range(10)]
    j = {"members": [{"name": "cnn"}, {"name": "knn"}], "originals_kept": 0.95, "reused": True} if judge else None
    return {"classifier": "cnn", "eps": 0.2, "primary": primary, "judge": j, "methods": methods,
            "per_target": {primary: per}}


def _export(*artifacts):
    return {"classifier": "cnn", "artifacts": [{"artifact": a, "version": 1, "signatures": ["serving_default"],
                                                "size_bytes": 1e6, "variable_bytes": 5e5,
                                                "path": f"/very/long/path/saved_models/mini/{a}/1"} for a in artifacts]}


CASES = {
    # ------------------------------------------------------------ data
    "data: ten balanced classes, inferred gray": (
        lambda: data.section(_data(note="Images are loaded at 28x28 (...) with 1 channel (grayscale, inferred ...)."),
                             []),
        ["10 classes", "1 channel (grayscale)", "Every class has 100 training images", "inferred"],
        ["channel(s)", "smallest"]),
    "data: one class": (
        lambda: data.section(_data(k=1, channels=3), []),
        ["1 class of", "3 channels (colour)", "single class"], ["1 classes", "smallest"]),
    "data: unbalanced, a class missing from test, one file skipped": (
        lambda: data.section(_data(k=3, train=[5, 50, 500], test=[4, 0, 9], skipped=1), []),
        ["smallest class has 5 training images and the largest 500", "test split has no images of 1 class ('1')",
         "1 unreadable file was skipped"], ["were skipped"]),
    # ------------------------------------------------------------ classifier
    "classifier: a user model": (
        lambda: classifier.section({"mine": USER}, []),
        ["mine is your own model", "not trained here", "Rescaling(255)"],
        ["reused", "epochs 0", "0 epochs", "trained for"]),
    "classifier: trained and reused": (
        lambda: classifier.section({"cnn": TRAINED, "old": REUSED}, []),
        ["cnn (small_cnn, 5,000 parameters, adversarially trained with FGSM) was trained here for 3 epochs",
         "old (small_cnn, 5,000 parameters) was trained for 3 epochs by an earlier run"], ["your own"]),
    "classifier: results written before 'source' existed": (
        lambda: classifier.section({"old": {k: v for k, v in REUSED.items() if k != "source"}}, []),
        ["earlier run"], []),
    # ------------------------------------------------------------ evaluate
    "evaluate: all correct": (
        lambda: evaluate.section({"classifiers": {"cnn": _report([1.0] * 10)}}, [], num_test=100),
        ["every class is recognised equally often (100.0%", "misclassifies none of them"],
        ["least often", "confusion matrix shows"]),
    "evaluate: nothing correct": (
        lambda: evaluate.section({"classifiers": {"cnn": _report([0.0] * 10)}}, [], num_test=100),
        ["gets 0.0% right", "equally often (0.0%", "misclassifies 100"], ["least often", "none of them"]),
    "evaluate: one weakest class and a tie between models": (
        lambda: evaluate.section({"classifiers": {"a": _report([1.0] * 9 + [0.5]), "b": _report([1.0] * 9 + [0.5])}},
                                 [], num_test=100),
        ["the class recognised least often is '9' (50.0% of its test images)", "a and b are equally accurate"],
        ["The most accurate"]),
    "evaluate: two classes tied lowest, one absent, binary top-k": (
        lambda: evaluate.section({"classifiers": {"cnn": _report([0.5, 0.5, 1.0, 0.0], supports=[10, 10, 10, 0])}},
                                 [], num_test=30),
        ["classes recognised least often are '0' and '1'", "1 class has no test images ('3')"], ["'3' (0.0%"]),
    "evaluate: two classes": (
        lambda: evaluate.section({"classifiers": {"cnn": _report([0.9, 0.8], top_k={"1": 0.85, "2": 1.0})}}, [],
                                 num_test=20),
        ["least often is '1'"], ["top 2"]),
    # ------------------------------------------------------------ attacks
    "attacks: no attack success": (
        lambda: attacks.section(_attacks(0.9, [0.9, 0.9, 0.9], [0.9, 0.9, 0.9]), [], classifiers=["cnn"], pgd_steps=3,
                                targeted_eps=0.3, coverage=COVERAGE),
        ["barely affect", "stays at 90.0% under one FGSM step", "stays at 90.0% under 3-step PGD",
         "none of the 48 images", "none of the 16 images", "none of the 10 classes"],
        ["break the classifiers", "falls"]),
    "attacks: everything broken": (
        lambda: attacks.section(_attacks(1.0, [1.0, 0.2, 0.0], [1.0, 0.0, 0.0], targeted=1.0, one_pixel=1.0,
                                         fooling=1.0), [], classifiers=["cnn"], pgd_steps=3, targeted_eps=0.3,
                                coverage=COVERAGE),
        ["break the classifiers", "falls to 20.0% under one FGSM step", "falls to 0.0% under 3-step PGD",
         "all of the 48 images", "all of the 16 images", "all of the 10 classes"], ["barely"]),
    "attacks: only eps 0 swept": (
        lambda: attacks.section(_attacks(0.8, [0.8], [0.8], eps=(0.0,)), [], classifiers=["cnn"], pgd_steps=3,
                                targeted_eps=0.3, coverage=COVERAGE),
        ["Only eps = 0 was swept"], ["falls", "break"]),
    "attacks: nothing right before the attack": (
        lambda: attacks.section(_attacks(0.0, [0.0] * 3, [0.0] * 3), [], classifiers=["cnn"], pgd_steps=3,
                                targeted_eps=0.3, coverage=COVERAGE),
        ["nothing for the attacks to break"], ["falls", "stays"]),
    # ------------------------------------------------------------ look-alikes
    "lookalike: no success": (
        lambda: lookalike.section(_lookalike({"perceptual": 0.0, "pgd": 0.0}, same=None), [], coverage=COVERAGE),
        ["for none of the 20 test images", "pgd reached it for none of the 20 images", "about 2 images"],
        ["0.0% of", "still gives the original label"]),
    "lookalike: partial, judged": (
        lambda: lookalike.section(_lookalike({"perceptual": 0.25, "cw": 1.0}, same=0.8), [], coverage=COVERAGE),
        ["5 (25.0%) of the 20 test images", "cw reached it for all of the 20 images",
         "4 (80.0%) of the 5 successful look-alikes", "95.0% of the unchanged originals",
         "The hardest wanted label was 3: reached for none of the 2 images"], ["judge = false"]),
    "lookalike: not judged, many images per target": (
        lambda: lookalike.section(_lookalike({"perceptual": 1.0}, same=None, judge=False, n=200), [],
                                  coverage=COVERAGE),
        ["all of the 200 test images", "not measured"], ["rest on few images", "hardest", "On the same images"]),
    # ------------------------------------------------------------ saliency
    "saliency: the attack changed nothing": (
        lambda: saliency.section(_saliency(0, images=6), [], coverage=COVERAGE),
        ["changed none of the 6 predictions", "differ only by the small change"],
        ["move to the pixels", "strokes", "changed 0 of"]),
    "saliency: the attack changed predictions": (
        lambda: saliency.section(_saliency(3, corr=0.25), [], coverage=COVERAGE),
        ["changed 3 of the 4 predictions", "r = 0.25"], ["strokes"]),
    "saliency: all correct": (
        lambda: saliency.section(_saliency(1, wrong=0, available=0), [], coverage=COVERAGE),
        ["misclassifies none of the 48 images"], ["what it looked at instead"]),
    # ------------------------------------------------------------ export
    "export: classifier and attacks only": (
        lambda: export.section(_export("classifier", "attacks"), root="saved_models", pipeline="mini"),
        ["2 versioned SavedModels were written for cnn", "the classifier and its attacks"], ["generator", "VAE"]),
    "export: one artifact": (
        lambda: export.section(_export("classifier"), root="saved_models", pipeline="mini"),
        ["One versioned SavedModel was written"], ["were written"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_section_sentences_stay_true(case):
    make, present, absent = CASES[case]
    sec = make()
    text = sec.reading
    for phrase in present:
        assert phrase in text, (case, phrase, text)
    for phrase in absent:
        assert phrase not in text, (case, phrase, text)
    assert not re.search(r"\bn/a\b|\bnan\b|None\b|\{|\}", text), text  # no unformatted or missing values


def test_every_writer_is_covered():
    covered = {name.split(":")[0] for name in CASES}
    assert covered == {"data", "classifier", "evaluate", "attacks", "lookalike", "saliency", "export"}
