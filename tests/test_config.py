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


@pytest.mark.parametrize("override, message", [
    ("data.batch_size=0", "config key 'data.batch_size' must be >= 1, got 0"),
    ("data.input_size=0", "config key 'data.input_size' must be >= 1, got 0"),
    ("optim.lr=-1", "config key 'optim.lr' must be > 0, got -1.0"),
    ("data.num_workers=-1", "config key 'data.num_workers' must be >= 0, got -1"),
    ("data.num_segments=0", "'data.num_segments' must be >= 1"),
    ("optim.momentum=1.5", "'optim.momentum' must be [0, 1)"),
    ("optim.betas=[0.9, 1.0]", "'optim.betas' must hold values [0, 1)"),
    ("optim.milestones=[0, 10]", "'optim.milestones' must hold values >= 1"),
    ("optim.clip_grad=0", "'optim.clip_grad' must be > 0"),
    ("optim.lr=.nan", "'optim.lr' must be > 0, got nan"),
    ("data.max_bad_fraction=2", "'data.max_bad_fraction' must be [0, 1]"),
    ("train.epochs=0", "'train.epochs' must be >= 1, got 0 (nothing to train)"),
    ("train.accumulate=0", "'train.accumulate' must be >= 1"),
    ("test.batch_size=0", "'test.batch_size' must be >= 1"),
])
def test_out_of_range_values_name_the_key(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert message in str(e.value)


def test_every_range_rule_names_a_numeric_field():
    """A renamed field must not leave its range rule checking nothing."""
    from actionlab.config import RANGES, Config, _in_range

    cfg = Config()
    for key, rule in RANGES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        assert value is None or isinstance(value, (int, float, list, dict)), key
        for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]:
            assert item is None or _in_range(item, rule), f"the default of {key} breaks its own rule {rule}"


def _numeric(hint) -> bool:
    """int / float, optional or in a list (not bool: it is an int subclass, but a switch)."""
    import typing

    return hint in (int, float) or any(_numeric(a) for a in typing.get_args(hint))


def test_every_numeric_field_has_a_range_rule():
    """A new int/float field gets its valid range in config.RANGES (or an entry here saying why it has none)."""
    import dataclasses
    import typing

    from actionlab.config import RANGES, Config

    unbounded: set[str] = set()  # none so far
    missing = []
    cfg = Config()
    for section in dataclasses.fields(Config):
        value = getattr(cfg, section.name)
        if not dataclasses.is_dataclass(value):
            continue
        hints = typing.get_type_hints(type(value))
        for f in dataclasses.fields(value):
            key = f"{section.name}.{f.name}"
            if _numeric(hints[f.name]) and key not in RANGES and key not in unbounded:
                missing.append(key)
    assert not missing, f"numeric config fields without a range in config.RANGES: {missing}"


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
        (["--set", "data.batch_size=0"], "'data.batch_size' must be >= 1"),
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
