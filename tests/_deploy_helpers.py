"""Tiny checkpoints and generated videos for the deployment tests (api, timeline, export, batch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests import _data_helpers as data_helpers

CLASSES = ["clap", "jump", "run", "sit", "wave"]


def make_checkpoint(path: Path, model: str = "tsm_r18_tiny", num_frames: int = 4, input_size: int = 32,
                    scale_size: int = 36, fc_std: float = 0.1, seed: int = 0, overrides: list[str] | None = None
                    ) -> Path:
    """A checkpoint in the engine's format with random weights and a loud classifier.

    The fc is re-drawn with std `fc_std` (the builders use 0.001) so that logits differ visibly from clip
    to clip and a wrong frame, crop or normalisation shows up as a score difference.
    """
    from actionlab.config import load_config
    from actionlab.engine.build import build_model
    from actionlab.engine.checkpoint import FORMAT, save_checkpoint

    torch.manual_seed(seed)
    cfg = load_config(None, [f"model.name={model}", f"data.num_segments={num_frames}",
                             f"data.input_size={input_size}", f"data.scale_size={scale_size}", *(overrides or [])])
    net = build_model(cfg, len(CLASSES), load_pretrained=False)
    fc = getattr(net, "fc", None)
    if isinstance(fc, torch.nn.Linear):
        torch.nn.init.normal_(fc.weight, 0.0, fc_std)
    payload = {"format": FORMAT, "model_name": model, "num_classes": len(CLASSES), "class_names": list(CLASSES),
               "config": cfg.to_dict(), "model": net.state_dict()}
    return save_checkpoint(payload, path)


def changing_frames(n: int, h: int = 40, w: int = 48, seed: int = 0, period: int = 12) -> np.ndarray:
    """uint8 [n, h, w, 3]: a new random block pattern every `period` frames plus a moving bar, so that
    windows at different times hold different content."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, h, w, 3), dtype=np.uint8)
    pattern = None
    for i in range(n):
        if i % period == 0:
            pattern = rng.integers(0, 256, (h // 8, w // 8, 3)).astype(np.uint8).repeat(8, 0).repeat(8, 1)
        out[i] = pattern
        x = (i * 2) % (w - 4)
        out[i, :, x:x + 4] = 255
    return out


def write_video(path: Path, frames: np.ndarray, fps: int = 10, codec: str = "libx264") -> Path:
    options = {"g": "16", "preset": "ultrafast"} if codec == "libx264" else {"g": "16"}
    return data_helpers.write_video(path, frames, codec, options=options, fps=fps)


def decode_all(path: Path) -> torch.Tensor:
    """Every frame in order (the reference decode of the data package)."""
    from actionlab.data.readers import read_all_sequential

    return read_all_sequential(path)
