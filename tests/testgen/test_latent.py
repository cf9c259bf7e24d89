"""Latent-space and DCGAN test cases: sampling radius, validity checks, results, plots."""
import json
import os

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


@pytest.mark.parametrize("text,want", [("global", ("global", 1.0)), ("local", ("local", 1.0)),
                                       ("0.5local", ("local", 0.5)), (".25global", ("global", 0.25)),
                                       (0.3, ("fixed", 0.3)), ("2", ("fixed", 2.0))])
def test_parse_radius(text, want):
    assert parse_radius(text) == want


@pytest.mark.parametrize("bad", ["nearby", -1, 0, "0local", float("nan")])
def test_parse_radius_rejects(bad):
    with pytest.raises(ConfigError, match="radius"):
        parse_radius(bad)


def test_latent_tests_end_to_end(digits_cnn, small_vae, digits, tmp_path):
    from tf_featuretest.report import feature_plots as fp

    train, test = digits["train"], digits["test"]
    res = latent_tests(digits_cnn, small_vae, train, test, n=60, count=6, radius="0.5local", seed=3)
    again = latent_tests(digits_cnn, small_vae, train, test, n=60, count=6, radius="0.5local", seed=3)
    assert res.num_cases == 60 and len(res.images) == 60 and res.anchors.shape == (10, 32, 32, 1)
    np.testing.assert_array_equal(res.images, again.images)
    np.testing.assert_array_equal(res.valid, again.valid)
    assert res.num_valid == int(res.valid.sum()) and sum(res.per_class_valid) == res.num_valid
    assert res.validity_rate == pytest.approx(res.valid.mean())
    if res.num_valid:
        assert res.accuracy == pytest.approx(np.mean(res.predictions[res.valid] == res.labels[res.valid]))
    # labels come from the anchors
    anchor_labels = np.array([test[1][np.flatnonzero((test[0] == a).all(axis=(1, 2, 3)))[0]] for a in res.anchors])
    np.testing.assert_array_equal(res.labels, anchor_labels[res.anchor_index])
    assert all(np.all(res.failing() != i) for i in np.flatnonzero(~res.valid))
    d = json.loads(json.dumps(res.to_dict()))
    assert d["num_cases"] == 60 and d["radius"]["kind"] == "local" and d["radius"]["factor"] == 0.5
    paths = [fp.plot_generated_gallery(res, str(tmp_path / "gallery.png")),
             fp.plot_failing_cases(res, str(tmp_path / "failing.png")),
             fp.plot_latent_map(*reference_latents(small_vae, *train)[:2], str(tmp_path / "map.png"),
                                generated=(res.latents, res.valid))]
    assert all(os.path.getsize(p) > 1000 for p in paths)


def test_global_radius_is_latent_r(digits_cnn, small_vae, digits):
    from tf_featuretest.testgen.separation import r_separation

    z_train, y_train, _ = reference_latents(small_vae, *digits["train"])
    sep = r_separation(z_train, y_train, norm=2)
    res = latent_tests(digits_cnn, small_vae, digits["train"], digits["test"], n=20, count=5, radius="global",
                       separation=sep)
    np.testing.assert_allclose(res.radius, sep.r, rtol=1e-6)


def test_gan_tests(digits_cnn, small_vae, digits, tmp_path):
    import keras

    from tf_featuretest.models.dcgan import ConditionalDCGAN
    from tf_featuretest.report import feature_plots as fp
    from tf_featuretest.testgen.gan import gan_tests

    keras.utils.set_random_seed(0)
    gan = ConditionalDCGAN((32, 32, 1), num_classes=10, latent_dim=16, seed=0)
    gan.compile()
    x, y = digits["train"]
    gan.fit(tf.data.Dataset.from_tensor_slices((x[:128], y[:128])).batch(64), epochs=1, verbose=0)
    res = gan_tests(digits_cnn, gan, small_vae, digits["train"], n=30, radius="local", seed=1)
    np.testing.assert_array_equal(res.labels, np.arange(30) % 10)
    assert res.source == "dcgan" and res.anchors is None and 0.0 <= res.validity_rate <= 1.0
    # local radius: the latent margin r_i of each case's nearest training point
    z_train, y_train, _ = reference_latents(small_vae, *digits["train"])
    from tf_featuretest.testgen.separation import r_separation
    margins = r_separation(z_train, y_train, norm=2).train_margins
    np.testing.assert_allclose(res.radius, margins[res.anchor_index], rtol=1e-6)
    again = gan_tests(digits_cnn, gan, small_vae, digits["train"], n=30, radius="local", seed=1)
    np.testing.assert_array_equal(res.images, again.images)
    assert os.path.getsize(fp.plot_generated_gallery(res, str(tmp_path / "g.png"))) > 1000
    assert os.path.getsize(fp.plot_failing_cases(res, str(tmp_path / "f.png"))) > 1000
    with pytest.raises(ConfigError, match="n must"):
        gan_tests(digits_cnn, gan, small_vae, digits["train"], n=0)


def test_separation_plots(digits, tmp_path):
    from tf_featuretest.report import feature_plots as fp
    from tf_featuretest.testgen.separation import r_separation

    x, y = digits["train"]
    xt, yt = digits["test"]
    res = r_separation(x[:300], y[:300], x_test=xt[:50], y_test=yt[:50])
    paths = [fp.plot_separation_histograms([res, res], str(tmp_path / "hist.png")),
             fp.plot_closest_pairs(res, x[:300], y[:300], str(tmp_path / "pairs.png"), x_test=xt[:50])]
    assert all(os.path.getsize(p) > 1000 for p in paths)


def test_cli_testgen(digits_cnn, small_vae, tmp_path):
    from click.testing import CliRunner

    from tf_featuretest.cli import cli
    from tf_featuretest.models import save_model_atomic

    model_path = save_model_atomic(digits_cnn, str(tmp_path / "cnn.keras"))
    vae_path = save_model_atomic(small_vae, str(tmp_path / "vae.keras"))
    out = tmp_path / "tg"
    result = CliRunner().invoke(cli, ["testgen", "--model", model_path, "--data", "digits", "--vae", vae_path,
                                      "--radius", "0.5local", "--n", "20", "--count", "5", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "pixel (L-inf)" in result.output and "latent local" in result.output
    payload = json.loads((out / "results.json").read_text())
    assert payload["latent_cases"]["num_cases"] == 20
    pix = payload["separation"]["pixel"]
    assert pix["r"] == pytest.approx(min(pix["train_train_min"], pix["test_train_min"]) / 2)
    assert all(os.path.getsize(p) > 1000 for p in payload["plots"])
    bad = CliRunner().invoke(cli, ["testgen", "--model", model_path, "--vae", vae_path, "--radius", "wide", "-q"])
    assert bad.exit_code == 2 and "radius" in bad.output


def test_requery_equals_generating_again(digits_cnn, digits):
    import keras

    from tf_featuretest.models import build_classifier, train_vae
    from tf_featuretest.testgen.latent import latent_tests, requery

    x, y = digits["train"]
    xs, ys = digits["test"]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(128)
    vae = train_vae(ds, x.shape[1:], latent_dim=4, epochs=1, seed=0)
    keras.utils.set_random_seed(1)
    other = build_classifier("small_cnn", 10, x.shape[1:])  # untrained: answers differ
    kw = dict(n=40, count=4, radius="0.5local", seed=3)
    first = latent_tests(digits_cnn, vae, (x, y), (xs, ys), **kw)
    again = latent_tests(other, vae, (x, y), (xs, ys), **kw)
    reused = requery(first, other)
    np.testing.assert_array_equal(reused.predictions, again.predictions)
    np.testing.assert_array_equal(reused.valid, again.valid)
    assert reused.to_dict() == again.to_dict()
