"""The AdvGAN attack: the digits targets, the bound, argument errors, the exported signature, the CLI."""
import json

import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.attacks import advgan, advgan_family
from tf_featuretest.attacks.advgan import success_rates
from tf_featuretest.errors import ConfigError
from tf_featuretest.export.artifacts import export_attacks
from tf_featuretest.models import build_classifier
from tf_featuretest.models.advgan import AdvGAN, train_advgan


@pytest.fixture(scope="module")
def default_generator(digits, digits_cnn):
    """The pipeline's default pixel generator: eps 0.3, untargeted and targeted, 5 epochs on the training split."""
    import keras

    x, y = digits["train"]
    keras.utils.set_random_seed(0)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=0).batch(64)
    return train_advgan(digits_cnn, ds, eps=0.3, mode="both", epochs=5, seed=0)


def test_digits_targets_on_test_images_the_generator_never_saw(digits, digits_cnn, default_generator):
    xt, yt = digits["test"]
    rates = success_rates(digits_cnn, default_generator, xt, yt)
    # independent count of the untargeted success with the model's own predict
    adv = advgan(digits_cnn, xt, yt, eps=0.3, generator=default_generator).numpy()
    clean = digits_cnn.predict(xt, verbose=0).argmax(1) == yt
    after = digits_cnn.predict(adv, verbose=0).argmax(1)
    assert rates["untargeted"] == pytest.approx((clean & (after != yt)).sum() / clean.sum())
    assert rates["untargeted"] >= 0.9, rates
    assert rates["targeted_mean"] >= 0.8, rates
    assert np.abs(adv.astype(np.float64) - xt).max() <= 0.3 and adv.min() >= 0 and adv.max() <= 1


def test_per_image_targets_and_smaller_budgets(digits, digits_cnn, digits_advgan):
    x, y = digits["test"][0][:40], digits["test"][1][:40]
    target = (y + 1) % 10
    adv = advgan(digits_cnn, x, y, eps=0.3, target=target, generator=digits_advgan).numpy()
    one_by_one = np.concatenate([advgan(digits_cnn, x[i:i + 1], y[i:i + 1], eps=0.3, target=int(target[i]),
                                        generator=digits_advgan).numpy() for i in range(0, 40, 7)])
    np.testing.assert_allclose(adv[::7], one_by_one, atol=1e-6)
    small = advgan(digits_cnn, x, y, eps=0.05, generator=digits_advgan).numpy()
    assert np.abs(small.astype(np.float64) - x).max() <= 0.05


def test_argument_errors_name_the_value(digits, digits_cnn, digits_advgan):
    x, y = digits["test"][0][:4], digits["test"][1][:4]
    with pytest.raises(ConfigError, match="generator"):
        advgan(digits_cnn, x, y, eps=0.1)
    with pytest.raises(ConfigError, match="AdvGAN"):
        advgan(digits_cnn, x, y, eps=0.1, generator=digits_cnn)
    with pytest.raises(ConfigError, match="eps"):
        advgan(digits_cnn, x, y, eps=1.5, generator=digits_advgan)
    with pytest.raises(ConfigError, match="target"):
        advgan(digits_cnn, x, y, eps=0.1, target=10, generator=digits_advgan)
    with pytest.raises(ConfigError, match="family"):
        advgan_family(digits_cnn, x, y, severity=0.2, generator=digits_advgan)
    with pytest.raises(ConfigError, match="classes"):
        advgan(build_classifier("small_cnn", 3, (32, 32, 1)), x, y % 3, eps=0.1, generator=digits_advgan)
    with pytest.raises(ConfigError, match="images"):
        advgan(digits_cnn, np.zeros((2, 16, 16, 1), np.float32), y[:2], eps=0.1, generator=digits_advgan)
    rows = AdvGAN(digits_cnn, family="black_rows", severity=0.2, seed=0)
    with pytest.raises(ConfigError, match="family"):
        advgan(digits_cnn, x, y, eps=0.1, generator=rows)
    out = advgan_family(digits_cnn, x, y, severity=0.2, generator=rows).numpy()
    assert ((out == 0).all(axis=(2, 3)).sum(1) >= round(0.8 * 0.2 * 32)).all()  # the black rows


@pytest.mark.parametrize("mode", ["both", "untargeted"])
def test_exported_signature_equals_the_in_process_call(tmp_path, digits, digits_cnn, digits_advgan, mode):
    gen = digits_advgan if mode == "both" else AdvGAN(digits_cnn, eps=0.2, seed=3)
    res = export_attacks(digits_cnn, str(tmp_path), "digits", advgan=gen)
    assert "advgan" in res.to_dict()["signatures"]
    loaded = tf.saved_model.load(res.path)
    sig = loaded.signatures["advgan"]
    x, y = digits["test"][0][:24], digits["test"][1][:24]
    predict = digits_cnn.predict
    if mode == "both":
        for t in (-1, 4):
            out = sig(image=tf.constant(x), target=tf.constant(t, tf.int64))
            want = advgan(digits_cnn, x, y, eps=gen.budget, target=None if t < 0 else t, generator=gen).numpy()
            np.testing.assert_allclose(out["adversarial"].numpy(), want, atol=1e-6)
            np.testing.assert_array_equal(out["predicted"].numpy(), predict(want, verbose=0).argmax(1))
    else:
        assert set(sig.structured_input_signature[1]) == {"image"}
        out = sig(image=tf.constant(x))
        want = advgan(digits_cnn, x, y, eps=gen.budget, generator=gen).numpy()
        np.testing.assert_allclose(out["adversarial"].numpy(), want, atol=1e-6)
        np.testing.assert_array_equal(out["predicted"].numpy(), predict(want, verbose=0).argmax(1))


def test_cli_trains_a_generator_and_attacks_with_it(tmp_path, digits_cnn):
    from click.testing import CliRunner

    from tf_featuretest.cli import cli
    from tf_featuretest.models import save_model_atomic

    model = save_model_atomic(digits_cnn, str(tmp_path / "cnn.keras"))
    gen, report = str(tmp_path / "g.keras"), str(tmp_path / "g.json")
    run = CliRunner().invoke
    res = run(cli, ["train-generative", "--kind", "advgan", "--model", model, "--eps", "0.3", "--epochs", "1",
                    "--out", gen, "--json", report, "--quiet"])
    assert res.exit_code == 0, res.output
    payload = json.loads(open(report).read())
    assert 0.0 <= payload["success"]["untargeted"] <= 1.0 and len(payload["success"]["targeted"]) == 10
    assert payload["seconds"] > 0 and "untargeted success" in res.output
    out = tmp_path / "att"
    res = run(cli, ["attack", "--model", model, "--attack", "advgan", "--generator", gen, "--eps", "0.1,0.3",
                    "--max-examples", "40", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    sweep = json.loads((out / "attack.json").read_text())
    assert sweep["settings"]["generator"] == gen
    assert max(sweep["sweep"]["mean_linf"]) <= 0.3
    res = run(cli, ["attack", "--model", model, "--attack", "advgan", "--eps", "0.1", "--quiet"])
    assert res.exit_code == 2 and "needs --generator" in res.output
    res = run(cli, ["attack", "--model", model, "--attack", "pgd", "--generator", gen, "--eps", "0.1", "--quiet"])
    assert res.exit_code == 2 and "takes no --generator" in res.output
    res = run(cli, ["train-generative", "--kind", "advgan", "--out", gen, "--quiet"])
    assert res.exit_code == 2 and "needs --model" in res.output
