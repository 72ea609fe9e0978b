"""Tiny in-memory data and models for the engine tests (no video files, no registry entries needed).

`ToyVideos` yields the dataset contract's items: {"clip": uint8 [V, C, T, H, W], "label", "index"}.
Class c is a bright square moving right (even c) or left (odd c) - a pair per two classes - plus noise,
and training items draw a random horizontal offset so that augmentation randomness is exercised.
"""

from __future__ import annotations

import errno

import torch

from actionlab.models.backbones.resnet import ResNet
from actionlab.models.recognizer import Output, Recognizer
from actionlab.models.tsn import TSN


class ToyVideos(torch.utils.data.Dataset):
    def __init__(self, n: int = 16, num_classes: int = 4, frames: int = 4, size: int = 32, views: int = 1,
                 train: bool = True, seed: int = 0):
        self.n, self.num_classes, self.frames, self.size, self.views, self.train = n, num_classes, frames, size, \
            views, train
        self.class_names = [f"class_{c}" for c in range(num_classes)]
        self.multi_label = False
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % num_classes
        self.noise = torch.randint(0, 40, (n, 3, frames, size, size), generator=g, dtype=torch.uint8)

    def __len__(self) -> int:
        return self.n

    def _clip(self, i: int, shift: int) -> torch.Tensor:
        clip = self.noise[i].clone()
        c = int(self.labels[i])
        for t in range(self.frames):
            step = t if c % 2 == 0 else self.frames - 1 - t
            x = (shift + step * (self.size // (self.frames + 1))) % (self.size - 8)
            y = 4 + 6 * (c // 2)
            clip[c % 3, t, y : y + 8, x : x + 8] = 250
        return clip

    def __getitem__(self, i: int) -> dict:
        views = []
        for v in range(self.views):
            shift = int(torch.randint(0, 4, ()).item()) if self.train else v
            views.append(self._clip(i, shift))
        return {"clip": torch.stack(views), "label": self.labels[i].clone(), "index": i}


def tiny_tsn(num_classes: int = 4, frames: int = 4, dropout: float = 0.5) -> TSN:
    model = TSN(ResNet("resnet18", base_width=8), num_classes, frames, dropout=dropout, init_std=0.01)
    model.model_name = "toy_tsn"
    return model


class PooledLinear(Recognizer):
    """A recognizer without BN or dropout (so batch composition does not change its gradients)."""

    def __init__(self, num_classes: int = 4, frames: int = 4):
        super().__init__()
        self.num_classes, self.num_segments = num_classes, frames
        self.fc = torch.nn.Linear(3 * frames * 4 * 4, num_classes)
        self.model_name = "toy_linear"

    def forward(self, clip):
        pooled = torch.nn.functional.adaptive_avg_pool3d(clip, (clip.shape[2], 4, 4))
        return Output(self.fc(pooled.flatten(1)))


def toy_config(work_dir, *overrides: str):
    """A config for the toy data: CPU, 4 frames, batch 4, no workers, deterministic."""
    from actionlab.config import load_config

    base = ["name=toy", f"train.work_dir={work_dir}", "train.epochs=2", "data.batch_size=4", "data.num_workers=0",
            "data.num_segments=4", "optim.lr=0.05", "train.log_every=1000", "train.device=cpu",
            "train.deterministic=true", "train.seed=1"]
    return load_config(None, base + list(overrides))


# A tiny TSN on 32 px, 4 segments, batch 2, one epoch on the CPU: the CLI tests' model.
CLI_TINY = ["model.name=tsn_r18_tiny", "model.kwargs={base_width: 8, dropout: 0.0}", "data.num_segments=4",
            "data.scale_size=32", "data.input_size=32", "data.batch_size=2", "train.epochs=1", "train.device=cpu",
            "test.batch_size=2"]


def trained_cli_run(root, name: str, overrides: list[str], broken_video: bool = False):
    """A 2-class generated benchmark (2 videos a class per split) under `root`, a config `name` for it, and
    `actionlab train` run once on it (one thread) -> (root, config path, last.pt path)."""
    from actionlab.cli import main
    from actionlab.data.synthetic import generate

    generate(root / "data", "order", videos_per_class=2, eval_per_class=2, size=32, frames=8,
             classes=["move_right", "move_left"])
    if broken_video:
        (root / "data/videos/broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    config = root / "cfg.yaml"
    config.write_text(f"_base_: {root / 'data' / 'data.yaml'}\nname: {name}\ntrain:\n  work_dir: {root / 'runs'}\n"
                      "data:\n  flip: false\n  num_workers: 0\n")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train", str(config), "--set", *overrides]) == 0
    finally:
        torch.set_num_threads(n)
    return root, config, root / "runs" / name / "checkpoints" / "last.pt"


class FullDisk:
    """The temp file's writer on a disk with `room` bytes left: further writes raise ENOSPC, as a full
    filesystem does.  torch.save then fails the way torch 2.13 does on a real full tmpfs: RuntimeError
    ("... unexpected pos N vs M") with the OSError only as its context."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()
