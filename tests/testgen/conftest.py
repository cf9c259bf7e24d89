"""Fixtures of the feature-level tests: a label committee, a VAE and the case checker, trained once."""
import numpy as np
import pytest


@pytest.fixture(scope="session")
def committee(digits):
    from tf_featuretest.testgen.judge import train_committee

    x, y = digits["train"]
    return train_committee(x, y, num_classes=10, epochs=8, seed=0)


@pytest.fixture(scope="session")
def checker_vae(digits):
    """A VAE good enough for its reconstructions to keep their labels (latent 16, beta 0.25, 15 epochs)."""
    import keras
    import tensorflow as tf

    from tf_featuretest.models.vae import train_vae

    keras.utils.set_random_seed(0)
    x, y = digits["train"]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(64)
    return train_vae(ds, x.shape[1:], latent_dim=16, beta=0.25, epochs=15, seed=0)


@pytest.fixture(scope="session")
def checker(committee, checker_vae, digits):
    from tf_featuretest.testgen.suite import build_checker

    return build_checker(committee, checker_vae, digits["validation"][0])


@pytest.fixture(scope="session")
def weak_cnn(digits):
    """A small CNN trained for one epoch on 300 images: it makes many mistakes."""
    import keras

    from tf_featuretest.models import build_classifier, compile_classifier

    keras.utils.set_random_seed(3)
    x, y = digits["train"]
    idx = np.random.default_rng(0).choice(len(x), 300, replace=False)
    model = build_classifier("small_cnn", 10, x.shape[1:])
    compile_classifier(model, learning_rate=2e-3)
    model.fit(x[idx], y[idx], epochs=1, batch_size=64, verbose=0)
    return model


def _summary(n=100, valid=90, acc=0.9, per=None, confirmed=9, ambiguous=6, wrong_amb=2):
    per = per if per is not None else [valid // 10] * 10
    return {"num_cases": n, "num_valid": valid, "yield": valid / n if n else 0.0, "num_ambiguous": ambiguous,
            "num_changed": 1, "num_out_of_distribution": n - valid - ambiguous - 1 if n else 0,
            "rates": {}, "accuracy_on_valid": acc if valid else float("nan"), "accuracy_on_all": acc,
            "num_confirmed_failures": confirmed, "num_wrong_ambiguous": wrong_amb, "per_class_valid": per,
            "per_class_accuracy": [acc] * 10}


def make_feature_results(**kw):
    """A ``results["feature"]`` dict with every key the section writer reads; ``kw`` overrides the latent summary."""
    latent = {**_summary(**kw), "radius": {"kind": "found", "factor": 1.0, "search": {
        "target": 0.9, "probes": 16, "steps": 5, "checks": 1000, "anchors": 12, "usable": 10,
        "skipped_reconstruction": 1, "skipped_no_radius": 1, "at_upper_bound": 7,
        "radius_percentiles": {"50": 1.2}, "ratio_to_margin_percentiles": {"50": 1.0}, "margin_percentiles": {}}},
        "anchors": {"quota_per_class": [1] * 10, "per_class": [1] * 10}}
    rows = [{"set": name, "goal": goal, "n": 100, "rate": 0.97, "target": t, "passed": True, "in_distribution": 1.0,
             "kept": 0.97, "ambiguous": 0.01} for name, goal, t in (
        ("real images, true label", "accepted", 0.95), ("real images, a wrong label", "rejected", 0.95),
        ("uniform noise", "rejected", 0.95), ("inverted images", "rejected", 0.95),
        ("shapes (another data set)", "rejected", 0.95), ("50/50 blends of two classes", "invalid or ambiguous", 0.8))]
    check = {"name": "reconstruction", "value": 0.1, "threshold": 0.5, "passed": True, "detail": "fine"}
    return {
        "vae": {"latent_dim": 32}, "committee": {"members": [{"name": "cnn", "kind": "committee_cnn"},
                                                            {"name": "knn", "kind": "k-NN in pixel space (k=5)"}],
                                                "agree": 0.5, "accuracies": {"cnn": 0.99, "knn": 0.98,
                                                                             "committee kept": 0.97}},
        "calibration": {"rows": rows, "passed": True, "failed": [], "split": "test"},
        "separation": {"pixel": {"train_train_min": 0.4375, "test_train_min": 0.5, "r": 0.21875},
                       "latent": {"train_train_min": 1.0, "test_train_min": 0.6, "r": 0.3}},
        "latent_tests": latent, "latent_tests_by_classifier": {"cnn": _summary(**kw)},
        "gan_tests": _summary(n=50, valid=40, confirmed=2), "gan_tests_by_classifier": {"cnn": _summary(n=50, valid=40)},
        "search": [{"method": m, "budget_per_anchor": 40, "model_calls": 400, "wrong": 30, "confirmed": c,
                    "confirmed_per_minute": 60.0 * c, "confirmed_per_1000_calls": 2.5 * c, "anchors_with_failures": 3,
                    "seconds": 1.0} for m, c in (("random", 2), ("gradient", 8))],
        "review": {"failures": 9, "reviewed": 0, "unreviewed": 9, "human_confirmed": 0, "label_wrong": 0,
                   "unclear": 0, "stored_reviews": 0},
        "health": {"vae": {"model": "vae", "checks": [check]}},
        "warnings": [],
        "generative_metrics": {"fid": {"fid": 12.0, "n_real": 50, "n_generated": 50, "feature_extractor": "cnn"},
                               "kid": {"kid": 0.01, "kid_std": 0.001}, "inception_score": {"score": 8.0},
                               "real_inception_score": {"score": 9.5},
                               "real_reference": {"fid": {"fid": 1.5}, "kid": {"kid": 0.0, "kid_std": 0.001}}},
        "writer": {"classifier": "cnn", "coverage": "270 of the 270 test images"}}


@pytest.fixture
def feature_results():
    return make_feature_results
