"""FID, KID and Inception Score: closed forms, brute-force checks, monotonicity in added noise, refusals."""
import numpy as np
import pytest

from tf_featuretest.errors import ConfigError, DataError
from tf_featuretest.metrics import (
    FIDResult,
    KIDResult,
    check_comparable,
    fid,
    fid_from_features,
    frechet_distance,
    inception_score,
    inception_score_from_logits,
    kid,
    kid_from_features,
)


def _noisy(x, sigma, seed=0):
    return np.clip(x + np.random.default_rng(seed).normal(0, sigma, x.shape), 0, 1).astype("float32")


def test_frechet_distance_matches_closed_forms():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)
    # commuting (diagonal) covariances: sum over dimensions
    d1, d2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 1.0])
    expected = 1.0 + np.sum((np.sqrt(d1) - np.sqrt(d2)) ** 2)
    assert frechet_distance(np.zeros(3), np.diag(d1), np.array([1.0, 0, 0]), np.diag(d2)) == pytest.approx(expected)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_noise(digits, digits_cnn):
    x = digits["test"][0][:200]
    same = fid(x, x, digits_cnn)
    assert isinstance(same, FIDResult) and same.fid == pytest.approx(0.0, abs=1e-3)
    assert same.feature_extractor == "small_cnn:features" and same.feature_dim == 128
    assert (same.n_real, same.n_generated) == (200, 200)
    values = [fid(x, _noisy(x, s), digits_cnn).fid for s in (0.05, 0.2, 0.5)]
    assert 0 < values[0] < values[1] < values[2]
    assert set(same.to_dict()) == {"fid", "n_real", "n_generated", "feature_dim", "feature_extractor"}


def test_kid_matches_brute_force_unbiased_mmd():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(12, 3)), rng.normal(0.5, 1.0, size=(12, 3))

    def k(u, v):
        return (u @ v / 3 + 1) ** 3

    m = len(a)
    xx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / (m * m)
    res = kid_from_features(a, b, subsets=3, subset_size=100, seed=0)
    assert isinstance(res, KIDResult) and res.subset_size == 12
    assert res.kid == pytest.approx(xx + yy - 2 * xy, rel=1e-9)
    assert res.kid_std == pytest.approx(0.0, abs=1e-9)  # full-size subsets are permutations of the same sets


def test_kid_is_seeded_near_zero_for_one_distribution_and_grows_with_noise(digits, digits_cnn):
    # Two random halves of the test split (not its first and second half: sklearn's digits are ordered by
    # writer, and the two halves differ measurably: KID 6.2 between them).
    x = digits["test"][0][np.random.default_rng(0).permutation(len(digits["test"][0]))]
    half = len(x) // 2
    base = kid(x[:half], x[half:2 * half], digits_cnn, subsets=5, subset_size=100, seed=0)
    again = kid(x[:half], x[half:2 * half], digits_cnn, subsets=5, subset_size=100, seed=0)
    assert base.kid == again.kid
    noisy = [kid(x[:half], _noisy(x[half:2 * half], s), digits_cnn, subsets=5, subset_size=100, seed=0).kid
             for s in (0.2, 0.5)]
    assert abs(base.kid) < noisy[0] < noisy[1]


def test_inception_score_limits_and_real_digits(digits, digits_cnn):
    assert inception_score_from_logits(np.zeros((40, 10)), splits=4).score == pytest.approx(1.0)
    confident = np.eye(10)[np.arange(40) % 10] * 50.0
    res = inception_score_from_logits(confident, splits=4)
    assert res.score == pytest.approx(10.0, rel=1e-6) and res.num_classes == 10
    x = digits["test"][0][:200]
    real = inception_score(x, digits_cnn, splits=4)
    noise = inception_score(np.random.default_rng(0).random(x.shape).astype("float32"), digits_cnn, splits=4)
    assert real.classifier == "small_cnn:logits" and real.n == 200
    assert real.score > 7.0 > noise.score


def test_plain_feature_functions_are_accepted_and_named(digits):
    x = digits["test"][0][:50]

    def mean_pixels(batch):
        return np.asarray(batch).reshape(len(batch), -1)[:, ::64]

    res = fid(x, _noisy(x, 0.3), mean_pixels)
    assert res.feature_extractor == "mean_pixels" and res.feature_dim == 16 and res.fid > 0


def test_unequal_sizes_and_incomparable_results_are_refused():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 4)), rng.normal(size=(21, 4))
    with pytest.raises(ConfigError, match="20 real and 21 generated"):
        fid_from_features(a, b)
    with pytest.raises(ConfigError, match="20 real and 21 generated"):
        kid_from_features(a, b)
    with pytest.raises(DataError, match="equal D"):
        fid_from_features(a, rng.normal(size=(20, 5)))
    r1 = fid_from_features(a, a, feature_extractor="cnn:features")
    r2 = fid_from_features(a[:10], a[:10], feature_extractor="cnn:features")
    r3 = fid_from_features(a, a, feature_extractor="other:features")
    check_comparable(r1, fid_from_features(a, b[:20], feature_extractor="cnn:features"))
    with pytest.raises(ConfigError, match="sample sizes"):
        check_comparable(r1, r2)
    with pytest.raises(ConfigError, match="feature extractors"):
        check_comparable(r1, r3)
    with pytest.raises(ConfigError, match="splits"):
        inception_score_from_logits(np.zeros((3, 10)), splits=4)


def test_generative_report_on_digits(digits, digits_cnn):
    from tf_featuretest.metrics import generative_report

    x = digits["test"][0][:100]
    rep = generative_report(x, _noisy(x, 0.3), digits_cnn, kid_subset_size=50, is_splits=5)
    assert rep.fid.fid > 0 and rep.kid.kid > 0
    assert rep.inception_score.score < rep.real_inception_score.score
    assert "small_cnn:features" in rep.to_dict()["note"]


def test_cli_train_generative_scores_samples(digits_cnn, tmp_path):
    import json

    import keras
    from click.testing import CliRunner

    from tf_featuretest.cli import cli
    from tf_featuretest.models import ConditionalDCGAN

    clf = str(tmp_path / "cnn.keras")
    digits_cnn.save(clf)
    out, js = str(tmp_path / "gan.keras"), str(tmp_path / "gan.json")
    res = CliRunner().invoke(cli, ["train-generative", "--kind", "dcgan", "--epochs", "1", "--classifier", clf,
                                   "--out", out, "--json", js, "--quiet"])
    assert res.exit_code == 0, res.output
    assert "FID" in res.output and "d_loss" in res.output
    payload = json.load(open(js))
    assert payload["metrics"]["fid"]["n_real"] == payload["metrics"]["fid"]["n_generated"] == 270
    assert payload["metrics"]["fid"]["feature_extractor"] == "small_cnn:features"
    assert isinstance(keras.models.load_model(out), ConditionalDCGAN)
    bad = CliRunner().invoke(cli, ["train-generative", "--kind", "vae", "--classifier", str(tmp_path / "no.keras")])
    assert bad.exit_code == 2 and "model file not found" in bad.output
