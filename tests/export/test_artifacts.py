"""SavedModel export: round trips through tf.saved_model.load and saved_model_cli, versioning, atomicity."""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest import export
from tf_featuretest.attacks.perceptual import perceptual
from tf_featuretest.errors import ConfigError, ModelError
from tf_featuretest.export.signatures import PERCEPTUAL_STEPS
from tf_featuretest.models import as_logits_model, feature_model, load_classifier, save_model_atomic

NAMES = [f"digit_{i}" for i in range(10)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, digits, digits_cnn):
    """Classifier and attacks of the digits CNN exported once under a fresh root."""
    from tf_featuretest.attacks.feature_space import class_centroids
    from tf_featuretest.models.dcgan import ConditionalDCGAN
    from tf_featuretest.models.vae import VAE

    root = str(tmp_path_factory.mktemp("saved_models"))
    x, y = digits["train"]
    cents = class_centroids(digits_cnn, x[:400], y[:400], k=1, seed=0)
    keras.utils.set_random_seed(0)
    gan = ConditionalDCGAN((32, 32, 1), num_classes=10, latent_dim=16, seed=0)
    out = {
        "root": root,
        "classifier": export.export_classifier(digits_cnn, root, "digits", class_names=NAMES, separation_radius=0.25),
        "attacks": export.export_attacks(digits_cnn, root, "digits", class_names=NAMES, centroids=cents),
        "generator": export.export_generator(gan, root, "digits", class_names=NAMES),
        "centroids": cents, "gan": gan,
    }
    vae = VAE((32, 32, 1), latent_dim=4, filters=(8, 16), seed=0)
    vae(x[:2])
    out["vae"] = export.export_vae(vae, root, "digits", train_images=x[:300], train_labels=y[:300],
                                   class_names=NAMES, separation_radius=0.25)
    out["vae_model"] = vae
    return out


def test_classifier_round_trip(exported, digits_cnn, digits_test_batch):
    loaded, meta = export.load_artifact(os.path.join(exported["root"], "digits"), "classifier")
    x = digits_test_batch[0][:16]
    out = loaded.signatures["serving_default"](image=tf.constant(x))
    logits = digits_cnn(x, training=False).numpy()
    np.testing.assert_allclose(out["logits"].numpy(), logits, atol=1e-5)
    np.testing.assert_allclose(out["probabilities"].numpy(), tf.nn.softmax(logits).numpy(), atol=1e-6)
    top = out["top_k_classes"].numpy()
    assert top.shape == (16, 5) and out["top_k_classes"].dtype == tf.int32
    np.testing.assert_array_equal(top[:, 0], logits.argmax(1))
    assert [n.decode() for n in out["top_k_names"].numpy()[:, 0]] == [NAMES[i] for i in logits.argmax(1)]
    assert np.all(np.diff(out["top_k_probabilities"].numpy(), axis=1) <= 0)
    feats = loaded.signatures["features"](image=tf.constant(x))["features"].numpy()
    np.testing.assert_allclose(feats, feature_model(digits_cnn)(x).numpy(), atol=1e-5)
    assert meta["class_names"] == NAMES and meta["image_shape"] == [32, 32, 1]


def test_metadata_and_assets(exported):
    res = exported["classifier"]
    meta = json.load(open(os.path.join(res.path, "assets", "metadata.json")))
    assert {"pipeline", "artifact", "image_shape", "class_names", "separation_radius",
            "tf_featuretest_version"} <= set(meta)
    assert meta["pipeline"] == "digits" and meta["artifact"] == "classifier"
    assert meta["separation_radius"] == pytest.approx(0.25)
    assert open(os.path.join(res.path, "assets", "class_names.txt")).read().splitlines() == NAMES
    loaded, _ = export.load_artifact(exported["root"], "classifier", pipeline="digits")
    assert float(loaded.separation_radius[0].numpy()) == pytest.approx(0.25)
    assert res.to_dict()["signatures"] == ["serving_default", "features"]
    assert res.variable_bytes > 2_000_000 and res.size_bytes < 1.2 * res.variable_bytes


def test_versions_never_overwrite(exported, digits_cnn):
    res1 = exported["classifier"]
    pb = open(os.path.join(res1.path, "saved_model.pb"), "rb").read()
    res2 = export.export_classifier(digits_cnn, exported["root"], "digits", class_names=NAMES)
    assert (res1.version, res2.version) == (1, 2)
    assert export.latest_version(os.path.join(exported["root"], "digits"), "classifier") == 2
    assert open(os.path.join(res1.path, "saved_model.pb"), "rb").read() == pb
    _, meta1 = export.load_artifact(exported["root"], "classifier", 1, pipeline="digits")
    _, meta2 = export.load_artifact(exported["root"], "classifier", pipeline="digits")
    assert meta1["separation_radius"] == pytest.approx(0.25) and meta2["separation_radius"] is None
    with pytest.raises(ModelError, match="version 7"):
        export.load_artifact(exported["root"], "classifier", 7, pipeline="digits")


def test_failed_export_leaves_nothing(exported, digits_cnn, monkeypatch):
    folder = os.path.join(exported["root"], "digits", "classifier")
    before = sorted(os.listdir(folder))

    def broken(path, metadata, class_names):
        assert os.path.isfile(os.path.join(path, "saved_model.pb"))  # the SavedModel itself was written
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(export.layout, "write_assets", broken)
    with pytest.raises(OSError, match="simulated"):
        export.export_classifier(digits_cnn, exported["root"], "digits", class_names=NAMES)
    assert sorted(os.listdir(folder)) == before


@pytest.mark.parametrize("bad, match", [
    (dict(class_names=["a", "b"]), "2 class names"),
    (dict(pipeline="../up"), "pipeline name"),
    (dict(class_names=[f"c{i}" if i else "two\nlines" for i in range(10)]), "single lines"),
    (dict(top_k=0), "top_k"),
])
def test_bad_arguments(tmp_path, digits_cnn, bad, match):
    kw = {"pipeline": "digits", **bad}
    with pytest.raises(ConfigError, match=match):
        export.export_classifier(digits_cnn, str(tmp_path), **kw)
    assert not os.path.exists(tmp_path / "digits" / "classifier" / "1")
    with pytest.raises(ModelError, match="no exported"):
        export.load_artifact(str(tmp_path / "digits"), "vae")


def test_users_own_keras_files(tmp_path):
    """A functional model saved as .keras, and a Sequential softmax model, export and round-trip."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((20, 24, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dense(6, activation="tanh", name="embedding")(h)
    functional = keras.Model(inp, keras.layers.Dense(3)(h))
    path = save_model_atomic(functional, str(tmp_path / "mine.keras"))
    mine = load_classifier(path)
    seq = keras.Sequential([keras.Input((20, 24, 3)), keras.layers.Flatten(), keras.layers.Dense(8, activation="relu"),
                            keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(0).random((5, 20, 24, 3), dtype=np.float32)
    for model, layer in ((mine, "embedding"), (seq, None)):
        res = export.export_classifier(model, str(tmp_path), "mine", class_names=["cat", "dog", "owl"],
                                       feature_layer=layer)
        loaded, meta = export.load_artifact(str(tmp_path / "mine"), "classifier", res.version)
        out = loaded.signatures["serving_default"](image=tf.constant(x))
        np.testing.assert_allclose(out["logits"].numpy(), as_logits_model(model)(x).numpy(), atol=1e-5)
        np.testing.assert_allclose(out["probabilities"].numpy(), tf.nn.softmax(as_logits_model(model)(x)).numpy()
                                   if model is mine else model(x).numpy(), atol=1e-5)
        assert out["top_k_names"].shape == (5, 3) and meta["image_shape"] == [20, 24, 3]
        feats = loaded.signatures["features"](image=tf.constant(x))["features"]
        assert feats.shape == (5, 6 if model is mine else 8)


def test_attacks_round_trip(exported, digits_cnn, digits_test_batch):
    from tf_featuretest.attacks import fgsm, pgd
    from tf_featuretest.attacks.feature_space import feature_space

    loaded, meta = export.load_artifact(exported["root"], "attacks", pipeline="digits")
    x, y = digits_test_batch[0][:32], digits_test_batch[1][:32]
    sig = loaded.signatures
    for target in (-1, 3):
        out = sig["fgsm"](image=tf.constant(x), label=tf.constant(y), eps=tf.constant(0.1),
                          target=tf.constant(target, tf.int64))
        ref = fgsm(digits_cnn, x, y, eps=0.1, target=None if target < 0 else target).numpy()
        np.testing.assert_array_equal(out["adversarial"].numpy(), ref)  # exactly equal
        np.testing.assert_array_equal(out["predicted"].numpy(), digits_cnn(ref).numpy().argmax(1))
    out = sig["pgd"](image=tf.constant(x), label=tf.constant(y), eps=tf.constant(0.1), step_size=tf.constant(0.02),
                     steps=tf.constant(10), target=tf.constant(-1, tf.int64))
    ref = pgd(digits_cnn, x, y, eps=0.1, step_size=0.02, steps=10, random_start=False).numpy()
    assert np.mean(out["adversarial"].numpy() == ref) > 0.999
    assert np.abs(out["adversarial"].numpy() - x).max() <= 0.1 + 1e-6
    assert np.mean(out["predicted"].numpy() == y) < 0.5
    out = sig["feature_space"](image=tf.constant(x[:8]), target=tf.constant(3, tf.int64), eps=tf.constant(0.2))
    ref = feature_space(digits_cnn, x[:8], y[:8], target=3, eps=0.2, centroids=exported["centroids"], steps=60)
    np.testing.assert_allclose(out["adversarial"].numpy(), np.asarray(ref), atol=1e-5)
    assert np.all((out["confidence"].numpy() > 0) & (out["confidence"].numpy() <= 1))
    assert meta["signatures"] == ["fgsm", "pgd", "perceptual", "cw", "ddn", "feature_space", "serving_default"]
    # the exported perceptual look-alike is the in-process attack at the exported settings
    out = sig["perceptual"](image=tf.constant(x[:4]), target=tf.constant(8, tf.int64), cap=tf.constant(1.0))
    ref = perceptual(digits_cnn, x[:4], y[:4], target=8, steps=PERCEPTUAL_STEPS).numpy()
    np.testing.assert_allclose(out["adversarial"].numpy(), ref, atol=1e-4)
    out = sig["ddn"](image=tf.constant(x[:4]), target=tf.constant(8, tf.int64), cap=tf.constant(0.1))
    assert np.abs(out["adversarial"].numpy() - x[:4]).max() <= 0.1 + 1e-6  # the cap clips the answer


def test_saved_model_cli_show_and_run(exported, tmp_path, digits_test_batch):
    """The real ``saved_model_cli`` (as TF Serving reads a SavedModel): ``show --all`` and ``run``."""
    attacks = exported["attacks"].path
    np.save(tmp_path / "x.npy", digits_test_batch[0][:4])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    show = subprocess.run(["saved_model_cli", "show", "--all", "--dir", attacks], capture_output=True, text=True,
                          env=env, check=True).stdout
    for name in ("fgsm", "pgd", "feature_space", "serving_default"):
        assert f"signature_def['{name}']" in show
    assert "inputs['eps'] tensor_info:\n        dtype: DT_FLOAT\n        shape: ()" in show
    labels = [int(v) for v in digits_test_batch[1][:4]]
    run = subprocess.run(["saved_model_cli", "run", "--dir", attacks, "--tag_set", "serve", "--signature_def", "fgsm",
                          "--inputs", f"image={tmp_path / 'x.npy'}", "--input_exprs",
                          f"label={labels};eps=0.1;target=-1", "--outdir", str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, check=True)
    assert "Result for output key predicted" in run.stdout
    adv = np.load(tmp_path / "out" / "adversarial.npy")
    assert adv.shape == (4, 32, 32, 1) and np.abs(adv - digits_test_batch[0][:4]).max() <= 0.1 + 1e-6


def test_every_signature_runs_in_saved_model_cli(exported, tmp_path, digits_test_batch):
    """Every signature of every artifact through saved_model_cli's own run path, in one subprocess."""
    feeds = {
        "classifier": {"serving_default": {"image": "X"}, "features": {"image": "X"}},
        "attacks": {"fgsm": {"image": "X", "label": "Y", "eps": 0.1, "target": -1},
                    "pgd": {"image": "X", "label": "Y", "eps": 0.1, "step_size": 0.02, "steps": 5, "target": 2},
                    "feature_space": {"image": "X", "target": 4, "eps": 0.2}},
        "generator": {"generate": {"labels": "Y", "seed": 3}},
        "vae": {"encode": {"image": "X"}, "decode": {"z": [[0.0] * 4, [0.5] * 4]},
                "sample_tests": {"anchors": "X", "anchor_labels": "Y", "count": 2, "radius": 0.5, "seed": 1}},
    }
    np.save(tmp_path / "x.npy", digits_test_batch[0][:3])
    np.save(tmp_path / "y.npy", digits_test_batch[1][:3])
    script = textwrap.dedent(f"""
        import json, os, numpy as np
        from tensorflow.python.tools import saved_model_cli as smc
        x, y = np.load({str(tmp_path / 'x.npy')!r}), np.load({str(tmp_path / 'y.npy')!r})
        feeds = json.loads({json.dumps(json.dumps(feeds))})
        for artifact, sigs in feeds.items():
            path = os.path.join({exported['root']!r}, "digits", artifact, "1")
            for sig, feed in sigs.items():
                feed = {{k: x if v == "X" else y if v == "Y" else np.asarray(v) for k, v in feed.items()}}
                out = os.path.join({str(tmp_path)!r}, artifact, sig)
                smc.run_saved_model_with_feed_dict(path, "serve", sig, feed, out, True)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    for artifact, sigs in feeds.items():
        for sig in sigs:
            files = os.listdir(tmp_path / artifact / sig)
            assert files, f"{artifact}/{sig} wrote no outputs"
    assert np.load(tmp_path / "classifier" / "serving_default" / "top_k_names.npy", allow_pickle=True).shape == (3, 5)
    pgd_pred = np.load(tmp_path / "attacks" / "pgd" / "predicted.npy")
    assert pgd_pred.dtype == np.int64 and pgd_pred.shape == (3,)


def test_generator_round_trip(exported):
    loaded, meta = export.load_artifact(exported["root"], "generator", pipeline="digits")
    labels = np.array([0, 3, 9, 3], np.int64)
    out = loaded.signatures["generate"](labels=tf.constant(labels), seed=tf.constant(5))["images"].numpy()
    ref = exported["gan"].generate(labels, seed=5).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert out.shape == (4, 32, 32, 1) and out.min() >= 0 and out.max() <= 1
    again = loaded.signatures["generate"](labels=tf.constant(labels), seed=tf.constant(5))["images"].numpy()
    np.testing.assert_array_equal(out, again)
    assert meta["latent_dim"] == 16 and meta["class_names"] == NAMES


def test_vae_round_trip(exported, digits_test_batch):
    loaded, meta = export.load_artifact(exported["root"], "vae", pipeline="digits")
    vae = exported["vae_model"]
    x, y = digits_test_batch[0][:6], digits_test_batch[1][:6]
    enc = loaded.signatures["encode"](image=tf.constant(x))
    z_mean, z_log_var = vae.encode(x)
    np.testing.assert_allclose(enc["z_mean"].numpy(), np.asarray(z_mean), atol=1e-5)
    np.testing.assert_allclose(enc["z_log_var"].numpy(), np.asarray(z_log_var), atol=1e-5)
    dec = loaded.signatures["decode"](z=enc["z_mean"])["image"].numpy()
    np.testing.assert_allclose(dec, np.asarray(vae.decode(z_mean)), atol=1e-5)
    out = loaded.signatures["sample_tests"](anchors=tf.constant(x), anchor_labels=tf.constant(y),
                                            count=tf.constant(3), radius=tf.constant(0.5), seed=tf.constant(1))
    assert out["images"].shape == (18, 32, 32, 1) and out["valid"].dtype == tf.bool
    np.testing.assert_array_equal(np.sort(out["labels"].numpy()), np.sort(np.repeat(y, 3)))
    assert meta["separation_radius"] == pytest.approx(0.25) and meta["latent_dim"] == 4


def test_cli_export(tmp_path, digits_cnn, exported):
    from click.testing import CliRunner

    from tf_featuretest.cli import cli

    path = save_model_atomic(digits_cnn, str(tmp_path / "mine.keras"))
    gan_path = str(tmp_path / "gan.keras")
    exported["gan"].save(gan_path)
    runner = CliRunner()
    res = runner.invoke(cli, ["export", "--model", path, "--pipeline", "cli", "--root", str(tmp_path / "sm"),
                              "--generator", gan_path, "--data", "digits", "--out", str(tmp_path / "e.json"), "-q"])
    assert res.exit_code == 0, res.output
    assert "classifier" in res.output and "feature_space" in res.output
    summary = json.load(open(tmp_path / "e.json"))["exports"]
    assert [e["artifact"] for e in summary] == ["classifier", "attacks", "generator"]
    assert all(e["version"] == 1 for e in summary)
    _, meta = export.load_artifact(str(tmp_path / "sm" / "cli"), "attacks")
    assert meta["class_names"] == [str(i) for i in range(10)] and "feature_space" in meta["signatures"]
    bad = runner.invoke(cli, ["export", "--model", str(tmp_path / "missing.keras")])
    assert bad.exit_code == 2 and "not found" in bad.output
    bad = runner.invoke(cli, ["export", "--model", path, "--vae", gan_path, "--data", "digits", "--root",
                              str(tmp_path / "sm2")])
    assert bad.exit_code == 2 and "not a vae" in bad.output
