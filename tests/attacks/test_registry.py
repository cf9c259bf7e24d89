"""Property tests over every registered attack (Foolbox-style): the contract every attack promises.

For each attack in the registry: a zero budget returns the input; outputs stay in [0, 1] and inside
the budget; the same seed gives the same output; targeted attacks reach their target. New attacks
get these tests by registering themselves, with a row in ``SETTINGS`` for a fast configuration.
"""
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.attacks import SPECS, class_centroids
from tf_featuretest.errors import ConfigError

N = 16
#: fast settings per attack, and the targeted success each must reach at eps 0.3 (None: not asked)
SETTINGS = {
    "fgsm": ({}, None),
    "pgd": ({"steps": 20}, 0.9),
    "feature_space": ({"steps": 40}, 0.8),
    "one_pixel": ({"popsize": 40, "generations": 3}, None),
    "advgan": ({}, None),
    # C&W with a quick schedule (a large first constant, Adam at 0.1): its textbook settings are tested in test_cw.py
    "cw": ({"steps": 30, "binary_steps": 2, "initial_const": 10.0, "learning_rate": 0.1}, 0.75),
    # DDN's eps is an L2 cap: at 0.3 no targeted digit is reachable; its success is tested in test_ddn.py
    "ddn": ({"steps": 30}, None),  # a 2-epoch generator: its targeted success is tested in tests/attacks/test_advgan_attack.py
    "perceptual": ({}, 0.9),  # its default 50 steps; SSIM, weights and confidence are tested in test_perceptual.py
}


@pytest.fixture(scope="module")
def batch(digits_test_batch):
    x, y = digits_test_batch
    return x[:N], y[:N]


@pytest.fixture(scope="module")
def extra(digits, digits_cnn, digits_advgan):
    x, y = digits["train"]
    return {"feature_space": {"centroids": class_centroids(digits_cnn, x, y, seed=0)},
            "advgan": {"generator": digits_advgan}}


def _call(spec, model, x, y, value, extra, **kw):
    settings = dict(SETTINGS[spec.name][0], **extra.get(spec.name, {}), **kw)
    if spec.targeted == "required" and "target" not in settings:
        settings["target"] = (y + 1) % 10
    return np.asarray(spec.fn(model, x, y, **{spec.param: value}, **settings))


def test_every_registered_attack_has_settings_here():
    assert set(SPECS) <= set(SETTINGS), f"add a SETTINGS row for {sorted(set(SPECS) - set(SETTINGS))}"


def test_required_arguments_are_supplied_here_and_named_when_missing(digits_cnn, batch, extra):
    x, y = batch
    for name, spec in SPECS.items():
        assert set(spec.requires) <= set(extra.get(name, {})), f"give {name} its {spec.requires} in extra"
        for arg in spec.requires:
            with pytest.raises(ConfigError, match=arg):
                spec.fn(digits_cnn, x, y, **{spec.param: 0.1}, **SETTINGS[name][0], seed=0)


@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if s.param == "eps"))
def test_zero_budget_returns_the_input(name, digits_cnn, batch, extra):
    spec = SPECS[name]
    x, y = batch
    np.testing.assert_array_equal(_call(spec, digits_cnn, x, y, 0.0, extra, seed=0), x)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_outputs_stay_in_range_and_inside_the_budget(name, digits_cnn, batch, extra):
    spec = SPECS[name]
    x, y = batch
    value = 0.1 if spec.param == "eps" else 1
    adv = _call(spec, digits_cnn, x, y, value, extra, seed=0)
    assert adv.shape == x.shape and adv.dtype == np.float32
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    diff = np.abs(adv - x)
    if spec.param == "eps":
        assert diff.max() <= 0.1 + 1e-6
        assert diff.max() > 0.0  # it did something
    else:  # pixels: at most that many pixels changed per image
        changed = (diff.max(axis=-1) > 0).reshape(len(x), -1).sum(1)
        assert changed.max() <= value


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_same_seed_gives_the_same_output(name, digits_cnn, batch, extra):
    spec = SPECS[name]
    x, y = batch
    value = 0.1 if spec.param == "eps" else 1
    a = _call(spec, digits_cnn, x, y, value, extra, seed=3)
    b = _call(spec, digits_cnn, x, y, value, extra, seed=3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(n for n, (_, hit) in SETTINGS.items() if hit is not None))
def test_targeted_attacks_reach_the_target(name, digits_cnn, batch, extra):
    spec = SPECS[name]
    x, y = batch
    target = (y + 3) % 10
    adv = _call(spec, digits_cnn, x, y, 0.3, extra, seed=0, target=target)
    pred = np.argmax(digits_cnn(tf.constant(adv), training=False).numpy(), 1)
    assert np.mean(pred == target) >= SETTINGS[name][1]
