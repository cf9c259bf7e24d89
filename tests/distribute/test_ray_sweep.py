"""Sweeps on a local Ray cluster (two fractional-CPU actors): the same per-image results as one process."""
import functools

import numpy as np
import pytest

from tf_featuretest.attacks.fgsm import fgsm
from tf_featuretest.attacks.pgd import pgd
from tf_featuretest.distribute.ray_sweep import RaySweepBackend, build_transform, transform_spec
from tf_featuretest.errors import ConfigError
from tf_featuretest.evaluation.robustness import noise_robustness
from tf_featuretest.evaluation.sweep import as_batches, sweep, sweep_backend, sweep_part
from tf_featuretest.noise import noise_transform


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")  # the [distributed] extra; CI installs it
    from tf_featuretest.distribute.ray_sweep import connect

    connect("local", num_cpus=2)
    yield RaySweepBackend("local", actors=2, cpus_per_actor=0.5)
    ray.shutdown()


@pytest.mark.multiprocess
def test_ray_attack_and_noise_sweeps_equal_one_process_per_image(ray_local, digits_cnn, digits):
    x, y = digits["test"]
    batches = as_batches((x[:150], y[:150]), 32)  # 5 batches, the last of 22
    for transform, param, values in ((noise_transform("gaussian"), "severity", (0.0, 0.3, 0.8)),
                                     (functools.partial(pgd, steps=4), "eps", (0.05, 0.2))):
        one = sweep_part(digits_cnn, batches, transform, param, values, seed=7)
        many = ray_local.run(digits_cnn, batches, transform, param, values, seed=7)
        for name in ("index", "labels", "clean_pred", "pred", "linf", "l2"):
            np.testing.assert_array_equal(getattr(many, name), getattr(one, name), err_msg=name)
    # the whole noise analysis through the backend: the sweeps (and so the report's numbers) are unchanged
    with sweep_backend(ray_local):
        sharded = noise_robustness(digits_cnn, (x[:96], y[:96]), ["uniform"], severities=(0.0, 0.5, 1.0),
                                   bootstrap=0, batch_size=32, seed=2)
    plain = noise_robustness(digits_cnn, (x[:96], y[:96]), ["uniform"], severities=(0.0, 0.5, 1.0), bootstrap=0,
                             batch_size=32, seed=2)
    assert sharded.sweeps[0].accuracy == plain.sweeps[0].accuracy
    assert sharded.thresholds[0].threshold == plain.thresholds[0].threshold
    # a targeted sweep with one target per image
    t = (y[:64] + 1) % 10
    with sweep_backend(ray_local):
        tr = sweep(digits_cnn, (x[:64], y[:64]), functools.partial(pgd, steps=3), "eps", (0.2,), target=t, seed=1)
    tp = sweep(digits_cnn, (x[:64], y[:64]), functools.partial(pgd, steps=3), "eps", (0.2,), target=t, seed=1)
    assert tr.success_rate == tp.success_rate and tr.accuracy == tp.accuracy


def test_transform_specs_round_trip():
    assert transform_spec(fgsm) == ("attack", "fgsm", {})
    assert transform_spec(functools.partial(pgd, steps=5)) == ("attack", "pgd", {"steps": 5})
    assert transform_spec(noise_transform("shot")) == ("noise", "shot", {})
    rebuilt = build_transform(("attack", "pgd", {"steps": 5}))
    assert rebuilt.func is pgd and rebuilt.keywords == {"steps": 5}
    assert build_transform(("noise", "shot", {})).noise_name == "shot"
    with pytest.raises(ConfigError, match="not a registered attack or noise"):
        transform_spec(lambda model, x, y, *, eps, seed: x)
    with pytest.raises(ConfigError, match="as keywords"):
        transform_spec(functools.partial(pgd, None))
