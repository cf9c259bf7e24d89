"""FGSM, PGD, fooling images, the registry and the attack plots on the trained digits CNN."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.attacks import ATTACKS, fgsm, fgsm_tf, fooling_images, get_attack, pgd, pgd_tf
from tf_featuretest.errors import ConfigError
from tf_featuretest.evaluation import sweep

N = 48


@pytest.fixture(scope="module")
def batch(digits_test_batch):
    x, y = digits_test_batch
    return tf.constant(x[:N]), tf.constant(y[:N])


def _textbook_grad(model, x, y):
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(x, training=False),
                                                                          from_logits=True))
    return tape.gradient(loss, x)


@pytest.mark.parametrize("eps", [0.01, 0.1, 0.3])
def test_fgsm_is_the_textbook_formula_bit_for_bit(digits_cnn, batch, eps):
    x, y = batch
    expected = tf.clip_by_value(x + eps * tf.sign(_textbook_grad(digits_cnn, x, y)), 0.0, 1.0).numpy()
    np.testing.assert_array_equal(fgsm(digits_cnn, x, y, eps=eps).numpy(), expected)
    t = tf.fill(y.shape, tf.constant(3, tf.int64))
    targeted = tf.clip_by_value(x - eps * tf.sign(_textbook_grad(digits_cnn, x, t)), 0.0, 1.0).numpy()
    np.testing.assert_array_equal(fgsm(digits_cnn, x, y, eps=eps, target=3).numpy(), targeted)


def test_pgd_is_the_textbook_iteration(digits_cnn, batch):
    x, y = batch
    eps, a, steps = 0.1, 0.02, 6
    xa = x
    for _ in range(steps):
        xa = tf.clip_by_value(xa + a * tf.sign(_textbook_grad(digits_cnn, xa, y)), x - eps, x + eps)
        xa = tf.clip_by_value(xa, 0.0, 1.0)
    ours = pgd(digits_cnn, x, y, eps=eps, step_size=a, steps=steps, random_start=False)
    np.testing.assert_array_equal(ours.numpy(), xa.numpy())
    exported = tf.function(lambda xb, yb: pgd_tf(digits_cnn, xb, yb, tf.constant(eps), tf.constant(a),
                                                 tf.constant(steps), tf.constant(-1, tf.int64)))(x, y)
    np.testing.assert_array_equal(exported.numpy(), xa.numpy())


def test_fgsm_tf_inside_tf_function_matches(digits_cnn, batch):
    x, y = batch
    fn = tf.function(lambda xb, yb, e, t: fgsm_tf(digits_cnn, xb, yb, e, t))
    out = fn(x, y, tf.constant(0.1), tf.constant(-1, tf.int64))
    np.testing.assert_array_equal(out.numpy(), fgsm(digits_cnn, x, y, eps=0.1).numpy())


@pytest.mark.parametrize("attack,norm", [(fgsm, np.inf), (fgsm, 2), (pgd, np.inf), (pgd, 2)])
def test_eps_zero_returns_x_and_outputs_stay_in_the_ball(digits_cnn, batch, attack, norm):
    x, y = batch
    kw = {"steps": 5, "seed": 0} if attack is pgd else {}
    np.testing.assert_array_equal(attack(digits_cnn, x, y, eps=0.0, norm=norm, **kw).numpy(), x.numpy())
    eps = 0.1 if norm == np.inf else 1.5
    adv = attack(digits_cnn, x, y, eps=eps, norm=norm, **kw).numpy()
    d = (adv - x.numpy()).reshape(N, -1)
    size = np.abs(d).max(1) if norm == np.inf else np.sqrt((d.astype(np.float64) ** 2).sum(1))
    assert size.max() <= eps + 1e-5 and size.max() > 0.5 * eps
    assert adv.min() >= 0.0 and adv.max() <= 1.0


def test_success_rises_with_eps(digits_cnn, batch):
    res = sweep(digits_cnn, (batch[0].numpy(), batch[1].numpy()),
                lambda m, x, y, *, eps, seed: pgd(m, x, y, eps=eps, steps=10, seed=seed), "eps", [0.0, 0.05, 0.1, 0.2])
    assert res.success_rate[0] == 0.0
    assert all(b >= a for a, b in zip(res.success_rate, res.success_rate[1:]))
    assert res.success_rate[-1] > 0.9 and res.accuracy[-1] < res.clean_accuracy


def test_targeted_pgd_hits_the_target_at_eps_03(digits_cnn, batch):
    x, y = batch
    target = (y.numpy() + 1) % 10
    adv = pgd(digits_cnn, x, y, eps=0.3, steps=20, target=target, seed=0)
    pred = digits_cnn.predict(adv, verbose=0).argmax(1)
    assert (pred == target).mean() >= 0.95
    adv3 = pgd(digits_cnn, x, y, eps=0.3, steps=20, target=3, seed=0)
    keep = y.numpy() != 3
    assert (digits_cnn.predict(adv3, verbose=0).argmax(1)[keep] == 3).mean() >= 0.95


def test_same_seed_same_output_and_early_stop(digits_cnn, batch):
    x, y = batch
    a = pgd(digits_cnn, x, y, eps=0.1, steps=5, seed=7).numpy()
    np.testing.assert_array_equal(a, pgd(digits_cnn, x, y, eps=0.1, steps=5, seed=7).numpy())
    assert not np.array_equal(a, pgd(digits_cnn, x, y, eps=0.1, steps=5, seed=8).numpy())
    full = pgd(digits_cnn, x, y, eps=0.2, steps=15, seed=0).numpy()
    early = pgd(digits_cnn, x, y, eps=0.2, steps=15, seed=0, early_stop=True).numpy()
    ok_early = digits_cnn.predict(early, verbose=0).argmax(1) != y.numpy()
    assert ok_early.mean() >= 0.9
    size = lambda v: np.abs(v - x.numpy()).reshape(N, -1).sum(1)  # noqa: E731
    assert size(early).mean() < size(full).mean()


def test_softmax_models_are_attacked_through_their_logits(digits_cnn, batch):
    x, y = batch
    probs = keras.Model(digits_cnn.inputs, keras.layers.Softmax()(digits_cnn.outputs[0]))
    np.testing.assert_array_equal(fgsm(probs, x, y, eps=0.1).numpy(), fgsm(digits_cnn, x, y, eps=0.1).numpy())


def test_fooling_images_reach_99_percent(digits_cnn):
    res = fooling_images(digits_cnn, range(10), seed=0)
    assert res.success.all() and res.confidence.min() >= 0.99
    assert (res.predicted == np.arange(10)).all()
    assert res.images.min() >= 0 and res.images.max() <= 1
    blank = fooling_images(digits_cnn, [4, 4], start="blank", tv_weight=0.0, blur_every=0)
    assert blank.confidence.min() >= 0.99


def test_registry_and_bad_arguments(digits_cnn, batch):
    x, y = batch
    assert {"fgsm", "pgd", "one_pixel"} <= set(ATTACKS) and get_attack("pgd") is pgd
    with pytest.raises(ConfigError, match="nope"):
        get_attack("nope")
    with pytest.raises(ConfigError, match="norm"):
        fgsm(digits_cnn, x, y, eps=0.1, norm=3)
    with pytest.raises(ConfigError, match="-0.5"):
        pgd(digits_cnn, x, y, eps=-0.5)
    with pytest.raises(ConfigError, match="target"):
        fgsm(digits_cnn, x, y, eps=0.1, target=12)
    with pytest.raises(ConfigError, match="4-D"):
        fgsm(digits_cnn, x[0], y[:1], eps=0.1)
    with pytest.raises(ConfigError, match="steps"):
        pgd(digits_cnn, x, y, eps=0.1, steps=0)


def test_attack_plots_write_pngs(digits_cnn, batch, tmp_path):
    from tf_featuretest.report.attack_plots import plot_accuracy_vs_eps, plot_adversarial_triplets, plot_fooling_grid

    x, y = batch
    res = sweep(digits_cnn, (x.numpy()[:16], y.numpy()[:16]), fgsm, "eps", [0.0, 0.1])
    adv = fgsm(digits_cnn, x[:4], y[:4], eps=0.1).numpy()
    pc, pa = digits_cnn.predict(x[:4], verbose=0).argmax(1), digits_cnn.predict(adv, verbose=0).argmax(1)
    fool = fooling_images(digits_cnn, [0, 1], steps=20, seed=0)
    paths = [plot_accuracy_vs_eps({"clean": res}, str(tmp_path / "curve.png")),
             plot_adversarial_triplets(x[:4].numpy(), adv, y[:4].numpy(), pc, pa, str(tmp_path / "trip.png")),
             plot_fooling_grid(fool, str(tmp_path / "fool.png"))]
    for p in paths:
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_attack_prints_a_table_and_writes_json_and_pngs(digits_cnn, tmp_path):
    import json

    from click.testing import CliRunner

    from tf_featuretest.cli import cli

    path = str(tmp_path / "cnn.keras")
    digits_cnn.save(path)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["attack", "--model", path, "--attack", "pgd", "--eps", "0,0.2", "--steps", "5",
                                   "--max-examples", "32", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "accuracy" in res.output and "success" in res.output
    report = json.loads((out / "attack.json").read_text())
    assert report["sweep"]["values"] == [0.0, 0.2] and report["sweep"]["num_examples"] == 32
    assert report["sweep"]["success_rate"][1] > report["sweep"]["success_rate"][0]
    assert (out / "attack_curve.png").stat().st_size > 0 and (out / "attack_examples.png").stat().st_size > 0
    bad = CliRunner().invoke(cli, ["attack", "--model", path, "--attack", "nope", "--quiet"])
    assert bad.exit_code == 2 and "nope" in bad.output
