"""Where and how tensors run: device choice, seeding, determinism, autocast, input preparation."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..errors import ConfigError


def select_device(name: str | torch.device, local_rank: int = 0, source: str = "config key 'train.device'"
                  ) -> torch.device:
    """The one reading of a device name, for every command and the Python API.

    'auto': the local rank's GPU when there is one, else the CPU; 'cuda': the local rank's GPU; 'cpu', 'cuda:1'
    as given.  A name torch does not know, or a GPU asked for where there is none, is a one-line ConfigError
    that begins with `source` (where the name came from: a config key, an option, an argument).
    """
    if str(name) == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"{source}: unknown device {name!r} (expected auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{source} asks for {name!r}, but no CUDA device is available")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def wants_cuda(name: str) -> bool:
    """Whether the device name will select a GPU (torchrun then uses NCCL)."""
    return name.startswith("cuda") or (name == "auto" and torch.cuda.is_available())


def seed_everything(seed: int, deterministic: bool = False, device: torch.device | None = None) -> None:
    """One seed drives Python, NumPy and torch; `deterministic` also pins the algorithms.

    Data workers are seeded per sample from the same seed (see `loader.SeededDataset`).  On the CPU
    the kernels are deterministic for a fixed thread count already; on a GPU `deterministic` selects
    deterministic cuDNN / cuBLAS kernels.  (`torch.use_deterministic_algorithms` is only called for
    GPUs: it imports torch._inductor, seconds of start-up that a CPU run does not need.)
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    on_gpu = device is not None and device.type == "cuda"
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        if on_gpu:
            # cuBLAS needs a fixed workspace to be deterministic; set before the first CUDA matmul.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = on_gpu


def autocast_factory(amp: str, device: torch.device) -> tuple[Callable[[], contextlib.AbstractContextManager], bool]:
    """(autocast context factory, needs a GradScaler) for the `train.amp` setting.

    auto: bf16 on GPU, full precision on CPU (CPU bf16 is slower than fp32 on most CPUs).
    """
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    if amp == "auto":
        dtype = torch.bfloat16 if device.type == "cuda" else None
    if dtype is None:
        return contextlib.nullcontext, False
    if dtype is torch.float16 and device.type != "cuda":
        raise ConfigError("config key 'train.amp': fp16 needs a CUDA device; use bf16 or off on the CPU")
    return (lambda: torch.autocast(device.type, dtype=dtype)), dtype is torch.float16


def prepare_clip(clip: torch.Tensor, device: torch.device, mean: Sequence[float], std: Sequence[float]
                 ) -> torch.Tensor:
    """uint8 clips [..., C, T, H, W] from the loader -> normalised float on `device`.

    The copy to the device is done on uint8 (4x less traffic) and normalised there.
    """
    from ..data.transforms import normalize

    return normalize(clip.to(device, non_blocking=True), mean, std)


def model_mean_std(model: torch.nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The normalisation a registered model was built for (ImageNet for unregistered ones)."""
    from ..models.recognizer import Recognizer
    from ..norms import IMAGENET_MEAN, IMAGENET_STD

    if isinstance(model, Recognizer) and model.model_info is not None:
        return tuple(model.model_info.mean), tuple(model.model_info.std)
    return IMAGENET_MEAN, IMAGENET_STD


def to_channels_last(module: torch.nn.Module) -> torch.nn.Module:
    """Move the 4D parameters and buffers (2D convolutions) of `module` to channels_last, in place.

    `module.to(memory_format=torch.channels_last)` raises on a 5D weight (3D convolutions: TEFE's FE,
    SlowOnly); those, and every other rank, keep their layout.  Returns `module`.
    """
    # Module._apply is what Module.to uses: it also swaps .grad and keeps Parameter objects (optimizers
    # built before the call stay valid).
    return module._apply(lambda t: t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t)


def set_threads(threads: int | None) -> int:
    """Use `threads` torch CPU threads (None or 0: leave the default); returns the count in use.

    One setting for every command: `--threads N` on the command line, else `runtime.threads` of the config.
    The CLI's default is set before torch loads (`actionlab.threads`): the cores free of other work at start,
    threads that sleep rather than spin while they wait.
    """
    if threads is not None and threads < 0:
        raise ConfigError(f"--threads must be >= 0, got {threads}")
    if threads:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()
