"""Checkpoints: written atomically, loaded with `weights_only=True`.

A training checkpoint is a dict of plain types and tensors only (so the safe
unpickler reads it):

    format          "actionlab-checkpoint/1"
    model_name      registered model name (or the class name of an unregistered model)
    num_classes     size of the classifier
    class_names     list[str]         multi_label  sigmoid scores (Charades) rather than softmax
    config          the resolved config (`Config.to_dict()`)
    model           state dict of the unwrapped model
    optimizers      {name: state dict}          schedulers {name: state dict}
    scaler          GradScaler state or None    strategy    the strategy's own state
    epoch           epoch being trained (0-based)
    batch_in_epoch  micro-batches of that epoch already consumed (0 at an epoch start)
    step            optimizer steps done in total
    rng             Python / NumPy / torch (CPU and CUDA) generator states
    best            best validation metric so far; metrics: the last epoch's metrics

The file is written to a temporary name in the same directory, flushed to
disk and renamed over the target, so a crash never leaves a half-written
`last.pt`; a write that fails (disk full, quota, permissions) removes the
temporary file, keeps the previous checkpoint and raises `CheckpointWriteError`
saying what, where and how much space it needed.  A checkpoint whose class
names do not match its number of classes is refused when it is read.
"""

from __future__ import annotations

import errno
import os
import pickle
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ActionlabError, ModelError, os_error_in

FORMAT = "actionlab-checkpoint/1"


class CheckpointWriteError(ActionlabError):
    """A checkpoint could not be written (disk full, no permission): the machine's state, not a bug."""

    exit_code = 1


def payload_bytes(obj: Any) -> int:
    """The bytes of the tensors in `obj` (nested dicts / lists): about the size of the checkpoint file."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(payload_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(payload_bytes(v) for v in obj)
    return 0


def _mb(n: float) -> str:
    return f"{n / 2**20:.1f} MB"


def _write_error(e: BaseException, payload: dict[str, Any], path: Path) -> CheckpointWriteError:
    """One line: what could not be written, where, how much space it needed and how much was free."""
    needed = payload_bytes(payload)
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    code = getattr(e, "errno", None)
    # no OSError behind torch's RuntimeError (a write failed inside its C++ writer): judge by the free space
    full = code in (errno.ENOSPC, errno.EDQUOT) or (not isinstance(e, OSError) and free is not None and free < needed)
    reason = "no space left on the device" if full else (getattr(e, "strerror", None) or str(e).splitlines()[0])
    kept = f"the previous {path.name} is intact" if path.is_file() else "no earlier checkpoint was there"
    space = f"it needs about {_mb(needed)}" + (f", {_mb(free)} free" if free is not None else "")
    return CheckpointWriteError(f"cannot write checkpoint {path}: {reason} ({space} in {path.parent}); {kept}")


def _short_of_space(payload: dict[str, Any], path: Path) -> bool:
    """The folder has less free space than the checkpoint needs (a write failure without an OSError)."""
    try:
        return shutil.disk_usage(path.parent).free < payload_bytes(payload)
    except OSError:
        return False


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """Write `payload` to `path` atomically (temp file + fsync + rename); `CheckpointWriteError` if it fails."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        io_error = os_error_in(e)  # torch 2.x: ENOSPC arrives as RuntimeError("... unexpected pos ...") with context
        if io_error is None and not _short_of_space(payload, path):
            raise  # not an I/O failure: a bug, keep its traceback
        raise _write_error(io_error or e, payload, path) from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint on the CPU with the safe unpickler; a plain state dict is wrapped as {'model': ...}."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"cannot read checkpoint {path}: {first_line}") from None
    if not isinstance(data, dict):
        raise ModelError(f"checkpoint {path} holds a {type(data).__name__}, expected a dict")
    if data.get("format") == FORMAT:
        check_class_names(data, path)
        return data
    state = data.get("state_dict", data.get("model", data))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"checkpoint {path} is neither an actionlab checkpoint nor a state dict")
    return {"model": state}


def check_class_names(checkpoint: dict[str, Any], source: str | Path) -> None:
    """Refuse a checkpoint whose class names and `num_classes` disagree (3 names, 8 outputs would label
    predictions with the wrong names or index past the list)."""
    names, k = checkpoint.get("class_names"), checkpoint.get("num_classes")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise ModelError(f"checkpoint {source}: 'class_names' must be a list of strings")
    if names and k is not None and len(names) != int(k):
        raise ModelError(f"checkpoint {source} has {len(names)} class names but {k} outputs (num_classes); "
                         "refusing to guess which names go with which outputs")
    # num_classes against the weights: every loader builds the model with num_classes outputs and
    # `load_model_state` refuses a classifier of another shape by name


# --------------------------------------------------------------------------- RNG states


def capture_rng_state() -> dict[str, Any]:
    """Every generator the loop draws from, in a form `weights_only` loading accepts."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np.asarray(np_state["state"]["key"], dtype=np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state({
        "bit_generator": np_state["bit_generator"],
        "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
        "has_gauss": np_state["has_gauss"],
        "gauss": np_state["gauss"],
    })
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- model weights


def load_model_state(model: torch.nn.Module, checkpoint: dict[str, Any], source: str | Path,
                     expected_model: str | None = None) -> None:
    """Load a checkpoint's weights into `model`, with one-line errors for the usual mistakes.

    expected_model: the model name the caller builds; a checkpoint saved from another model is refused
    by name before any tensor is compared.
    """
    saved_name = checkpoint.get("model_name")
    if expected_model and saved_name and saved_name != expected_model:
        raise ModelError(f"checkpoint {source} was saved from model '{saved_name}', not '{expected_model}'")
    state = checkpoint["model"]
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys (e.g. {', '.join(unexpected[:3])})")
        raise ModelError(f"checkpoint {source} does not fit model '{expected_model or type(model).__name__}': "
                         + "; ".join(parts))
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in own.items() if state[k].shape != v.shape]
    if wrong:
        k, got, want = wrong[0]
        raise ModelError(f"checkpoint {source} does not fit the model: '{k}' has shape {got}, the model "
                         f"expects {want} ({len(wrong)} mismatched tensors)")
    model.load_state_dict(state)
