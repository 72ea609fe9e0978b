"""Export a trained model to ONNX or torch.export: clip in, logits out.

    actionlab export runs/tsm/best.pt --format onnx model.onnx
    actionlab export runs/tsm/best.pt --format torch-export model.pt2 --input float --size 256

The exported graph takes a clip of fixed T frames and S x S pixels (the
checkpoint's, or --frames / --size) and a free batch size N:

    --input uint8 (default)  raw RGB pixels [N, 3, T, S, S] (or [N, T, S, S, 3] with --layout nthwc);
                             the model's normalisation (x / 255 - mean) / std runs inside the graph
    --input float            the normalised float clip the PyTorch model takes

and returns logits [N, K].  Sampling, resizing and cropping stay outside (see
`actionlab.api.Preprocess`); the class names, mean/std, T and S travel with the
file (ONNX metadata_props / the .pt2's extra file "actionlab.json").

Every export is checked: the file is loaded back (onnxruntime for ONNX), run on a
random clip of a batch size other than the one traced, and compared with the
PyTorch model; the max abs difference is printed and must stay under tolerance.
A model whose ops cannot be exported fails with a message naming the op (or the
line of model code) that blocks it.  `ExportedModel(path)` runs either file.

Ops whose eager implementation traces badly pick a graph-friendly form themselves while
they are exported (TSM's shift: pads and a concat instead of scatter writes, see
`models.temporal.shift`); the parity check compares against the eager model.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn as nn

from .errors import ActionlabError, ConfigError, ModelError, require
from .models.recognizer import Recognizer, name_of
from .norms import IMAGENET_MEAN, IMAGENET_STD

Format = Literal["onnx", "torch-export"]
InputType = Literal["uint8", "float"]
Layout = Literal["ncthw", "nthwc"]
FORMATS: tuple[str, ...] = ("onnx", "torch-export")
METADATA_KEY = "actionlab"


class ExportableClassifier(nn.Module):
    """The recognizer as a plain `clip -> logits` graph, with the input normalisation folded in.

    For uint8 input, (x / 255 - mean) / std is computed as x * (1 / (255 std)) - mean / std:
    one multiply-add per pixel inside the graph.
    """

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float],
                 input_dtype: InputType = "uint8", layout: Layout = "ncthw"):
        super().__init__()
        if input_dtype not in ("uint8", "float"):
            raise ConfigError(f"--input expects uint8 or float, got {input_dtype!r}")
        if layout not in ("ncthw", "nthwc"):
            raise ConfigError(f"--layout expects ncthw or nthwc, got {layout!r}")
        self.model = model
        self.input_dtype = input_dtype
        self.layout = layout
        std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1, 1)
        self.scale: torch.Tensor
        self.shift: torch.Tensor
        self.register_buffer("scale", 1.0 / (255.0 * std_t), persistent=False)
        self.register_buffer("shift", mean_t / std_t, persistent=False)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        if self.layout == "nthwc":
            clip = clip.permute(0, 4, 1, 2, 3)
        x = clip.float()
        if self.input_dtype == "uint8":
            x = x * self.scale - self.shift
        return self.model(x).logits


@dataclass
class ExportResult:
    path: Path
    format: str
    input_shape: list[int | str]  # e.g. ["batch", 3, 8, 224, 224]
    input_dtype: str
    max_abs_diff: float | None  # exported vs PyTorch logits on a random clip (None: not verified)
    tolerance: float | None
    metadata: dict[str, Any]


def input_shape(num_frames: int, size: int, layout: Layout, batch: int | str = "batch") -> list[int | str]:
    return [batch, 3, num_frames, size, size] if layout == "ncthw" else [batch, num_frames, size, size, 3]


def example_clip(num_frames: int, size: int, input_dtype: InputType, layout: Layout, batch: int,
                 seed: int = 0) -> torch.Tensor:
    """A random clip of the exported input's dtype and layout (uint8 pixels, or normalised-like floats)."""
    g = torch.Generator().manual_seed(seed)
    shape = tuple(int(d) for d in input_shape(num_frames, size, layout, batch))  # a number for `batch` here
    if input_dtype == "uint8":
        return torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    return torch.randn(shape, generator=g)


# --------------------------------------------------------------------------- errors that name the op


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


_OP_PATTERNS = (
    re.compile(r"OpOverload\(op='([\w.:]+)'"),  # dynamo ONNX: "No ONNX function found for <OpOverload(op='aten.x'"
    re.compile(r"target=torch\.ops\.([\w.]+?)(?:\.default)?\]"),  # "Error when translating node ... target=..."
    re.compile(r"[Uu]nsupported: ONNX export of (?:operator )?([\w:.]+)"),  # TorchScript exporter
    re.compile(r"(?:operator|op) '?((?:aten|prim|onnx)::\w+)'?"),
    re.compile(r"No (?:decomposition|kernel) for (?:aten\.)?([\w.]+)"),
)
_CALL_SITE = re.compile(r'File "([^"]+)", line (\d+), in \w+\n\s+(.+)')


def blocking_op(exc: BaseException) -> str:
    """A one-line reason an export failed, naming the operator (or the line of model code) that blocks it."""
    chain = list(_causes(exc))
    text = "\n".join(str(e) for e in chain)
    for pattern in _OP_PATTERNS:
        m = pattern.search(text)
        if m:
            op = m.group(1).replace("::", ".")
            return f"operator '{op}' has no conversion"
    if any("data-dependent" in str(e) or "GuardOnDataDependent" in type(e).__name__ for e in chain):
        site = _CALL_SITE.search(text)
        where = f" at {Path(site.group(1)).name}:{site.group(2)} (`{site.group(3).strip()}`)" if site else ""
        return f"data-dependent control flow{where} cannot be captured in a static graph"
    innermost = chain[-1]
    first = next((line.strip() for line in str(innermost).splitlines() if line.strip()), type(innermost).__name__)
    return f"{type(innermost).__name__}: {first[:300]}"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters print progress and graph dumps; keep the CLI's output to our own lines."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export",
                                               "torch.fx.experimental.symbolic_shapes", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):  # failures keep their text in the exception
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# --------------------------------------------------------------------------- export + verification


def _dynamic_batch() -> tuple[dict[int, Any]]:
    return ({0: torch.export.Dim("batch", min=1, max=4096)},)


def _export_onnx(wrapper: ExportableClassifier, example: torch.Tensor, out: Path, metadata: dict[str, Any],
                 opset: int | None, exporter: str) -> None:
    if exporter == "dynamo":
        require("onnxscript", "export", "ONNX export")  # the torch.export-based exporter is built on it
        program = torch.onnx.export(wrapper, (example,), None, dynamo=True, dynamic_shapes=_dynamic_batch(),
                                    input_names=["clip"], output_names=["logits"], opset_version=opset,
                                    verbose=False)
        assert program is not None  # dynamo=True returns the program
        program.model.metadata_props[METADATA_KEY] = json.dumps(metadata)
        program.save(str(out))
        return
    if exporter != "torchscript":
        raise ConfigError(f"--exporter expects dynamo or torchscript, got {exporter!r}")
    torch.onnx.export(wrapper, (example,), str(out), dynamo=False, input_names=["clip"], output_names=["logits"],
                      dynamic_axes={"clip": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset or 17)
    import onnx

    proto = onnx.load(str(out))
    proto.metadata_props.add(key=METADATA_KEY, value=json.dumps(metadata))
    onnx.save(proto, str(out))


def _export_program(wrapper: ExportableClassifier, example: torch.Tensor, out: Path, metadata: dict[str, Any]
                    ) -> None:
    program = torch.export.export(wrapper, (example,), dynamic_shapes=_dynamic_batch())
    torch.export.save(program, str(out), extra_files={f"{METADATA_KEY}.json": json.dumps(metadata)})


class ExportedModel:
    """An exported file loaded back for inference: `model(clip) -> logits` as NumPy, plus its metadata."""

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"exported model not found: {self.path}")
        if self.path.suffix == ".onnx":
            self.format = "onnx"
            ort = require("onnxruntime", "export", "running an ONNX file")

            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
            meta = self._session.get_modelmeta().custom_metadata_map.get(METADATA_KEY, "{}")
            self._input = self._session.get_inputs()[0].name
        else:
            self.format = "torch-export"
            extra = {f"{METADATA_KEY}.json": ""}
            program = torch.export.load(str(self.path), extra_files=extra)
            self._module = program.module()
            meta = extra[f"{METADATA_KEY}.json"] or "{}"
        self.metadata: dict[str, Any] = json.loads(meta)

    @property
    def class_names(self) -> list[str]:
        return list(self.metadata.get("class_names", []))

    def __call__(self, clip: np.ndarray | torch.Tensor) -> np.ndarray:
        if self.format == "onnx":
            array = clip.numpy() if isinstance(clip, torch.Tensor) else np.asarray(clip)
            return self._session.run(None, {self._input: array})[0]
        tensor = clip if isinstance(clip, torch.Tensor) else torch.from_numpy(np.asarray(clip))
        with torch.inference_mode():
            return self._module(tensor).numpy()


def verify_export(path: Path, wrapper: ExportableClassifier, clip: torch.Tensor) -> tuple[float, float]:
    """(max abs difference of the exported file's logits from PyTorch's on `clip`, tolerance)."""
    with torch.inference_mode():
        reference = wrapper(clip).float()
    with _quiet():
        exported = torch.from_numpy(np.asarray(ExportedModel(path)(clip), dtype=np.float32))
    if exported.shape != reference.shape:
        raise ModelError(f"exported model {path} returned shape {tuple(exported.shape)}, "
                         f"PyTorch {tuple(reference.shape)}")
    diff = float((exported - reference).abs().max())
    # float32 rounding differs between runtimes; scale the bound with the logits' magnitude.
    tolerance = 1e-4 + 1e-4 * float(reference.abs().max())
    return diff, tolerance


def export_model(model: nn.Module, out: str | Path, *, format: Format = "onnx", class_names: Sequence[str] = (),
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 num_frames: int, size: int, input_dtype: InputType = "uint8", layout: Layout = "ncthw",
                 verify: bool = True, opset: int | None = None, exporter: str = "dynamo",
                 extra_metadata: dict[str, Any] | None = None) -> ExportResult:
    """Export `model` (an actionlab Recognizer, eval mode on the CPU) to `out`; verify it unless told not to."""
    if format not in FORMATS:
        raise ConfigError(f"--format expects one of {', '.join(FORMATS)}, got {format!r}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if format == "onnx" and out.suffix != ".onnx":
        raise ConfigError(f"an ONNX export is written to a .onnx file, got {out}")
    if format == "torch-export" and out.suffix != ".pt2":
        raise ConfigError(f"a torch.export program is written to a .pt2 file, got {out}")
    name = name_of(model)
    wrapper = ExportableClassifier(model.cpu().eval(), mean, std, input_dtype, layout).eval()
    example = example_clip(num_frames, size, input_dtype, layout, batch=2)
    try:
        with torch.inference_mode():
            logits = wrapper(example)
    except Exception as e:  # noqa: BLE001 - any failure here is the model refusing this input shape
        raise ModelError(f"model '{name}' does not accept clips of {num_frames} frames at {size}x{size}: "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    metadata = {"model": name, "class_names": list(class_names), "num_classes": int(logits.shape[-1]),
                "num_frames": num_frames, "size": size, "input_dtype": input_dtype, "layout": layout,
                "input_shape": input_shape(num_frames, size, layout), "mean": list(mean), "std": list(std),
                **(extra_metadata or {})}
    what = "ONNX" if format == "onnx" else "torch.export"
    try:
        # no_grad: a model that toggles grad mode inside forward (a frozen CLIP tower) otherwise leaves
        # set_grad_enabled nodes in the graph, which torch.export cannot load back
        with _quiet(), torch.no_grad():
            if format == "onnx":
                _export_onnx(wrapper, example, out, metadata, opset, exporter)
            else:
                _export_program(wrapper, example, out, metadata)
    except ActionlabError:
        raise
    except Exception as e:  # noqa: BLE001 - exporter failures come in many types; name the blocking op
        raise ModelError(f"cannot export model '{name}' to {what}: {blocking_op(e)}") from e
    diff = tol = None
    if verify:
        diff, tol = verify_export(out, wrapper, example_clip(num_frames, size, input_dtype, layout, batch=3, seed=1))
        if not diff <= tol:
            raise ModelError(f"exported {what} model {out} differs from PyTorch: max abs logit difference "
                             f"{diff:.3g} > tolerance {tol:.3g}")
    return ExportResult(out, format, input_shape(num_frames, size, layout), input_dtype, diff, tol, metadata)


def export_checkpoint(checkpoint: str | Path, out: str | Path, *, format: Format = "onnx",
                      input_dtype: InputType = "uint8", layout: Layout = "ncthw", num_frames: int | None = None,
                      size: int | None = None, verify: bool = True, opset: int | None = None,
                      exporter: str = "dynamo") -> ExportResult:
    """Export a training checkpoint; T and S default to the checkpoint's config."""
    from .api import load

    predictor = load(checkpoint, device="cpu")
    pre = predictor.preprocess
    return export_model(predictor.model, out, format=format, class_names=predictor.class_names, mean=pre.mean,
                        std=pre.std, num_frames=num_frames or pre.num_frames, size=size or pre.input_size,
                        input_dtype=input_dtype, layout=layout, verify=verify, opset=opset, exporter=exporter,
                        extra_metadata={"checkpoint": Path(checkpoint).name, "sampler": pre.sampler,
                                        "scale_size": pre.scale_size, "frame_interval": pre.frame_interval,
                                        "multi_label": predictor.multi_label})


def result_summary(result: ExportResult) -> dict[str, Any]:
    d = asdict(result)
    d["path"] = str(result.path)
    return d


# --------------------------------------------------------------------------- --format hub: a shareable folder


def _table(metrics: dict[str, Any]) -> str:
    rows = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()
                     if isinstance(v, (int, float, str)))
    return f"| metric | value |\n|---|---|\n{rows}\n"


def find_test_results(checkpoint: str | Path) -> list[dict[str, Any]]:
    """`actionlab test` outputs of this checkpoint: <run dir>/test_<split>_<views>/metrics.json naming it."""
    ckpt = Path(checkpoint).resolve()
    from .engine.rundir import run_dir_of

    run_dir = run_dir_of(ckpt)
    found = []
    for path in sorted(run_dir.glob("test_*/metrics.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and Path(str(data.get("checkpoint", ""))).name == ckpt.name:
            found.append(data)
    return found


def _model_card(name: str, class_names: Sequence[str], pre: Any, ckpt: dict[str, Any], source: str,
                tests: Sequence[dict[str, Any]] = ()) -> str:
    parts = []
    for t in tests:
        parts.append(f"`actionlab test` on split `{t.get('split')}`, views {t.get('views')}, {t.get('videos')} videos "
                     f"({t.get('skipped', 0)} skipped):\n\n{_table(dict(t.get('metrics') or {}))}")
    if ckpt.get("metrics"):
        parts.append(f"Validation metrics stored in the checkpoint (epoch {ckpt.get('epoch', '?')}):\n\n"
                     f"{_table(dict(ckpt['metrics']))}")
    results = "\n".join(parts) if parts else ("No test results found (run `actionlab test CONFIG --checkpoint "
                                                 "CKPT` before exporting and they are included).\n")
    shown = ", ".join(class_names[:10]) + (f", ... ({len(class_names)} in all)" if len(class_names) > 10 else "")
    return f"""---
library_name: actionlab
pipeline_tag: video-classification
tags: [actionlab, video-classification, {name}]
---

# {name}

Exported by `actionlab export {source} --format hub` (actionlab {_version()}).

- model: `{name}`, {len(class_names)} classes: {shown}
- input: {pre.num_frames} frames ({pre.sampler} sampling{', interval ' + str(pre.frame_interval)
                                   if pre.sampler == 'dense' else ''}), short side {pre.scale_size}, \
center crop {pre.input_size}, (x / 255 - mean) / std with mean {list(pre.mean)}, std {list(pre.std)}
- files: `model.safetensors` (weights), `config.json` (the training config), `labels.txt`,
  `preprocessing.json`

## Results

{results}
## Use

```python
import actionlab
predictor = actionlab.load("THIS_FOLDER_OR_HUB_REPO_ID")
print(predictor.predict("video.mp4", topk=5).labels)
```

or `actionlab predict video.mp4 --model THIS_FOLDER_OR_HUB_REPO_ID`.
"""


def _version() -> str:
    from . import __version__

    return __version__


@dataclass
class HubFolder:
    path: Path
    files: list[str]  # the files written, in the order written
    local_paths: list[str]  # config keys / result fields whose local paths were cut to a file name


def shareable(value: Any, key: str = "", cut: list[str] | None = None) -> Any:
    """`value` (nested dicts / lists) with every absolute local path cut to its last component
    ('/home/me/data/ucf101' -> 'ucf101'); the dotted keys cut are appended to `cut`."""
    if isinstance(value, dict):
        return {k: shareable(v, f"{key}.{k}" if key else str(k), cut) for k, v in value.items()}
    if isinstance(value, list):
        return [shareable(v, key, cut) for v in value]
    if isinstance(value, str) and (os.path.isabs(value) or value.startswith("~")):
        if cut is not None and key not in cut:
            cut.append(key)
        return Path(value).name
    return value


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def export_hub(checkpoint: str | Path, out_dir: str | Path, tests: Sequence[dict[str, Any]] | None = None
               ) -> HubFolder:
    """A self-describing folder: model.safetensors, config.json, labels.txt, preprocessing.json, README.md
    (the model card, with the `actionlab test` results found in the run folder: `find_test_results`, also
    copied to test_results.json).

    A folder for sharing: it carries no local paths (absolute paths in the config and the test results are cut
    to their last component; config.json lists which), and every file gets the mode a new file gets here
    (0644 under the usual umask; safetensors writes its file 0600 otherwise).

    `actionlab.load(DIR)` / `actionlab predict --model DIR` read it back; uploaded to the Hugging Face
    Hub as is, `actionlab.load("org/name")` reads it through huggingface_hub.
    """
    from .api import HUB_FORMAT, _read_checkpoint

    save_file = require("safetensors.torch", "hub", "--format hub (model.safetensors)").save_file
    model, cfg, class_names, ckpt = _read_checkpoint(checkpoint, torch.device("cpu"))
    from .api import Preprocess

    pre = Preprocess.from_config(cfg, model)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"export --format hub: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}  # no shared storage
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    name = name_of(model) if isinstance(model, Recognizer) and model.model_name else cfg.model.name
    cut: list[str] = []
    config = shareable(cfg.to_dict(), "", cut)
    tests = find_test_results(checkpoint) if tests is None else list(tests)
    tests = [shareable(t, f"test_results[{i}]", cut) for i, t in enumerate(tests)]
    meta = {"format": HUB_FORMAT, "model_name": name, "num_classes": len(class_names),
            "multi_label": bool(ckpt.get("multi_label", False)), "config": config, "local_paths_cut": cut}
    texts = {"config.json": json.dumps(meta, indent=1) + "\n", "labels.txt": "\n".join(class_names) + "\n",
             "preprocessing.json": json.dumps(asdict(pre), indent=1) + "\n"}
    if tests:
        texts["test_results.json"] = json.dumps(tests, indent=1) + "\n"
    texts["README.md"] = _model_card(name, class_names, pre, ckpt, Path(checkpoint).name, tests)
    for file, text in texts.items():
        (out / file).write_text(text, encoding="utf-8")
    files = ["model.safetensors", *texts]
    mode = 0o666 & ~_umask()
    for file in files:
        os.chmod(out / file, mode)
    return HubFolder(out, files, cut)
