"""cases.npz: every case with its checks; round trip, replay on the same and another model, bad files."""
import json
import os

import numpy as np
import pytest

from tf_featuretest.errors import DataError
from tf_featuretest.testgen.cases import TestCases, load_cases, replay, save_cases


@pytest.fixture(scope="module")
def cases(digits_cnn, checker_vae, checker, digits):
    from tf_featuretest.testgen.latent import latent_tests

    xs, ys = digits["test"]
    lt = latent_tests(digits_cnn, checker_vae, checker, digits["train"], (xs, ys), num_anchors=10, per_anchor=3, seed=2)
    return lt.cases


def test_round_trip_keeps_every_field(cases, tmp_path):
    path = save_cases(cases, tmp_path / "cases.npz")
    back = load_cases(path)
    assert isinstance(back, TestCases) and back.source == cases.source and back.num_classes == 10
    for name in ("images", "labels", "anchor", "latent", "radius", "origin", "case_ids", "predictions"):
        np.testing.assert_array_equal(getattr(back, name), getattr(cases, name))
    for name in ("in_distribution", "code", "votes", "confidences", "label_probability"):
        np.testing.assert_array_equal(getattr(back.checks, name), getattr(cases.checks, name))
    assert back.checks.members == cases.checks.members == ("cnn", "wide_cnn", "knn")
    assert set(back.checks.scores) == {"knn_distance", "elbo"}
    np.testing.assert_array_equal(back.valid, cases.valid)
    with np.load(path, allow_pickle=False) as f:  # readable without pickle, flags stored too
        np.testing.assert_array_equal(f["valid"], cases.valid)
        np.testing.assert_array_equal(f["ambiguous"], cases.ambiguous)


def test_replay_on_the_same_model_reproduces_predictions(cases, digits_cnn, tmp_path):
    from tf_featuretest.pipeline.testgen import replay_cases

    path = save_cases(cases, tmp_path / "cases.npz")
    rep = replay_cases(digits_cnn, path, out=str(tmp_path))
    np.testing.assert_array_equal(rep.cases.predictions, cases.predictions)
    assert rep.agreement == 1.0 and rep.changed_predictions == 0
    assert rep.summary == cases.summary()
    stored = json.loads((tmp_path / "replay.json").read_text())
    assert stored["num_cases"] == len(cases) and stored["agreement_with_stored"] == 1.0


def test_replay_on_another_model_scores_the_same_cases(cases, weak_cnn):
    from tf_featuretest.testgen.latent import predict_labels

    preds = predict_labels(weak_cnn, cases.images)
    rep = replay(cases, preds)
    valid = cases.valid
    assert rep.summary["accuracy_on_valid"] == pytest.approx(np.mean(preds[valid] == cases.labels[valid]))
    assert rep.summary["num_confirmed_failures"] == int(np.sum(valid & (preds != cases.labels)))
    assert rep.changed_predictions == int(np.sum(preds != cases.predictions))


def test_bad_case_files(tmp_path, cases, weak_cnn):
    from tf_featuretest.models import build_classifier
    from tf_featuretest.pipeline.testgen import replay_cases

    with pytest.raises(DataError, match="not found"):
        load_cases(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable cases.npz"):
        load_cases(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(DataError, match="missing"):
        load_cases(tmp_path / "other.npz")
    path = save_cases(cases, tmp_path / "cases.npz")
    rgb = build_classifier("small_cnn", 10, (32, 32, 3))
    with pytest.raises(Exception, match=r"\(32, 32, 3\).*\(32, 32, 1\)"):
        replay_cases(rgb, path)


def test_cli_testgen_and_replay(digits_cnn, weak_cnn, checker_vae, tmp_path):
    from click.testing import CliRunner

    from tf_featuretest.cli import cli
    from tf_featuretest.models import save_model_atomic

    model_path = save_model_atomic(digits_cnn, str(tmp_path / "cnn.keras"))
    other_path = save_model_atomic(weak_cnn, str(tmp_path / "weak.keras"))
    vae_path = save_model_atomic(checker_vae, str(tmp_path / "vae.keras"))
    out = tmp_path / "tg"
    args = ["testgen", "--model", model_path, "--data", "digits", "--vae", vae_path, "--n", "40", "--count", "4",
            "--search-budget", "8", "--committee-epochs", "3", "--out", str(out), "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "pixel (L-inf)" in result.output and "real images, true label" in result.output
    payload = json.loads((out / "results.json").read_text())
    assert payload["latent_cases"]["num_cases"] == 40
    assert [r["method"] for r in payload["search"]] == ["random", "gradient", "evolution"]
    assert len(payload["calibration"]["rows"]) == 6
    assert all(os.path.getsize(p) > 1000 for p in payload["plots"])
    stored = load_cases(out / "cases.npz")
    assert len(stored) == payload["all_cases"]["num_cases"]
    # a second call reuses the committee kept in --out
    kept = sorted(p.name for p in out.glob("committee-*.keras"))
    assert len(kept) == 2
    rep = CliRunner().invoke(cli, ["testgen", "--model", other_path, "--replay", str(out / "cases.npz"), "--out",
                                   str(tmp_path / "rep"), "-q"])
    assert rep.exit_code == 0, rep.output
    assert "predictions differ from the stored ones" in rep.output
    same = CliRunner().invoke(cli, ["testgen", "--model", model_path, "--replay", str(out / "cases.npz"), "-q"])
    assert same.exit_code == 0 and "0 predictions differ" in same.output
    bad = CliRunner().invoke(cli, ["testgen", "--model", model_path, "--replay", str(tmp_path / "nope.npz"), "-q"])
    assert bad.exit_code == 2 and "not found" in bad.output
    bad = CliRunner().invoke(cli, ["testgen", "--model", model_path, "--vae", vae_path, "--radius", "wide", "-q"])
    assert bad.exit_code == 2 and "radius" in bad.output
