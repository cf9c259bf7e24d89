"""r-separation: exact against brute-force numpy, for both norms, both modes and the pruned L-inf path."""
import dataclasses
import json

import numpy as np
import pytest

from tf_featuretest.errors import ConfigError, DataError
from tf_featuretest.testgen.separation import nearest_other_class, r_separation


def brute(q, ql, r, rl, norm):
    diff = q[:, None, :].astype(np.float64) - r[None, :, :].astype(np.float64)
    d = np.abs(diff).max(-1) if norm == "inf" else np.sqrt((diff ** 2).sum(-1))
    d[ql[:, None] == rl[None, :]] = np.inf
    return d.min(1), d.argmin(1)


@pytest.mark.parametrize("norm", ["inf", 2])
@pytest.mark.parametrize("dim", [3, 20, 150])  # 150 > 32 takes the pruned L-inf search
def test_matches_brute_force_train_train_and_test_train(norm, dim):
    rng = np.random.default_rng(dim)
    x, y = rng.random((120, dim), dtype=np.float32), rng.integers(0, 4, 120)
    xt, yt = rng.random((30, dim), dtype=np.float32), rng.integers(0, 4, 30)
    res = r_separation(x, y, x_test=xt, y_test=yt, norm=norm, block=700)  # several query blocks
    want, want_i = brute(x, y, x, y, "inf" if norm == "inf" else 2)
    want_t, want_ti = brute(xt, yt, x, y, "inf" if norm == "inf" else 2)
    np.testing.assert_allclose(res.train_distances, want, rtol=1e-5)
    np.testing.assert_allclose(res.test_distances, want_t, rtol=1e-5)
    np.testing.assert_array_equal(res.train_nearest, want_i)
    np.testing.assert_array_equal(res.test_nearest, want_ti)
    assert res.train_train_min == pytest.approx(want.min(), rel=1e-5)
    assert res.test_train_min == pytest.approx(want_t.min(), rel=1e-5)
    assert res.r == pytest.approx(min(want.min(), want_t.min()) / 2, rel=1e-5)
    np.testing.assert_allclose(res.train_margins, want / 2, rtol=1e-5)
    assert np.all(y[res.train_nearest] != y) and np.all(y[res.test_nearest] != yt)


def test_pruned_linf_on_clustered_images_matches_brute_force():
    # Image-like data where pruning removes most pairs: blurred blobs with small noise.
    rng = np.random.default_rng(1)
    centers = rng.random((5, 256), dtype=np.float32)
    y = rng.integers(0, 5, 300)
    x = np.clip(centers[y] + rng.normal(0, 0.05, (300, 256)), 0, 1).astype(np.float32)
    dist, idx = nearest_other_class(x, y, x, y, norm="inf", budget=5000)
    want, want_i = brute(x, y, x, y, "inf")
    np.testing.assert_allclose(dist, want, rtol=1e-6)
    np.testing.assert_array_equal(idx, want_i)


def test_block_size_does_not_change_the_result():
    rng = np.random.default_rng(2)
    x, y = rng.random((90, 64), dtype=np.float32), rng.integers(0, 3, 90)
    small = r_separation(x, y, block=64)
    big = r_separation(x, y, block=2 ** 20)
    np.testing.assert_array_equal(small.train_distances, big.train_distances)
    np.testing.assert_array_equal(small.train_nearest, big.train_nearest)


def test_digits_8x8_min_linf_interclass_distance_is_7_16():
    from tf_featuretest.data import load_arrays

    parts = [load_arrays("digits", s, image_size=(8, 8))[:2] for s in ("train", "validation", "test")]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    assert len(x) == 1797
    res = r_separation(x, y, norm="inf")
    assert res.train_train_min == pytest.approx(0.4375)
    assert res.r == pytest.approx(0.21875)
    top = res.closest_pairs[0]
    assert top.distance == pytest.approx(0.4375) and top.query_label != top.ref_label
    assert np.abs(x[top.query] - x[top.ref]).max() == pytest.approx(0.4375)


def test_encoder_space_and_vae_like_object():
    rng = np.random.default_rng(3)
    x, y = rng.random((80, 6, 6, 1), dtype=np.float32), rng.integers(0, 3, 80)
    proj = rng.normal(size=(36, 5)).astype(np.float32)

    def encoder(images):
        return images.reshape(len(images), -1) @ proj

    class FakeVAE:
        def encode(self, images):
            return encoder(images), np.zeros((len(images), 5), np.float32)

    res = r_separation(x, y, norm=2, space=encoder, batch_size=16)
    res_vae = r_separation(x, y, norm=2, space=FakeVAE())
    want, _ = brute(encoder(x), y, encoder(x), y, 2)
    np.testing.assert_allclose(res.train_distances, want, rtol=1e-5)
    np.testing.assert_array_equal(res.train_distances, res_vae.train_distances)
    assert res.space == "encoder" and res_vae.space == "latent"


def test_distribution_pairs_and_to_dict():
    rng = np.random.default_rng(4)
    x, y = rng.random((60, 10), dtype=np.float32), rng.integers(0, 3, 60)
    x[5] = x[7]  # a cross-label duplicate: distance 0
    y[5], y[7] = 0, 1
    res = r_separation(x, y, x_test=x[:10], y_test=(y[:10] + 1) % 3, num_pairs=5)
    assert res.train_train_min == 0.0 and res.r == 0.0
    tt = [p for p in res.closest_pairs if p.kind == "train-train"]
    assert {tt[0].query, tt[0].ref} == {5, 7} and len(tt) <= 5
    assert len({frozenset((p.query, p.ref)) for p in tt}) == len(tt)  # each unordered pair once
    assert [p.distance for p in tt] == sorted(p.distance for p in tt)
    d = json.loads(json.dumps(res.to_dict()))
    assert sum(d["histogram"]["train"]) == 60 and sum(d["histogram"]["test"]) == 10
    assert d["percentiles"]["train"]["0"] == 0.0 and d["percentiles"]["train"]["100"] == pytest.approx(
        float(res.train_distances.max()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.r = 1.0  # frozen


def test_bad_input():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(DataError, match="two classes"):
        r_separation(x, np.zeros(4, int))
    with pytest.raises(ConfigError, match="norm"):
        r_separation(x, np.array([0, 1, 0, 1]), norm=3)
    with pytest.raises(ConfigError, match="block"):
        r_separation(x, np.array([0, 1, 0, 1]), block=0)
    with pytest.raises(DataError, match="labels"):
        r_separation(x, np.array([0, 1]))
    with pytest.raises(ConfigError, match="space"):
        r_separation(x, np.array([0, 1, 0, 1]), space="latent")
