"""Typed run configuration: dataclasses loaded from YAML with dotted overrides.

A config resolves to one `Config` object; `to_dict` gives the plain form that is
saved with every run and checkpoint.  Errors (unknown key, wrong type, missing
file, bad override) raise `ConfigError` with a one-line message naming the key
or file and the expected type.

YAML files may start from other files with `_base_: other.yaml` (a path
relative to the file, or a list of them); later keys override earlier ones.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError


@dataclass
class DataConfig:
    """Where the videos are and how clips are sampled and transformed."""

    format: str = "generic"  # annotation format: generic, ucf101, hmdb51, kinetics, sthv1, sthv2, ...
    root: str = ""  # directory the annotation paths are relative to
    train_list: str = ""  # annotation file (or split name) for training
    val_list: str = ""  # annotation file for validation during training
    test_list: str = ""  # annotation file for `actionlab test`
    class_names: str = ""  # optional file with one class name per line
    split: int = 1  # official split number where the dataset has several
    # segment | dense | uniform, or a pretrained release's own sampling (data/release_sampling.py)
    sampler: Literal["segment", "dense", "uniform", "tsm_segment", "mmaction_segments", "mmaction_clips",
                     "mmaction_dense"] = "segment"
    num_segments: int = 8  # T: frames per clip
    frame_interval: int = 1  # stride of the dense sampler
    twice_sample: bool = False  # TSN test option: also take the segment starts
    input_size: int = 224  # crop size fed to the model
    scale_size: int = 256  # short side before cropping at test time
    # how test frames are resized and cropped: actionlab (antialiased bilinear, rounded offsets), mmaction2
    # (OpenCV bilinear, floored offsets, its ThreeCrop/TenCrop) or tsm (PIL bilinear, truncated long side, the TSM
    # release's 3-crop and 10-crop positions); data/transforms.py
    test_style: Literal["actionlab", "mmaction2", "tsm"] = "actionlab"
    train_crop: Literal["multiscale", "random_resized", "center"] = "multiscale"
    flip: bool = True  # horizontal flip in training (off for SSv1/SSv2/Jester)
    flip_label_map: dict[str, str] = field(default_factory=dict)  # class swaps under flip (SSv2)
    backend: Literal["auto", "pyav", "torchcodec"] = "auto"
    autorotate: bool = True  # turn frames upright by the file's rotation metadata, as ffmpeg does
    batch_size: int = 8
    num_workers: int = 2
    # bad video / annotation line policy; auto: skip (counted, logged) in training and its validation,
    # raise in `actionlab test` (an accuracy over a subset is a different number)
    on_error: Literal["auto", "raise", "skip"] = "auto"
    max_bad_fraction: float = 0.01  # training stops when more of an epoch's videos (or lines) are bad; at it, goes on
    # decoded-frame cache of the training split (data/cache.py): auto = an existing disk cache, else memory when
    # the split's decoded frames fit cache_budget_gb, else none
    cache: Literal["auto", "memory", "disk", "none"] = "auto"
    cache_budget_gb: float = 2.0  # memory a cache may hold
    cache_dir: str = ""  # disk caches ('' = $ACTIONLAB_CACHE_DIR/clips or ~/.cache/actionlab/clips)
    options: dict[str, Any] = field(default_factory=dict)  # format-specific options


@dataclass
class ModelConfig:
    """Which registered model to build (see `actionlab.list_models()`)."""

    name: str = "tsn_r50"
    num_classes: int = 0  # 0: taken from the dataset
    pretrained: str | None = None  # a tag of the model ('k400': actionlab list-pretrained), 'imagenet', a URL, a file
    kwargs: dict[str, Any] = field(default_factory=dict)  # model-specific overrides


@dataclass
class OptimConfig:
    """Optimizer and learning-rate schedule (per-epoch milestones)."""

    name: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 5e-4
    schedule: Literal["step", "cosine", "constant"] = "step"
    milestones: list[int] = field(default_factory=list)  # step schedule: epochs where lr *= gamma
    step_size: int = 0  # step schedule: decay every `step_size` epochs when no milestones
    gamma: float = 0.1
    warmup_epochs: float = 0.0  # linear warm-up
    min_lr: float = 0.0  # cosine floor
    clip_grad: float | None = None  # max gradient norm
    no_bn_decay: bool = True  # no weight decay on BN parameters
    no_bias_decay: bool = False
    bias_lr_mult: float = 1.0  # TSN/TSM use 2 for biases
    # lr multipliers by parameter name: {fc: 5} gives fc.weight 5x and fc.bias 5 x bias_lr_mult (a key names a
    # module path or parameter, e.g. fc, backbone.layer4, or a glob such as 'backbone.layer4.*.conv1.weight')
    lr_mult: dict[str, float] = field(default_factory=dict)
    scale_lr_with_batch: bool = False  # linear scaling: lr * total_batch / base_batch_size
    base_batch_size: int = 64


@dataclass
class TrainConfig:
    """The training loop."""

    epochs: int = 50
    strategy: str = "standard"  # training strategy (standard, tfe_two_phase, art_bank_ema, ...)
    strategy_kwargs: dict[str, Any] = field(default_factory=dict)
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"  # auto: bf16 on GPU, off on CPU
    channels_last: bool = False
    compile: bool = False
    accumulate: int = 1  # gradient accumulation steps
    seed: int = 0
    deterministic: bool = False
    eval_every: int = 1  # epochs between validations (0: never)
    checkpoint_every: int = 1  # epochs between checkpoints
    checkpoint_every_steps: int = 0  # also checkpoint every N optimizer steps (0: epoch ends only)
    work_dir: str = "runs"
    log_every: int = 20  # steps between log lines
    partial_bn: bool = False  # freeze all BN layers but the first (TSN)
    sync_bn: bool = False  # DDP on GPUs: BatchNorm statistics over all processes (torch's SyncBatchNorm)
    device: str = "auto"  # auto, cpu, cuda, cuda:1
    loggers: list[Literal["tensorboard"]] = field(default_factory=list)  # extra sinks beside train.log / metrics.*


@dataclass
class RuntimeConfig:
    """How this process runs, for every command (train, test, ...)."""

    threads: int = 0  # torch CPU threads (0: the CLI's default, see actionlab.threads); `--threads N` overrides it


@dataclass
class TestConfig:
    """The test protocol: views = clips x crops, score averaging."""

    views: str = "1x1"  # "clips x crops": 1x1, 2x3, 10x3
    average: Literal["prob", "logit"] = "prob"
    max_views_per_forward: int = 8  # bounds memory in multi-view testing
    batch_size: int = 1
    ensemble_checkpoint: str | None = None  # a second model whose scores are averaged in


@dataclass
class Config:
    """One resolved experiment: saved with every run and every checkpoint."""

    name: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    test: TestConfig = field(default_factory=TestConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- loading


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp))
        return f"{origin.__name__}[{args}]"
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the type hint `tp`; return it (ints widen to floats)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' expects a mapping, got {type(value).__name__}")
        return _build(tp, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, key)
            except ConfigError as e:
                errors.append(e)
        raise ConfigError(f"config key '{key}' expects {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"config key '{key}' expects one of {_type_name(tp)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' expects {_type_name(tp)}, got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' expects {_type_name(tp)}, got {value!r}")
        _, val_tp = typing.get_args(tp)
        return {str(k): _coerce(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"config key '{key}' expects null, got {value!r}")
        return None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"config key '{key}' expects {tp.__name__}, got bool {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(
            f"config key '{key}' expects {_type_name(tp)}, got {type(value).__name__} {value!r}"
        )
    return value


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for k, v in data.items():
        if k not in names:
            close = difflib.get_close_matches(str(k), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown config key '{prefix}{k}'{hint}")
        kwargs[k] = _coerce(v, hints[k], prefix + k)
    return cls(**kwargs)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A new dict: `update` merged into `base`; neither input is modified."""
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def read_yaml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML config (with `_base_` inheritance) into a plain dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.resolve() in _seen:
        raise ConfigError(f"config file {path} includes itself through _base_")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path}{where} is not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    bases = data.pop("_base_", [])
    merged: dict[str, Any] = {}
    for base in [bases] if isinstance(bases, str) else bases:
        merged = _deep_merge(merged, read_yaml(path.parent / base, _seen + (path.resolve(),)))
    return _deep_merge(merged, data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`optim.lr=0.01` -> (['optim', 'lr'], 0.01); values are parsed as YAML scalars/lists."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"bad override {text!r}: expected dotted.key=value, e.g. optim.lr=0.01")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    data = _deep_merge({}, data)
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"bad override {text!r}: '{part}' is not a section")
            node = nxt
        node[path[-1]] = value
    return data


# The valid range of every numeric field (for lists: of every item), checked when a config loads so that
# a bad value is a one-line error naming the key, not a failure deep in PyTorch.
#   ">= a", "> a": lower bound;  "[a, b]", "[a, b)": interval
RANGES: dict[str, str] = {
    "data.split": ">= 1",
    "data.num_segments": ">= 1",
    "data.frame_interval": ">= 1",
    "data.input_size": ">= 1",
    "data.scale_size": ">= 1",
    "data.batch_size": ">= 1",
    "data.num_workers": ">= 0",
    "data.max_bad_fraction": "[0, 1]",
    "data.cache_budget_gb": ">= 0",
    "model.num_classes": ">= 0",
    "optim.lr": "> 0",
    "optim.momentum": "[0, 1)",
    "optim.betas": "[0, 1)",
    "optim.weight_decay": ">= 0",
    "optim.milestones": ">= 1",
    "optim.step_size": ">= 0",
    "optim.gamma": "> 0",
    "optim.warmup_epochs": ">= 0",
    "optim.min_lr": ">= 0",
    "optim.clip_grad": "> 0",
    "optim.bias_lr_mult": ">= 0",
    "optim.lr_mult": ">= 0",
    "optim.base_batch_size": ">= 1",
    "train.epochs": ">= 1",
    "train.accumulate": ">= 1",
    "train.seed": ">= 0",
    "train.eval_every": ">= 0",
    "train.checkpoint_every": ">= 1",
    "train.checkpoint_every_steps": ">= 0",
    "train.log_every": ">= 1",
    "test.max_views_per_forward": ">= 1",
    "test.batch_size": ">= 1",
    "runtime.threads": ">= 0",
}
_WHY = {"train.epochs": " (nothing to train)"}


def _in_range(value: float, rule: str) -> bool:
    if rule.startswith((">=", ">")):
        bound = float(rule.lstrip(">= "))
        return value >= bound if rule.startswith(">=") else value > bound
    low, high = (float(x) for x in rule[1:-1].split(","))
    return low <= value and (value <= high if rule.endswith("]") else value < high)


def check_ranges(cfg: Config) -> None:
    """Raise ConfigError naming the first field outside its valid range (`RANGES`) or a `test.views` that is
    not CLIPSxCROPS."""
    import math

    for key, rule in RANGES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name, None)
        items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
        for item in items:
            if item is None or isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            if not math.isfinite(item) or not _in_range(item, rule):
                what = "hold values" if isinstance(value, (list, dict)) else "be"
                raise ConfigError(f"config key '{key}' must {what} {rule}, got {value!r}{_WHY.get(key, '')}")
    parse_views(cfg.test.views)  # '3by3' is refused when the config loads, not when testing starts


def parse_views(views: str) -> tuple[int, int]:
    """'10x3' -> (10 clips, 3 crops): `test.views` and every --views option."""
    try:
        clips, crops = (int(v) for v in str(views).lower().split("x"))
    except ValueError:
        raise ConfigError(f"config key 'test.views' expects 'CLIPSxCROPS' such as 1x1, 2x3, 10x3, got {views!r}") \
            from None
    if clips < 1 or crops not in (1, 3, 5, 10):
        raise ConfigError(f"config key 'test.views' {views!r}: clips must be >= 1 and crops one of 1, 3, 5, 10")
    return clips, crops


def from_dict(data: dict[str, Any]) -> Config:
    cfg = _build(Config, data)
    check_ranges(cfg)
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML file (or the defaults when `path` is None) and apply `--set` overrides."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    cfg = from_dict(data)
    if not cfg.name and path is not None:
        cfg.name = Path(path).stem
    return cfg


def save_config(cfg: Config, path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg.to_dict(), f, sort_keys=False)
