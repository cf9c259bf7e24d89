"""The pure-TensorFlow latent sampler (export, callback), radius parsing, and latent cases judged by the checker."""

import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.errors import ConfigError
from tf_featuretest.testgen.latent import (
    latent_tests,
    parse_radius,
    reference_latents,
    sample_ball_tf,
    sample_latent_tests_tf,
)


@pytest.fixture(scope="session")
def small_vae(digits):
    import keras

    from tf_featuretest.models.vae import VAE

    keras.utils.set_random_seed(0)
    vae = VAE((32, 32, 1), latent_dim=8, filters=(16, 32), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(2e-3))
    x, _ = digits["train"]
    vae.fit(x, epochs=6, batch_size=64, verbose=0)
    return vae


@pytest.fixture(scope="session")
def reference(small_vae, digits):
    x, y = digits["train"]
    return reference_latents(small_vae, x, y, elbo_percentile=1.0)


def test_sample_ball_within_radius_and_seeded():
    centers = tf.constant(np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32))
    radius = tf.constant([0.1, 0.5, 1.0, 2.0, 0.01])
    pts = sample_ball_tf(centers, 40, radius, 3).numpy()
    dist = np.linalg.norm(pts - np.repeat(centers.numpy(), 40, axis=0), axis=1)
    assert pts.shape == (200, 7)
    assert np.all(dist <= np.repeat(radius.numpy(), 40) * (1 + 1e-5))
    assert dist[40:80].max() > 0.3  # fills the ball, not just its centre
    np.testing.assert_array_equal(pts, sample_ball_tf(centers, 40, radius, 3).numpy())
    assert not np.array_equal(pts, sample_ball_tf(centers, 40, radius, 4).numpy())


def test_sample_latent_tests_within_radius_and_checks(small_vae, reference, digits):
    z_train, y_train, threshold = reference
    x, y = digits["test"]
    out = sample_latent_tests_tf(small_vae, x[:6], y[:6], tf.constant(5), tf.constant(0.4), tf.constant(1),
                                 z_train, y_train, tf.constant(threshold))
    z_anchor = np.asarray(small_vae.encode(x[:6])[0])
    dist = np.linalg.norm(out["sampled"].numpy() - np.repeat(z_anchor, 5, axis=0), axis=1)
    assert np.all(dist <= 0.4 + 1e-5)
    assert out["images"].shape == (30, 32, 32, 1)
    np.testing.assert_array_equal(out["labels"].numpy(), np.repeat(y[:6], 5))
    want = out["nearest_ok"].numpy() & out["reencode_ok"].numpy() & out["elbo_ok"].numpy()
    np.testing.assert_array_equal(out["valid"].numpy(), want)
    np.testing.assert_array_equal(out["reencode_ok"].numpy(), out["reencode_distance"].numpy() <= 0.4)
    np.testing.assert_array_equal(out["elbo_ok"].numpy(), out["elbo"].numpy() >= threshold)


def test_validity_flags_a_mislabelled_anchor(small_vae, reference, digits):
    z_train, y_train, threshold = reference
    x, y = digits["test"]
    true = sample_latent_tests_tf(small_vae, x[:40], y[:40], 4, 1.0, 0, z_train, y_train, threshold)
    wrong = sample_latent_tests_tf(small_vae, x[:40], (y[:40] + 1) % 10, 4, 1.0, 0, z_train, y_train, threshold)
    # Same images, same re-encoding and ELBO; only the nearest-label check sees the wrong label.
    np.testing.assert_array_equal(true["images"].numpy(), wrong["images"].numpy())
    assert wrong["nearest_ok"].numpy().mean() < 0.2 < true["nearest_ok"].numpy().mean()
    assert wrong["valid"].numpy().mean() < true["valid"].numpy().mean()
    assert not np.any(wrong["valid"].numpy() & (wrong["nearest_label"].numpy() != wrong["labels"].numpy()))


def test_sample_latent_tests_in_tf_function_matches_eager(small_vae, reference, digits):
    z_train, y_train, threshold = reference
    x, y = digits["test"]
    fn = tf.function(lambda a, b, c, r, s: sample_latent_tests_tf(small_vae, a, b, c, r, s, z_train, y_train,
                                                                  threshold))
    args = (tf.constant(x[:3]), tf.constant(y[:3]), tf.constant(2), tf.constant(0.3), tf.constant(7))
    graph, eager = fn(*args), sample_latent_tests_tf(small_vae, *args, z_train, y_train, threshold)
    np.testing.assert_allclose(graph["images"].numpy(), eager["images"].numpy(), atol=1e-5)
    np.testing.assert_array_equal(graph["valid"].numpy(), eager["valid"].numpy())


@pytest.mark.parametrize("text,want", [("global", ("global", 1.0)), ("local", ("local", 1.0)), ("found", ("found", 1.0)),
                                       ("0.8found", ("found", 0.8)),
                                       ("0.5local", ("local", 0.5)), (".25global", ("global", 0.25)),
                                       (0.3, ("fixed", 0.3)), ("2", ("fixed", 2.0))])
def test_parse_radius(text, want):
    assert parse_radius(text) == want


@pytest.mark.parametrize("bad", ["nearby", -1, 0, "0local", float("nan")])
def test_parse_radius_rejects(bad):
    with pytest.raises(ConfigError, match="radius"):
        parse_radius(bad)


def _lt(model, vae, checker, digits, **kw):
    from tf_featuretest.data.subset import stratified_indices

    xs, ys = digits["test"]
    order = stratified_indices(ys, None, seed=0)
    args = dict(num_anchors=20, per_anchor=5, seed=1, pool_index=order)
    args.update(kw)
    return latent_tests(model, vae, checker, digits["train"], (xs[order], ys[order]), **args)


def test_latent_tests_found_radii(digits_cnn, checker_vae, checker, digits):
    lt = _lt(digits_cnn, checker_vae, checker, digits)
    c, s = lt.cases, lt.cases.summary()
    xs, ys = digits["test"]
    assert len(c) == 5 * len(lt.anchor_index) and len(lt.anchor_index) == 20
    assert np.bincount(lt.anchor_labels, minlength=10).tolist() == [2] * 10  # skipped anchors were replaced
    # labels come from the anchors; anchors are real test images at the recorded indices
    np.testing.assert_array_equal(c.labels, ys[c.anchor])
    np.testing.assert_array_equal(lt.anchor_images, xs[lt.anchor_index])
    # every case lies in its anchor's ball of the found radius, and the radius is at most the margin
    z_of = dict(zip(lt.anchor_index.tolist(), lt.anchor_latents))
    dist = np.linalg.norm(c.latent - np.stack([z_of[a] for a in c.anchor]), axis=1)
    assert np.all(dist <= c.radius * (1 + 1e-5))
    assert np.all(lt.anchor_radius <= lt.margins * (1 + 1e-6)) and np.all(lt.anchor_radius > 0)
    # the margin r_i is half the latent distance to the nearest training point of another class (brute force)
    z_train = np.asarray(checker_vae.encode(digits["train"][0])[0])
    za = np.asarray(checker_vae.encode(lt.anchor_images)[0])
    d = np.linalg.norm(za[:, None] - z_train[None], axis=2)
    d[lt.anchor_labels[:, None] == digits["train"][1][None]] = np.inf
    np.testing.assert_allclose(lt.margins, d.min(axis=1) / 2, rtol=1e-4)
    # valid = in distribution and kept, recomputed from the checker
    again = checker.check(c.images, c.labels)
    np.testing.assert_array_equal(c.valid, again.in_distribution & again.kept)
    assert s["num_valid"] == int(c.valid.sum()) and sum(s["per_class_valid"]) == s["num_valid"]
    assert s["yield"] >= 0.6  # found radii keep at least the target share valid, in expectation
    assert min(s["per_class_valid"]) >= 0.5 * s["num_valid"] / 10  # no class starved
    np.testing.assert_array_equal(c.predictions, np.argmax(digits_cnn.predict(c.images, verbose=0), axis=1))
    same = _lt(digits_cnn, checker_vae, checker, digits)
    np.testing.assert_array_equal(same.cases.images, c.images)
    np.testing.assert_array_equal(same.cases.case_ids, c.case_ids)
    assert len(set(c.case_ids.tolist())) == len(c)
    d = lt.to_dict()
    assert d["radius"]["kind"] == "found" and d["anchors"]["per_class"] == [2] * 10


def test_a_mislabelled_anchor_gives_no_valid_case(digits_cnn, checker_vae, checker, digits):
    """Anchors given a wrong label: their reconstructions are not valid, so no radius and no cases."""
    xs, ys = digits["test"]
    pick = np.concatenate([np.flatnonzero(ys == k)[:2] for k in range(10)])
    wrong = (ys[pick] + 3) % 10
    lt = latent_tests(digits_cnn, checker_vae, checker, digits["train"], (xs[pick], wrong), num_anchors=20,
                      per_anchor=5, seed=0)
    assert len(lt.cases) == 0 and lt.cases.summary()["num_valid"] == 0
    assert not lt.radii.reconstruction_valid.any()
    # the same anchors with their true labels do give valid cases
    right = latent_tests(digits_cnn, checker_vae, checker, digits["train"], (xs[pick], ys[pick]), num_anchors=20,
                         per_anchor=5, seed=0)
    assert right.cases.valid.sum() > 50
    # and sampling around them with the wrong label at a fixed radius gives no valid case either
    fixed = latent_tests(digits_cnn, checker_vae, checker, digits["train"], (xs[pick], ys[pick]), num_anchors=20,
                         per_anchor=5, radius="0.5local", seed=0)
    relabelled = checker.check(fixed.cases.images, (fixed.cases.labels + 3) % 10)
    assert relabelled.valid.sum() == 0


def test_given_radius_is_the_margin_fraction(digits_cnn, checker_vae, checker, digits):
    lt = _lt(digits_cnn, checker_vae, checker, digits, radius="0.5local", num_anchors=10)
    np.testing.assert_allclose(lt.anchor_radius, 0.5 * lt.margins, rtol=1e-6)
    fixed = _lt(digits_cnn, checker_vae, checker, digits, radius=0.3, num_anchors=10)
    np.testing.assert_allclose(fixed.cases.radius, 0.3, rtol=1e-6)
