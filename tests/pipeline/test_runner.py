"""``featuretest run`` end to end on a reduced digits pipeline (same code path, tiny sizes)."""
import json
import os
import re

import numpy as np
import pytest
from click.testing import CliRunner

from tf_featuretest.cli import cli
from tf_featuretest.config import load_config, parse_config
from tf_featuretest.data import load_arrays
from tf_featuretest.errors import ConfigError
from tf_featuretest.pipeline.stages import noise as noise_stage

REDUCED = """
name = "mini"
seed = 0
[data]
source = "digits"
image_size = [16, 16]
batch_size = 64
[[classifiers]]
name = "cnn"
model = "small_cnn"
epochs = 3
learning_rate = 0.003
[[classifiers]]
name = "cnn_fgsm"
model = "small_cnn"
epochs = 2
learning_rate = 0.003
adversarial = "fgsm"
[attacks]
eps = [0.0, 0.1, 0.3]
pgd_steps = 3
max_examples = 48
one_pixel_images = 2
one_pixel_population = 20
one_pixel_generations = 2
fooling_classes = 2
[noise]
noises = ["gaussian", "patches", "black_rows"]
severities = 3
max_examples = 48
baseline = "cnn"
[feature]
latent_dim = 4
vae_epochs = 1
dcgan_epochs = 1
anchors = 6
per_anchor = 2
gen_samples = 20
committee_epochs = 2
search_budget = 4
[lookalike]
images = 4
[saliency]
images = 2
smoothgrad_samples = 3
[advgan]
epochs = 1
family_epochs = 1
families = ["black_rows"]
max_examples = 48
"""


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    cfg = root / "mini.toml"
    cfg.write_text(REDUCED)
    runner = CliRunner()
    res = runner.invoke(cli, ["run", str(cfg), "--quiet", "--reports", str(root / "reports"), "--runs",
                              str(root / "runs"), "--export-root", str(root / "saved")])
    return root, res


def test_every_section_present_with_sane_values(full_run):
    root, res = full_run
    assert res.exit_code == 0, res.output
    report = root / "reports" / "mini"
    results = json.loads((report / "results.json").read_text())
    # results.json is written by the report stage, so it lists the ten stages before it.
    assert [s["status"] for s in results["stages"]] == ["ok"] * 10, results["stages"]
    assert re.search(r"^report\s+ok", res.output, re.M)
    assert results["data"]["sizes"] == {"train": 1258, "validation": 269, "test": 270}
    for name in ("cnn", "cnn_fgsm"):
        ev = results["evaluate"]["classifiers"][name]
        assert 0.3 < ev["accuracy"] <= 1.0
        att = results["attacks"][name]
        assert att["fgsm"]["accuracy"][0] == pytest.approx(att["fgsm"]["clean_accuracy"])
        assert att["pgd"]["accuracy"][-1] <= att["pgd"]["accuracy"][0]
        noise = results["noise"]["classifiers"][name]
        assert {r["name"] for r in noise["ranking"]} == {"gaussian", "patches", "black_rows"}
    # Every evaluated subset is stratified: the 48 attacked test images hold 4 or 5 of each digit.
    sub = results["attacks"]["subset"]
    _, y_test, _ = load_arrays("digits", "test", image_size=(16, 16))
    assert sub["size"] == 48 and set(sub["per_class"]) <= {4, 5}
    assert np.bincount(y_test[sub["indices"]], minlength=10).tolist() == sub["per_class"]
    # A one-pixel success is an attacked image (the subset's first two) the model now gets wrong.
    op = results["attacks"]["one_pixel"]
    labels = y_test[sub["indices"][:op["num_images"]]]
    assert all(p != lab for p, ok, lab in zip(op["predicted"], op["success"], labels) if ok)
    feat = results["feature"]
    assert feat["separation"]["pixel"]["r"] > 0 and feat["separation"]["latent"]["r"] >= 0
    lt = feat["latent_tests"]
    # A case is valid when it is in distribution and the committee keeps its label: neither rate is below it.
    assert min(lt["rates"]["in_distribution"], lt["rates"]["kept"]) >= lt["rates"]["valid"]
    assert sum(lt["per_class_valid"]) == lt["num_valid"] == round(lt["yield"] * lt["num_cases"])
    assert len(feat["calibration"]["rows"]) == 6 and (report / "feature" / "cases.npz").exists()
    gm = feat["generative_metrics"]
    # A DCGAN trained for one epoch is further from the test images than real training images are.
    assert gm["fid"]["fid"] > gm["real_reference"]["fid"]["fid"]
    assert gm["fid"]["n_real"] == gm["fid"]["n_generated"] == 20
    lk = results["lookalike"]
    assert lk["methods"]["pgd"]["linf"] <= lk["eps"] + 1e-6  # the fixed budget holds
    saved = np.load(report / "lookalike" / "lookalikes.npz")
    assert str(saved["method"]) == lk["primary"] == "perceptual" and list(saved["methods"]) == ["perceptual", "cw", "pgd"]
    assert saved["lookalikes"].shape == saved["originals"].shape and np.all(saved["targets"] != saved["labels"])
    assert np.array_equal(saved["labels"], y_test[lk["subset"]["indices"]])
    for m, st in lk["methods"].items():  # the saved predictions are the ones the rates were computed from
        assert np.isclose(np.mean(saved[f"predictions_{m}"] == saved["targets"]), st["success_rate"]), m
        hits = saved[f"predictions_{m}"] == saved["targets"]
        if hits.any():
            assert np.isclose(np.mean(saved[f"looks_same_{m}"][hits]), st["looks_same"]), m
    assert {a["artifact"] for a in results["export"]["artifacts"]} == {"classifier", "attacks", "vae", "generator", "judge"}
    assert results["versions"]["tensorflow"].startswith("2.")
    # The page references only files that exist, and names every section.
    page = (report / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"#:]+)"', page)
    assert refs and all((report / r).exists() for r in refs), [r for r in refs if not (report / r).exists()]
    for title in ("Data", "Classifiers", "Test accuracy", "Adversarial attacks", "Noise robustness", "Saliency"):
        assert title in page


def test_second_run_reuses_models(full_run):
    root, _ = full_run
    runner = CliRunner()
    res = runner.invoke(cli, ["run", str(root / "mini.toml"), "--quiet", "--stages", "evaluate", "--reports",
                              str(root / "reports2"), "--runs", str(root / "runs")])
    assert res.exit_code == 0, res.output
    results = json.loads((root / "reports2" / "mini" / "results.json").read_text())
    assert all(v["reused"] for v in results["classifier"].values())
    first = json.loads((root / "reports" / "mini" / "results.json").read_text())
    assert results["evaluate"] == first["evaluate"]
    assert [s["name"] for s in results["stages"]] == ["data", "classifier", "evaluate"]
    assert [s["reused"] for s in results["stages"]] == [False, False, True]  # evaluate came from the stage cache


def test_same_seed_same_numbers(full_run, tmp_path):
    root, _ = full_run
    runner = CliRunner()
    args = ["run", str(root / "mini.toml"), "--quiet", "--stages", "attacks", "--runs", str(tmp_path / "runs")]
    a = runner.invoke(cli, args + ["--reports", str(tmp_path / "a")])
    b = runner.invoke(cli, args + ["--reports", str(tmp_path / "b"), "--retrain"])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    ra = json.loads((tmp_path / "a" / "mini" / "results.json").read_text())
    rb = json.loads((tmp_path / "b" / "mini" / "results.json").read_text())
    assert [s["name"] for s in ra["stages"]] == ["data", "classifier", "attacks"]
    for key in ("data", "attacks"):
        assert _numbers(ra[key]) == _numbers(rb[key]), key
    assert ra["classifier"]["cnn"]["history"] == rb["classifier"]["cnn"]["history"]


def _numbers(tree):
    """The results without wall-clock timings (the only values allowed to differ between runs)."""
    if isinstance(tree, dict):
        return {k: _numbers(v) for k, v in tree.items() if k not in ("seconds", "time")}
    if isinstance(tree, list):
        return [_numbers(v) for v in tree]
    return tree


def test_an_unknown_noise_is_refused_before_any_work(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(REDUCED.replace('noises = ["gaussian", "patches", "black_rows"]', 'noises = ["gaussian", "hail"]'))
    res = CliRunner().invoke(cli, ["run", str(cfg), "--quiet", "--reports", str(tmp_path / "r"), "--runs",
                                   str(tmp_path / "runs")])
    assert res.exit_code == 2 and "unknown noise 'hail'" in res.output and "bad.toml" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "runs").exists()


def test_failed_stage_keeps_earlier_results(tmp_path, monkeypatch):
    cfg = tmp_path / "mini.toml"
    cfg.write_text(REDUCED)

    def hail(*args, **kwargs):
        raise RuntimeError("hail broke the noise sweep")

    monkeypatch.setattr(noise_stage, "noise_robustness", hail)
    res = CliRunner().invoke(cli, ["run", str(cfg), "--quiet", "--stages", "evaluate,noise", "--reports",
                                   str(tmp_path / "r"), "--runs", str(tmp_path / "runs")])
    assert res.exit_code == 1
    assert "noise" in res.output and "hail" in res.output
    results = json.loads((tmp_path / "r" / "mini" / "results.json").read_text())
    status = {s["name"]: s["status"] for s in results["stages"]}
    assert status == {"data": "ok", "classifier": "ok", "evaluate": "ok", "noise": "failed"}
    assert results["evaluate"]["classifiers"]["cnn"]["accuracy"] > 0.3
    page = (tmp_path / "r" / "mini" / "index.html").read_text()
    assert "hail" in page


def test_config_errors_name_key_and_file(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('[data]\nsource = "digits"\nbatchsize = 3\n')
    with pytest.raises(ConfigError, match=r"p\.toml: unknown key data\.batchsize"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match=r"x\.toml: data\.batch_size must be int, got 'a'"):
        parse_config('[data]\nbatch_size = "a"\n', "x.toml")
    with pytest.raises(ConfigError, match=r"data\.source path does not exist: /no/gtsrb"):
        parse_config('[data]\nsource = "gtsrb:/no/gtsrb"\n', "g.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[data\n", "t.toml")
    with pytest.raises(ConfigError, match="noise.baseline 'resnet'"):
        parse_config('[noise]\nbaseline = "resnet"\n', "n.toml")
    res = CliRunner().invoke(cli, ["run", str(bad)])
    assert res.exit_code == 2 and "batchsize" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["run", "--stages", "attack"])
    assert res.exit_code == 2 and "unknown stage 'attack'" in res.output


def test_shipped_pipelines_parse(tmp_path, monkeypatch):
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert load_config(None).name == "digits"
    for name in ("gtsrb", "tiny_imagenet"):
        # Their data folders are not here; the error names the path.
        with pytest.raises(ConfigError, match="path does not exist"):
            load_config(os.path.join(here, "pipelines", f"{name}.toml"))
    cfg = load_config(os.path.join(here, "pipelines", "cifar10_tfds.toml"))
    assert cfg.data.source == "tfds:cifar10" and len(cfg.classifiers) == 2
