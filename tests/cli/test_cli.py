"""The foundation commands through click's CliRunner, including error paths."""
import json

from click.testing import CliRunner

from tf_featuretest.cli import cli


def test_help_for_every_command():
    runner = CliRunner()
    res = runner.invoke(cli, ["--help"])
    assert res.exit_code == 0 and "train" in res.output and "evaluate" in res.output
    for name in cli.commands:
        sub = runner.invoke(cli, [name, "--help"])
        assert sub.exit_code == 0, (name, sub.output)
        assert "Usage:" in sub.output


def test_train_then_evaluate_digits(tmp_path):
    runner = CliRunner()
    model = str(tmp_path / "m.keras")
    res = runner.invoke(cli, ["train", "--epochs", "8", "--learning-rate", "0.002", "--batch-size", "64",
                              "--out", model, "--quiet"])
    assert res.exit_code == 0, res.output
    acc = float(res.output.split("test top-1 ")[1].split()[0])
    assert acc >= 0.97
    out = str(tmp_path / "eval.json")
    res = runner.invoke(cli, ["evaluate", "--model", model, "--out", out, "--quiet"])
    assert res.exit_code == 0, res.output
    assert "top-1" in res.output and "top-5" in res.output and "weighted avg" in res.output
    report = json.load(open(out))["report"]
    assert len(report["per_class"]) == 10 and abs(report["accuracy"] - acc) <= 5e-5


def test_errors_are_one_line_with_exit_2(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["evaluate", "--model", str(tmp_path / "none.keras")])
    assert res.exit_code == 2 and "none.keras" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["train", "--data", "folder:/no/where", "--quiet"])
    assert res.exit_code == 2 and "/no/where" in res.output
    res = runner.invoke(cli, ["train", "--image-size", "abc", "--quiet"])
    assert res.exit_code == 2 and "'abc'" in res.output
    res = runner.invoke(cli, ["train", "--model", "resnet9", "--quiet"])
    assert res.exit_code == 2 and "resnet9" in res.output
