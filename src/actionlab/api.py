"""The Python API for inference: a checkpoint in, class names and scores out.

    import actionlab

    predictor = actionlab.load("runs/tsm/best.pt")          # model + its preprocessing, eval mode
    result = predictor.predict("video.mp4", topk=5)          # or frames: uint8 [F, H, W, 3]
    for name, score in result:
        print(f"{name}: {score:.3f}")

The preprocessing is the test-time pipeline the checkpoint was trained for, read
from its resolved config and the model's `ModelInfo`, and run by the data
package's own sampler, transform and reader, so `predict` sees what `actionlab
test` sees:

    video --test sampler (data.sampler, num_segments, frame_interval, twice_sample)--> T frame indices
      --reader (only those frames are decoded)--> uint8 [T, H, W, 3]
      --short side to data.scale_size, crop data.input_size (views: clips x crops)--> uint8 [V, 3, T, S, S]
      --(x / 255 - mean) / std (ModelInfo.mean / std)--> model --> logits [V, K]

Scores are softmax probabilities (sigmoid for multi-label checkpoints), averaged
over the views like `actionlab test` (`test.average`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .config import Config
from .engine.runtime import model_mean_std, select_device
from .errors import ConfigError, DataError, ModelError, require
from .metrics import scores_from_logits
from .models.recognizer import name_of
from .norms import IMAGENET_MEAN, IMAGENET_STD

VideoInput = str | Path | np.ndarray | torch.Tensor


# --------------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class Preprocess:
    """A checkpoint's test-time pipeline, run by the data package's sampler, transform and reader.

    Picklable, so DataLoader workers can run it (see `batch_predict`).
    """

    num_frames: int  # T frames per clip
    input_size: int  # crop side S
    scale_size: int  # short side before cropping
    sampler: str = "segment"  # segment | dense | uniform (data.sampler)
    frame_interval: int = 1  # dense sampler stride
    twice_sample: bool = False  # TSN/TSM test option: one more clip of the segment starts
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    backend: str = "auto"  # video reader backend (data.backend)
    autorotate: bool = True  # apply rotation metadata (data.autorotate)
    style: str = "actionlab"  # resize / crop arithmetic (data.test_style): actionlab | mmaction2 | tsm

    @classmethod
    def from_config(cls, cfg: Config, model: nn.Module | None = None) -> Preprocess:
        if model is not None:
            mean, std = model_mean_std(model)
        else:
            from .models.registry import model_info

            info = model_info(cfg.model.name)
            mean, std = info.mean, info.std
        num_frames = int(getattr(model, "num_segments", 0) or cfg.data.num_segments)
        return cls(num_frames=num_frames, input_size=cfg.data.input_size, scale_size=cfg.data.scale_size,
                   sampler=cfg.data.sampler, frame_interval=cfg.data.frame_interval,
                   twice_sample=cfg.data.twice_sample, mean=tuple(mean), std=tuple(std), backend=cfg.data.backend,
                   autorotate=cfg.data.autorotate, style=cfg.data.test_style)

    def sample(self, length: int, num_clips: int = 1) -> np.ndarray:
        """Test-time frame indices [clips, T] for a video of `length` frames (the data package's sampler)."""
        from .data.sampling import build_sampler

        if length < 1:
            raise DataError("cannot sample frames from a video with no frames")
        sampler = build_sampler(self.sampler, self.num_frames, self.frame_interval, self.twice_sample)
        return sampler(length, np.random.default_rng(0), train=False, num_clips=num_clips)

    def clips(self, frames: torch.Tensor, num_clips: int = 1, num_crops: int = 1) -> torch.Tensor:
        """Sampled frames uint8 [clips * T, H, W, 3] -> uint8 views [clips * crops, 3, T, S, S]."""
        from .data.transforms import TestTransform

        return TestTransform(self.input_size, self.scale_size, num_crops, self.style)(frames, num_clips)[0]

    def normalise(self, clip: torch.Tensor) -> torch.Tensor:
        """uint8 [..., 3, T, H, W] -> float (x / 255 - mean) / std, on the clip's device."""
        from .data.transforms import normalize

        return normalize(clip, self.mean, self.std)


def parse_views(views: str) -> tuple[int, int]:
    """'2x3' -> (2 clips, 3 crops), as `test.views`."""
    from .data.sampling import parse_views as parse

    return parse(views)


def as_frames(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Decoded frames as uint8 [F, H, W, 3] (NumPy or torch, any F >= 1)."""
    t = torch.from_numpy(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
    if t.dim() != 4 or t.shape[-1] != 3 or t.shape[0] < 1:
        raise DataError(f"frames must be [F, H, W, 3] with F >= 1, got shape {tuple(t.shape)}")
    if t.dtype != torch.uint8:
        raise DataError(f"frames must be uint8 RGB, got {t.dtype}")
    return t.cpu()


def clips_from_frames(frames: np.ndarray | torch.Tensor, preprocess: Preprocess, views: str = "1x1"
                      ) -> torch.Tensor:
    """All decoded frames [F, H, W, 3] -> uint8 views [V, 3, T, S, S]."""
    frames = as_frames(frames)
    num_clips, num_crops = parse_views(views)
    idx = preprocess.sample(frames.shape[0], num_clips)
    return preprocess.clips(frames[torch.from_numpy(idx.reshape(-1))], idx.shape[0], num_crops)


def load_clips(path: str | Path, preprocess: Preprocess, views: str = "1x1") -> torch.Tensor:
    """A video file (or frame folder) -> uint8 views [V, 3, T, S, S]; only the sampled frames are decoded.

    Needs no model, so DataLoader workers call it (see `batch_predict`).
    """
    from .data.readers import open_video

    num_clips, num_crops = parse_views(views)
    # its scan gives the exact frame count
    with open_video(path, preprocess.backend, autorotate=preprocess.autorotate) as video:
        if video.num_frames < 1:
            raise DataError(f"{path} holds no decodable frames")
        idx = preprocess.sample(video.num_frames, num_clips)
        frames = video.read(idx.reshape(-1))
    return preprocess.clips(frames, idx.shape[0], num_crops)


# --------------------------------------------------------------------------- results


@dataclass
class Prediction:
    """Top-k classes of one video: iterate for (class name, score) pairs, best first."""

    labels: list[str]
    scores: list[float]
    probabilities: torch.Tensor = field(repr=False)  # [K] scores of every class, in class order

    def __iter__(self) -> Iterator[tuple[str, float]]:
        return iter(zip(self.labels, self.scores))

    def __getitem__(self, i: int) -> tuple[str, float]:
        return self.labels[i], self.scores[i]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def label(self) -> str:
        """The top-1 class name."""
        return self.labels[0]

    @property
    def score(self) -> float:
        return self.scores[0]

    def to_dict(self) -> dict[str, Any]:
        return {"top": [{"label": n, "score": round(s, 6)} for n, s in self]}


def top_classes(scores: torch.Tensor, class_names: Sequence[str], topk: int) -> Prediction:
    """[K] scores -> Prediction with the `topk` best classes."""
    k = max(1, min(int(topk), scores.numel()))
    values, idx = scores.float().topk(k)
    return Prediction([class_names[i] for i in idx.tolist()], [float(v) for v in values], scores.float().cpu())


# --------------------------------------------------------------------------- the predictor


class Predictor:
    """A model in eval mode with its preprocessing and class names."""

    def __init__(self, model: nn.Module, class_names: Sequence[str], preprocess: Preprocess, *,
                 device: torch.device | str = "cpu", multi_label: bool = False, average: str = "prob",
                 max_views_per_forward: int = 8, cfg: Config | None = None, checkpoint: str | None = None,
                 views: str = "1x1"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.class_names = list(class_names)
        self.preprocess = preprocess
        self.multi_label = multi_label
        self.average = average
        self.max_views_per_forward = max(1, max_views_per_forward)
        self.cfg = cfg
        self.checkpoint = checkpoint
        self.views = views  # the views `predict` averages unless it is given others (a tag's --protocol release)
        num_classes = getattr(model, "num_classes", len(self.class_names))
        if num_classes != len(self.class_names):
            raise ModelError(f"model has {num_classes} classes but {len(self.class_names)} class names were given")

    @property
    def num_frames(self) -> int:
        return self.preprocess.num_frames

    @property
    def input_size(self) -> int:
        return self.preprocess.input_size

    @property
    def model_name(self) -> str:
        return name_of(self.model)

    @torch.inference_mode()
    def logits(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 (or already normalised float) clips [N, 3, T, S, S] -> logits [N, K] on the CPU."""
        outs = []
        for part in clips.split(self.max_views_per_forward):
            part = part.to(self.device, non_blocking=True)
            x = self.preprocess.normalise(part) if part.dtype == torch.uint8 else part.float()
            outs.append(self.model(x).logits.float().cpu())
        return torch.cat(outs)

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits [..., K] -> probabilities (softmax, or sigmoid for multi-label)."""
        return scores_from_logits(logits, self.multi_label)

    def video_scores(self, clips: torch.Tensor) -> torch.Tensor:
        """Views of one video [V, 3, T, S, S] -> scores [K], averaged as probabilities (or as logits)."""
        return self.batch_scores(clips[None])[0]

    def batch_scores(self, clips: torch.Tensor) -> torch.Tensor:
        """Views of several videos [B, V, 3, T, S, S] -> averaged scores [B, K]."""
        b, v = clips.shape[:2]
        logits = self.logits(clips.flatten(0, 1)).view(b, v, -1)
        if self.average == "logit":
            return self.scores(logits.mean(1))
        return self.scores(logits).mean(1)

    def check_views(self, views: str) -> None:
        """Refuse mirrored views (10 crops = 5 + flips) for a label set that tells left from right (SSv2)."""
        from .data.transforms import tells_left_from_right

        if parse_views(views)[1] == 10 and tells_left_from_right(self.class_names):
            raise ConfigError(f"--views {views}: 10 crops include horizontal flips, and this model's classes tell "
                              "left from right (a flipped clip shows another class); use 1, 3 or 5 crops")

    def clips_from_frames(self, frames: np.ndarray | torch.Tensor, views: str = "1x1") -> torch.Tensor:
        """All decoded frames [F, H, W, 3] -> uint8 views [V, 3, T, S, S]."""
        self.check_views(views)
        return clips_from_frames(frames, self.preprocess, views)

    def clips_from_video(self, path: str | Path, views: str = "1x1") -> torch.Tensor:
        """A video file -> uint8 views [V, 3, T, S, S]; only the sampled frames are decoded."""
        self.check_views(views)
        return load_clips(path, self.preprocess, views)

    def predict(self, video: VideoInput, topk: int = 5, views: str | None = None) -> Prediction:
        """Top-`topk` classes of a video file or of decoded frames uint8 [F, H, W, 3].

        views: "clips x crops" as in `actionlab test` (e.g. "2x3"); scores are averaged over them.  Default:
        the predictor's own (1x1, or a tag's release protocol when loaded with protocol="release").
        """
        views = views or self.views
        if isinstance(video, (str, Path)):
            clips = self.clips_from_video(video, views)
        else:
            clips = self.clips_from_frames(video, views)
        return top_classes(self.video_scores(clips), self.class_names, topk)

    def __call__(self, video: VideoInput, topk: int = 5, views: str | None = None) -> Prediction:
        return self.predict(video, topk, views)

    def timeline(self, video: str | Path, window: int = 64, stride: int | None = None, topk: int = 5,
                 batch_size: int = 8, out_video: str | Path | None = None) -> Any:
        """Scores of a window slid over the whole video (`actionlab.timeline.Timeline`).

        stride: frames between window starts (default window / 4).  out_video: also write the annotated video
        while the model works (else `.to_video(path)` writes it afterwards).  `.to_html(path)` writes the page.
        """
        from .timeline import annotated_timeline, video_timeline

        stride = stride or max(1, window // 4)
        if out_video is not None:
            return annotated_timeline(self, video, out_video, window, stride, topk, batch_size)
        return video_timeline(self, video, window, stride, topk, batch_size)

    def __repr__(self) -> str:
        p = self.preprocess
        return (f"Predictor({self.model_name}, {len(self.class_names)} classes, {p.num_frames}x{p.input_size}, "
                f"sampler={p.sampler}, device={self.device})")


def _read_checkpoint(path: str | Path, device: torch.device) -> tuple[nn.Module, Config, list[str], dict[str, Any]]:
    """(model with weights in eval mode, resolved config, class names, raw checkpoint) via the engine."""
    from .engine.build import load_for_inference

    loaded = load_for_inference(path, device=device)
    return loaded.model, loaded.cfg, loaded.class_names, loaded.checkpoint


HUB_FORMAT = "actionlab-hub/1"


def load(checkpoint: str | Path, device: str | torch.device = "auto", multi_label: bool | None = None,
         average: str | None = None, weights: str | Path | None = None, protocol: str = "single") -> Predictor:
    """A ready `Predictor` from any of:

    - a training checkpoint (`runs/<name>/best.pt` or `last.pt`);
    - a folder written by `actionlab export CKPT --format hub DIR`;
    - a pretrained tag ('tsm_r50.k400', see `actionlab.list_pretrained()`): the release's weights,
      downloaded once into the torch hub cache, or `weights` (a file downloaded by hand);
    - a Hugging Face Hub repo id ('org/name') holding such a folder (`pip install 'actionlab[hub]'`;
      honours HF_HUB_OFFLINE and HF_HUB_CACHE).

    multi_label: sigmoid scores instead of softmax; by default the checkpoint says (Charades-style runs).
    protocol: for a pretrained tag, "single" or "release" (its release's multi-view test; see `from_pretrained`).
    """
    if protocol != "single" and (Path(checkpoint).exists() or str(checkpoint) not in _tag_names()):
        raise ConfigError(f"protocol {protocol!r} belongs to a pretrained tag (--model tsm_r50.k400); {checkpoint} "
                          "is not one: give its views with --views")
    dev = select_device(device, source="device")
    path = Path(checkpoint)
    if path.is_dir():
        return load_exported(path, dev, multi_label, average)
    if not path.exists():
        from .models.pretrained import is_tag

        if is_tag(str(checkpoint)):
            return from_pretrained(str(checkpoint), weights=weights, device=dev, protocol=protocol)
        if _is_repo_id(str(checkpoint)):
            return load_exported(_hub_snapshot(str(checkpoint)), dev, multi_label, average)
        if _looks_like_tag(str(checkpoint)):  # 'tsm_r50.k40': no such file; say which tag was meant
            from .models.pretrained import get_pretrained

            get_pretrained(str(checkpoint))
    if weights is not None:
        raise ConfigError("--weights goes with a pretrained tag (--model tsm_r50.k400), not with a checkpoint")
    model, cfg, class_names, ckpt = _read_checkpoint(checkpoint, dev)
    if multi_label is None:
        multi_label = bool(ckpt.get("multi_label", False))
    return Predictor(model, class_names, Preprocess.from_config(cfg, model), device=dev, multi_label=multi_label,
                     average=average or cfg.test.average, max_views_per_forward=cfg.test.max_views_per_forward,
                     cfg=cfg, checkpoint=str(checkpoint))


def from_pretrained(name: str, weights: str | Path | None = None, device: str | torch.device = "auto",
                    quiet: bool = False, protocol: str = "single") -> Predictor:
    """A `Predictor` for a pretrained video tag with the release's labels and test-time preprocessing.

    protocol: "single" (one clip, one centre crop, the release's own sampling / resize / crop arithmetic) or
    "release" (the multi-view test the release's reported accuracy used: `PretrainedTag.protocol`).
    """
    import sys

    from .labels import load_labels
    from .models.pretrained import get_pretrained
    from .models.registry import create_model

    tag = get_pretrained(name)
    if not tag.is_video:
        raise ModelError(f"{name} is an ImageNet backbone, not a video model; use pretrained='{tag.tag}' when "
                         "building a model")
    model = create_model(tag.name, weights=str(weights) if weights is not None else None)
    report = model.pretrained_report
    if report is not None and report.new:  # a tensor the file did not give would predict at random
        raise ModelError(f"weights {weights or tag.name} do not give every tensor of {tag.name} (new: "
                         f"{', '.join(report.new[:4])}): refusing to predict with randomly initialised weights")
    if report is not None and not quiet:
        print(f"weights {tag.name}: {report.counts()}", file=sys.stderr)
    p = tag.protocol(protocol)
    preprocess = Preprocess(num_frames=tag.num_frames, input_size=p["input_size"], scale_size=p["scale_size"],
                            sampler=p["sampler"], frame_interval=p["frame_interval"], twice_sample=p["twice_sample"],
                            mean=tag.mean, std=tag.std, style=p["test_style"])
    return Predictor(model, load_labels(tag.labels or ""), preprocess, device=select_device(device, source="device"),
                     checkpoint=tag.name, average=p["average"], views=p["views"])


def _tag_names() -> set[str]:
    from .models.pretrained import list_pretrained

    return set(list_pretrained())


def _looks_like_tag(text: str) -> bool:
    """'model.tag' (no folder, no checkpoint suffix): a mistyped pretrained tag rather than a missing file."""
    import re

    return re.fullmatch(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*", text) is not None and \
        not text.endswith((".pt", ".pth", ".ckpt", ".safetensors"))


def _is_repo_id(text: str) -> bool:
    import re

    return re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", text) is not None and not text.endswith((".pt", ".pth"))


def _hub_snapshot(repo_id: str) -> Path:
    """The local folder of a Hub repo (downloaded, or from the cache when HF_HUB_OFFLINE=1)."""
    snapshot_download = require("huggingface_hub", "hub", f"{repo_id}: not a file or folder here; loading it from "
                                "the Hugging Face Hub").snapshot_download
    try:
        return Path(snapshot_download(repo_id))
    except Exception as e:  # offline and not cached, unknown repo, no network
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ModelError(f"{repo_id}: not a file or folder here, and the Hugging Face Hub gave "
                         f"{type(e).__name__}: {first}") from None


def load_exported(folder: str | Path, device: str | torch.device = "auto", multi_label: bool | None = None,
                  average: str | None = None) -> Predictor:
    """A folder written by `actionlab export --format hub`: config, labels, preprocessing, safetensors weights."""
    import json

    from .config import from_dict
    from .engine.build import build_model

    folder = Path(folder)
    files = {n: folder / n for n in ("config.json", "labels.txt", "preprocessing.json", "model.safetensors")}
    missing = [n for n, p in files.items() if not p.is_file()]
    if missing:
        raise ModelError(f"{folder}: not an exported model folder (missing {', '.join(missing)}; write one with "
                         "`actionlab export CKPT --format hub DIR`)")
    try:
        meta = json.loads(files["config.json"].read_text(encoding="utf-8"))
        pre = json.loads(files["preprocessing.json"].read_text(encoding="utf-8"))
    except ValueError as e:
        raise ModelError(f"{folder}: config.json / preprocessing.json is not valid JSON ({e})") from None
    if meta.get("format") != HUB_FORMAT:
        raise ModelError(f"{files['config.json']}: format {meta.get('format')!r}, expected {HUB_FORMAT!r}")
    class_names = [line for line in files["labels.txt"].read_text(encoding="utf-8").splitlines() if line]
    outputs = int(meta.get("num_classes") or len(class_names))
    if len(class_names) != outputs:
        raise ModelError(f"{files['labels.txt']} has {len(class_names)} class names, {files['config.json'].name} "
                         f"says the model has {outputs} outputs: refusing to guess which names go with which outputs")
    cfg = from_dict(meta["config"])
    from .models.weights import read_safetensors

    state = read_safetensors(files["model.safetensors"])
    model = build_model(cfg, outputs, load_pretrained=False, class_names=class_names)
    fit_exported_state(model, state, files["model.safetensors"], cfg.model.name)
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in pre.items()}
    preprocess = Preprocess(**fields)
    dev = select_device(device, source="device")
    return Predictor(model, class_names, preprocess, device=dev,
                     multi_label=bool(meta.get("multi_label", False)) if multi_label is None else multi_label,
                     average=average or cfg.test.average, max_views_per_forward=cfg.test.max_views_per_forward,
                     cfg=cfg, checkpoint=str(folder))


def fit_exported_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path, name: str) -> None:
    """Load an exported folder's weights, refusing (one line) weights of another model or class count."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} (file {tuple(state[k].shape)}, model {tuple(v.shape)})" for k, v in own.items()
             if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = [f"missing {len(missing)} tensors (e.g. {', '.join(missing[:2])})"] if missing else []
        parts += [f"{len(unexpected)} unknown tensors (e.g. {', '.join(unexpected[:2])})"] if unexpected else []
        parts += [f"{len(wrong)} of another shape (e.g. {', '.join(wrong[:2])})"] if wrong else []
        raise ModelError(f"{path} does not hold the weights of {name} as config.json describes it: "
                         f"{'; '.join(parts)}")
    model.load_state_dict(state)
