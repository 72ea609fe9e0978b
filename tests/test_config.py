import subprocess
import sys

import pytest
import yaml

from actionlab.cli import main
from actionlab.config import Config, load_config, parse_override
from actionlab.errors import ConfigError


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def test_defaults_and_overrides(tmp_path):
    p = write(tmp_path, "exp.yaml", {"optim": {"lr": 0.1}, "data": {"num_segments": 16}})
    cfg = load_config(p, ["optim.lr=0.01", "model.kwargs.shift_div=4", "optim.milestones=[30, 40]"])
    assert isinstance(cfg, Config)
    assert cfg.name == "exp"
    assert cfg.optim.lr == 0.01 and cfg.data.num_segments == 16
    assert cfg.model.kwargs == {"shift_div": 4}
    assert cfg.optim.milestones == [30, 40]
    assert load_config(None).to_dict() == Config().to_dict()


def test_int_widens_to_float_but_bool_is_not_int(tmp_path):
    assert load_config(None, ["optim.lr=1"]).optim.lr == 1.0
    with pytest.raises(ConfigError, match="data.num_segments.*int"):
        load_config(None, ["data.num_segments=true"])


def test_base_inheritance(tmp_path):
    write(tmp_path, "base.yaml", {"optim": {"lr": 0.1, "momentum": 0.5}, "train": {"epochs": 3}})
    child = write(tmp_path, "child.yaml", {"_base_": "base.yaml", "optim": {"lr": 0.2}})
    cfg = load_config(child)
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.train.epochs) == (0.2, 0.5, 3)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["optim.lrr=0.1"], "unknown config key 'optim.lrr' (did you mean 'optim.lr'?)"),
        (["optim.lr=abc"], "config key 'optim.lr' expects float, got str 'abc'"),
        (["optim.name=rmsprop"], "config key 'optim.name' expects one of 'sgd' | 'adamw'"),
        (["optim.lr"], "bad override 'optim.lr'"),
        (["=3"], "bad override '=3'"),
        (["optim.milestones=[a]"], "config key 'optim.milestones[0]' expects int"),
    ],
)
def test_config_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, overrides)
    assert message in str(e.value)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+ is not valid YAML"):
        load_config(bad)


def test_parse_override_values():
    assert parse_override("a.b=0.5") == (["a", "b"], 0.5)
    assert parse_override("a=null") == (["a"], None)
    assert parse_override("a=x=y") == (["a"], "x=y")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "optim.lrr=1"], "unknown config key 'optim.lrr'"),
        (["--set", "optim.lr=x"], "expects float"),
        (["--set", "optim.lr"], "bad override"),
        (["missing.yaml"], "config file not found: missing.yaml"),
    ],
)
def test_cli_config_errors_one_line_exit_2(argv, message, tmp_path):
    if argv[0] == "--set":
        cfg = write(tmp_path, "ok.yaml", {})
        argv = [str(cfg)] + argv
    proc = subprocess.run([sys.executable, "-m", "actionlab.cli", "train", *argv, "--check-config"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_unbuilt_feature_says_so_and_exits_1(capsys, monkeypatch):
    import actionlab.commands.export as export_command
    from actionlab.errors import NotBuiltError

    def not_built(args):
        raise NotBuiltError("'actionlab export --format tflite' is not built yet")

    monkeypatch.setattr(export_command, "run", not_built)
    rc = main(["export", "ckpt.pt", "out.tflite"])
    assert rc == 1
    assert capsys.readouterr().err.strip() == (
        "actionlab export: error: 'actionlab export --format tflite' is not built yet")
