"""``featuretest attack/noise --ray local``: the printed tables and written sweeps equal those of a run in this process.

The noise half once differed in the last bits of ``mean_linf``/``mean_l2`` although every image's
distance was equal: the Ray backend handed over transposed (Fortran-order) arrays and NumPy sums a
row of those in another order. ``merge_parts`` now returns C-order arrays; the second test pins that
without Ray.
"""
import json
import math
import os

import numpy as np
import pytest
from click.testing import CliRunner

from tf_featuretest.cli import cli
from tf_featuretest.distribute.ray_sweep import connect
from tf_featuretest.evaluation.sweep import SweepPart, merge_parts, summarize


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    import keras

    from tf_featuretest.models import build_classifier, compile_classifier

    keras.utils.set_random_seed(3)  # untrained weights: enough to compare two runs of the same sweep
    model = build_classifier("small_cnn", 10, (32, 32, 1))
    compile_classifier(model)
    path = tmp_path_factory.mktemp("model") / "m.keras"
    model.save(path)
    return str(path)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")  # the [distributed] extra; CI installs it
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # loopback only, no dashboard; `--ray local` then joins this cluster (connect() sees it initialised)
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING",
             log_to_driver=False)
    connect("local")  # imports and quiets Ray Data here, so its log handlers write to the real stderr
    yield
    ray.shutdown()


@pytest.mark.multiprocess
def test_attack_and_noise_on_ray_equal_one_process(model_file, local_ray, tmp_path):
    runner = CliRunner()
    attack = ["attack", "--model", model_file, "--attack", "pgd", "--steps", "2", "--eps", "0.05,0.2",
              "--max-examples", "72", "--batch-size", "32", "--quiet"]  # 3 batches, the last of 8
    outs = {}
    for name, extra in (("plain", []), ("ray", ["--ray", "local", "--ray-actors", "2"])):
        res = runner.invoke(cli, attack + extra + ["--out", str(tmp_path / f"a-{name}")])
        assert res.exit_code == 0, res.output
        outs[name] = (res.stdout, json.loads((tmp_path / f"a-{name}" / "attack.json").read_text())["sweep"])
    assert outs["ray"][0] == outs["plain"][0]  # the printed table (stdout)
    drop = lambda s: {k: v for k, v in s.items() if k != "seconds"}  # noqa: E731  (wall time differs)
    assert drop(outs["ray"][1]) == drop(outs["plain"][1])  # every figure to the last bit
    assert outs["plain"][1]["mean_linf"][1] > 0.1  # the attack perturbed the images

    noise = ["noise", "--model", model_file, "--noises", "gaussian", "--severities", "0,0.5,1", "--bootstrap", "0",
             "--max-examples", "64", "--batch-size", "32", "--quiet"]
    sweeps = {}
    for name, extra in (("plain", []), ("ray", ["--ray", "local", "--ray-actors", "1"])):
        res = runner.invoke(cli, noise + extra + ["--out", str(tmp_path / f"n-{name}")])
        assert res.exit_code == 0, res.output
        sweeps[name] = json.loads((tmp_path / f"n-{name}" / "noise.json").read_text())["sweeps"]
    # one actor (faster) still returns one block per batch, merged as with many actors
    assert [drop(s) for s in sweeps["ray"]] == [drop(s) for s in sweeps["plain"]]
    assert sweeps["plain"][0]["mean_l2"][1] > 0  # the noise was applied


def test_merged_transposed_parts_summarize_bit_identically():
    # per-image results of a sweep (3 values x 64 images), once whole and once as two parts in
    # Fortran order, as a Ray backend returns them; the summaries must agree exactly
    rng = np.random.default_rng(0)
    n, v = 64, 3
    y = rng.integers(0, 10, n)
    whole = SweepPart(index=np.arange(n), labels=y, clean_pred=rng.integers(0, 10, n),
                      pred=rng.integers(0, 10, (v, n)), linf=rng.random((v, n)).astype(np.float32),
                      l2=rng.random((v, n)) * 10, seconds=np.zeros(v))

    def half(lo, hi):
        return SweepPart(index=whole.index[lo:hi], labels=y[lo:hi], clean_pred=whole.clean_pred[lo:hi],
                         **{k: np.asfortranarray(getattr(whole, k)[:, lo:hi]) for k in ("pred", "linf", "l2")},
                         seconds=np.zeros(v))

    merged = merge_parts([half(32, n), half(0, 32)], n)
    kw = dict(name="t", param="eps", values=(0.1, 0.2, 0.3), num_classes=10)
    a, b = summarize(whole, **kw), summarize(merged, **kw)
    assert a.mean_linf == b.mean_linf and a.mean_l2 == b.mean_l2 and a.accuracy == b.accuracy
    # and they are the means: against the exactly rounded sum of each row
    np.testing.assert_allclose(b.mean_l2, [math.fsum(row) / n for row in whole.l2], rtol=1e-13)
