"""The ImageNet-C / CIFAR-10-C table: CE, relative CE and mCE against the paper's formulas on synthetic sweeps."""
import json

import numpy as np
import pytest

from tf_featuretest.errors import ConfigError
from tf_featuretest.evaluation import SweepResult
from tf_featuretest.evaluation.robustness import (
    _preset_result as preset_result,  # noqa: PLC2701 (the table's arithmetic, tested on known sweeps)
)
from tf_featuretest.evaluation.robustness import (
    preset_corruptions,
    preset_robustness,
    preset_with_baseline,
)
from tf_featuretest.noise import BENCHMARK, EXTRA, available


def _levels(name, acc, clean):
    return SweepResult(name=name, param="level", values=(1.0, 2.0, 3.0, 4.0, 5.0), clean_accuracy=clean,
                       accuracy=tuple(acc), success_rate=(0.0,) * 5, mean_linf=(0.0,) * 5, mean_l2=(0.0,) * 5,
                       per_class_accuracy=(), num_examples=10)


def test_ce_and_mce_follow_hendrycks_and_dietterich():
    model = [_levels("fog", [0.9, 0.8, 0.7, 0.6, 0.5], 0.95), _levels("snow", [0.9] * 5, 0.95),
             _levels("saturate", [0.5] * 5, 0.95)]
    base = [_levels("fog", [0.8, 0.6, 0.4, 0.3, 0.2], 0.9), _levels("snow", [0.85] * 5, 0.9),
            _levels("saturate", [0.9] * 5, 0.9)]
    res = preset_result("m", "cifar10-c", model, (), "b", base)
    fog = res.rows[0]
    np.testing.assert_allclose(fog.errors, [0.1, 0.2, 0.3, 0.4, 0.5], atol=1e-12)
    assert fog.ce == pytest.approx(1.5 / 2.7)  # sum E / sum E_base
    assert fog.relative_ce == pytest.approx((1.5 - 5 * 0.05) / (2.7 - 5 * 0.1))
    snow = res.rows[1]
    assert snow.ce == pytest.approx(0.5 / 0.75) and snow.relative_ce == pytest.approx((0.5 - 0.25) / (0.75 - 0.5))
    assert res.mce == pytest.approx((fog.ce + snow.ce) / 2)  # saturate is an extra corruption: not in the mCE
    assert res.relative_mce == pytest.approx((fog.relative_ce + snow.relative_ce) / 2)
    assert res.benchmark_count == 2 and "2 of the 15 benchmark corruptions (not comparable" in res.table()
    alone = preset_result("m", "cifar10-c", model, ())
    assert alone.mce is None and alone.rows[0].ce is None and "no baseline" in alone.table()
    assert preset_with_baseline(alone, preset_result("b", "cifar10-c", base, ())).mce == pytest.approx(res.mce)
    with pytest.raises(ConfigError, match="another preset"):
        preset_with_baseline(alone, preset_result("b", "imagenet-c", base, ()))
    json.dumps(res.to_dict())


def test_corruption_selection_and_frost():
    names, skipped = preset_corruptions(None)
    assert set(names) | {s[0] for s in skipped} == set(BENCHMARK + EXTRA)
    assert ("frost" in names) == available("frost")
    assert preset_corruptions("gaussian,patches,jpeg_compression,fog")[0] == ("gaussian_noise", "jpeg_compression", "fog")
    with pytest.raises(ConfigError, match="hail"):
        preset_corruptions("gaussian,hail")


def test_preset_robustness_on_the_digits_cnn(digits_cnn, digits):
    x, y = digits["test"]
    data = (x[:40], y[:40])
    res = preset_robustness(digits_cnn, data, "gaussian_noise,contrast", baseline=digits_cnn, seed=0,
                            model_name="cnn", baseline_name="same")
    assert res.preset == "cifar10-c"  # 32-px digits: the auto rule
    assert res.mce == pytest.approx(1.0) and [r.name for r in res.rows] == ["gaussian_noise", "contrast"]
    errs = np.array(res.rows[1].errors)
    assert errs[-1] >= errs[0] - 0.05  # contrast 0.15 hurts at least as much as 0.75
    with pytest.raises(ConfigError, match="no ImageNet-C corruption"):
        preset_robustness(digits_cnn, data, "patches")
