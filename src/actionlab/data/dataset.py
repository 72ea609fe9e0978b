"""`VideoDataset`: annotation records -> sampled, transformed uint8 clips; `collate`.

An item (the contract every model and the engine rely on):
    "clip"         uint8 [V, C, T, H, W]   V = clips x crops views (1 in training)
    "label"        int64 scalar, or float multi-hot [K] for multi-label data (Charades);
                   -1 for test sets shipped without labels
    "index"        int, the record's position in the dataset
    "action_mask"  bool [V, T]  the sampled frame lies in an annotated action (built-in
                   benchmark: its action frames; Charades: any labelled action segment)
    "boxes"        float [V, T, 4]  x1, y1, x2, y2 of the moving part in output-clip pixels
                   (NaN where unknown or cropped away); only where the annotation has boxes
Randomness (sampling, crop, flip) comes from `numpy.random.default_rng([seed, epoch, index])`
when the dataset has a seed, else from one draw of the global NumPy generator - which the
engine seeds per item from (seed, epoch, index), so either way an item does not depend on
the worker that loads it.

Errors: a missing, truncated or corrupt video, or one without frames, raises `DataError`
naming the file; with `data.on_error=skip` (auto: for the train and val splits) `__getitem__` logs it, counts it
(`dataset.skipped`, in this process) and returns None, and `collate` drops it and reports
the number dropped in the batch under "skipped" (so the main process can count across
workers).  A batch whose every item was skipped collates to None.
Flip: `data.flip` applies unless the format forbids it (SSv1/SSv2/Jester); there
`data.options.flip: true` turns it on.  `data.flip_label_map` (class name -> class name,
applied both ways) adds to the format's own swaps (SSv2's left/right classes).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import Config, DataConfig
from ..errors import ConfigError, DataError
from .cache import CacheCorrupt, FrameCache, build_cache
from .formats import UNLABELED, Annotations, VideoRecord, effective_on_error, load_annotations
from .readers import open_video, resolve_backend
from .sampling import Sampler, build_sampler, parse_views
from .transforms import TestTransform, TrainTransform

log = logging.getLogger("actionlab.data")


class VideoDataset(Dataset):
    """Clips of the records of one split (see the module docstring for the item layout)."""

    def __init__(self, annotations: Annotations, sampler: Sampler, *, train: bool,
                 train_transform: TrainTransform | None = None, test_transform: TestTransform | None = None,
                 num_clips: int = 1, backend: str = "auto", on_error: str = "raise", seed: int | None = None,
                 flip_label_map: dict[int, int] | None = None, name: str = "", cache: str = "none",
                 cache_budget_gb: float = 2.0, cache_dir: str = "", autorotate: bool = True):
        if train and train_transform is None:
            raise ValueError("a training dataset needs a train_transform")
        if not train and test_transform is None:
            raise ValueError("an evaluation dataset needs a test_transform")
        self.records: list[VideoRecord] = annotations.records
        self.class_names: list[str] = list(annotations.class_names)
        self.multi_label: bool = annotations.multi_label
        self.annotation_errors: list[str] = list(annotations.errors)
        self.annotation_notes: list[str] = list(annotations.notes)  # e.g. how the class count was inferred
        self.duplicates: list[str] = list(annotations.duplicates)
        self.frame_template = annotations.frame_template
        self.frame_start = annotations.frame_start
        self.sampler = sampler
        self.train = train
        self.train_transform = train_transform
        self.test_transform = test_transform
        self.num_clips = num_clips
        self.backend = backend
        resolve_backend(backend)  # a backend that does not import: one error here, not one per video
        self.autorotate = autorotate
        self.on_error = on_error
        self.seed = seed
        self.epoch = 0
        self.flip_label_map = dict(flip_label_map or {})
        self.name = name
        self.skipped = 0  # videos skipped in this process (workers count their own: see collate's "skipped")
        self.cache_mode = cache  # data.cache; `prepare_cache` decides and fills (data/cache.py)
        self.cache_budget_gb = cache_budget_gb
        self.cache_dir = cache_dir
        self.cache: FrameCache | None = None
        self.cache_status = f"not cached (data.cache={cache})" if cache == "none" else "cache not prepared yet"
        self._cache_prepared = cache == "none"

    # -- bookkeeping
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_views(self) -> int:
        if self.train:
            return 1
        extra = 1 if getattr(self.sampler, "twice_sample", False) else 0
        assert self.test_transform is not None  # an evaluation dataset has one (__init__)
        return (self.num_clips + extra) * self.test_transform.num_crops

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def prepare_cache(self) -> str:
        """Decide on and fill the decoded-frame cache (once; before the loader's workers start, so they
        share it); returns the one-line status, which is also logged."""
        if not self._cache_prepared:
            self.cache, self.cache_status = build_cache(
                self.records, self.cache_mode, budget_bytes=int(self.cache_budget_gb * 1e9), backend=self.backend,
                frame_template=self.frame_template, frame_start=self.frame_start, cache_dir=self.cache_dir or None,
                name=self.name, autorotate=self.autorotate)
            self._cache_prepared = True
            log.info("data cache: %s", self.cache_status)
        return self.cache_status

    def labels(self) -> list[int | tuple[int, ...]]:
        return [r.label for r in self.records]

    def _rng(self, index: int) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng([self.seed, self.epoch, index])
        return np.random.default_rng(int(np.random.randint(0, 2**63 - 1, dtype=np.int64)))

    # -- items
    #: `SeededDataset` may pass its per-item seed to `__getitem__` instead of seeding the global generators
    accepts_item_seed = True

    def __getitem__(self, index: int, item_seed: int | None = None) -> dict[str, Any] | None:
        """item_seed: draw this item's randomness from it (the loader's seed of (seed, epoch, index))
        instead of from the global NumPy generator; ignored when the dataset has its own seed."""
        record = self.records[index]
        try:
            return self._load(index, record, item_seed)
        except DataError as e:
            if self.on_error != "skip":
                raise
            self.skipped += 1
            log.warning("skipped video %s (%s): %s", index, record.source or record.path, e)
            return None

    def _load(self, index: int, record: VideoRecord, item_seed: int | None = None) -> dict[str, Any]:
        rng = np.random.default_rng(item_seed) if item_seed is not None and self.seed is None else self._rng(index)
        if self.cache is not None and self.cache.has(index):  # the same frames the reader would return
            n = self.cache.num_frames(index)
            state = rng.bit_generator.state
            indices = self.sampler(n, rng, self.train, 1 if self.train else self.num_clips)
            try:
                return self._finish(index, record, rng, indices, self.cache.read(index, indices), n,
                                    self.cache.fps(index))
            except CacheCorrupt as e:
                log.warning("%s: the cache is dropped (the next run rebuilds it); reading the videos from their "
                            "files", e)
                self.cache.drop()
                rng.bit_generator.state = state  # the same draws as if the cache had not been there
        try:
            with open_video(record.path, self.backend, frame_template=self.frame_template,
                            frame_start=self.frame_start, num_frames=record.num_frames,
                            autorotate=self.autorotate) as video:
                n = video.num_frames
                if n <= 0:
                    raise DataError(f"{record.path} has no decodable frames")
                indices = self.sampler(n, rng, self.train, 1 if self.train else self.num_clips)
                frames = video.read(indices.reshape(-1))
                fps = video.fps
        except OSError as e:
            raise DataError(f"cannot read {record.path}: {e}") from None
        except Exception as e:  # a decoder error the reader did not anticipate: still this video's fault
            if type(e).__module__.startswith("av"):
                raise DataError(f"cannot decode {record.path}: {e}") from None
            raise
        return self._finish(index, record, rng, indices, frames, n, fps)

    def _finish(self, index: int, record: VideoRecord, rng: np.random.Generator, indices: np.ndarray,
                frames: torch.Tensor, n: int, fps: float) -> dict[str, Any]:
        """Sampled frames -> the item: boxes, transform, label, action mask."""
        src_boxes = None
        if record.boxes is not None:
            # per-frame boxes of the annotation at the sampled frames; frames beyond the annotation: NaN
            table = np.full((max(n, len(record.boxes)), 4), np.nan, dtype=np.float32)
            table[: len(record.boxes)] = record.boxes
            src_boxes = torch.from_numpy(table[indices])  # [clips, T, 4]
        flipped = False
        if self.train:
            assert self.train_transform is not None  # checked in __init__
            clip, boxes, crops = self.train_transform(frames, rng, src_boxes[0] if src_boxes is not None else None)
            flipped = crops[0].flip
            per_clip = 1
        else:
            assert self.test_transform is not None  # checked in __init__
            clip, boxes, crops = self.test_transform(frames, indices.shape[0], src_boxes)
            per_clip = len(crops)
        item: dict[str, Any] = {"clip": clip, "label": self._label(record, flipped), "index": index}
        mask = self._action_mask(record, indices, fps)
        if mask is not None:
            item["action_mask"] = torch.from_numpy(np.repeat(mask, per_clip, axis=0))
        if boxes is not None:
            item["boxes"] = boxes.float()
        return item

    def _label(self, record: VideoRecord, flipped: bool) -> torch.Tensor:
        if self.multi_label:
            target = torch.zeros(self.num_classes, dtype=torch.float32)
            labels = record.label if isinstance(record.label, tuple) else (record.label,)
            for c in labels:
                if c != UNLABELED:
                    target[self.flip_label_map.get(c, c) if flipped else c] = 1.0
            return target
        label = int(record.label)  # type: ignore[arg-type]  # single-label data: an int (multi-label returned above)
        if flipped and label in self.flip_label_map:
            label = self.flip_label_map[label]
        return torch.tensor(label, dtype=torch.int64)

    @staticmethod
    def _action_mask(record: VideoRecord, indices: np.ndarray, fps: float) -> np.ndarray | None:
        if record.action_frames:
            mask = np.zeros(indices.shape, dtype=bool)
            for start, end in record.action_frames:
                mask |= (indices >= start) & (indices < end)
            return mask
        if record.time_segments and fps > 0:
            t = indices / fps
            mask = np.zeros(indices.shape, dtype=bool)
            for _, t_start, t_end in record.time_segments:
                mask |= (t >= t_start) & (t < t_end)
            return mask
        return None


# --------------------------------------------------------------------------- collate


def collate(items: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Stack items into a batch, dropping skipped ones (None); "skipped" = how many were dropped.

    Optional keys ("action_mask", "boxes") are kept when every item has them.  Returns None when
    every item of the batch was skipped.
    """
    kept = [x for x in items if x is not None]
    skipped = len(items) - len(kept)
    if not kept:
        if items:
            log.warning("%s (data.on_error=skip)", "skipped 1 unreadable video, the only one in its batch"
                        if skipped == 1 else f"skipped {skipped} unreadable videos: none of their batch could be read")
        return None
    batch: dict[str, Any] = {
        "clip": torch.stack([x["clip"] for x in kept]),
        "label": torch.stack([torch.as_tensor(x["label"]) for x in kept]),
        "index": torch.tensor([int(x["index"]) for x in kept], dtype=torch.int64),
    }
    for key in ("action_mask", "boxes"):
        if all(key in x for x in kept):
            batch[key] = torch.stack([x[key] for x in kept])
    batch["skipped"] = skipped
    return batch


# --------------------------------------------------------------------------- building from a config


def _name_map(cfg: DataConfig, names: list[str]) -> dict[int, int]:
    index = {n: i for i, n in enumerate(names)}
    out = {}
    for a, b in cfg.flip_label_map.items():
        for key in (a, b):
            if key not in index:
                raise ConfigError(f"config key 'data.flip_label_map': unknown class {key!r}")
        out[index[a]], out[index[b]] = index[b], index[a]
    return out


def build_dataset(cfg: Config | DataConfig, split: str, views: str | None = None, *, seed: int | None = None
                  ) -> VideoDataset:
    """The dataset of `split` ("train", "val", "test") described by `cfg.data`.

    views: "CLIPSxCROPS" for evaluation; default `test.views` for the test split, "1x1" for val.
    seed: fix the randomness of items (default: drawn from the global NumPy generator per item).
    """
    data = cfg.data if isinstance(cfg, Config) else cfg
    if split not in ("train", "val", "test"):
        raise ConfigError(f"unknown split {split!r}: expected train, val or test")
    ann = load_annotations(data, split)
    on_error = effective_on_error(data.on_error, split)  # auto: skip in training and validation, raise in test
    sampler = build_sampler(data.sampler, data.num_segments, data.frame_interval,
                            twice_sample=data.twice_sample and split != "train")
    flip_map = dict(ann.flip_label_map)
    flip_map.update(_name_map(data, ann.class_names))
    options = data.options
    if split == "train":
        flip = data.flip if ann.flip_allowed else bool(options.get("flip", False))
        transform = TrainTransform(data.input_size, data.scale_size, data.train_crop, flip,
                                   tuple(options.get("scales", (1.0, 0.875, 0.75, 0.66))),
                                   tuple(options.get("rrc_scale", (0.08, 1.0))),
                                   tuple(options.get("rrc_ratio", (3 / 4, 4 / 3))))
        return VideoDataset(ann, sampler, train=True, train_transform=transform, backend=data.backend,
                            on_error=on_error, seed=seed, flip_label_map=flip_map, name=split,
                            cache=data.cache, cache_budget_gb=data.cache_budget_gb, cache_dir=data.cache_dir,
                            autorotate=data.autorotate)
    if views is None:
        views = cfg.test.views if isinstance(cfg, Config) and split == "test" else "1x1"
    clips, crops = parse_views(views)
    if crops == 10 and not ann.flip_allowed:
        raise ConfigError(f"views {views}: 10 crops include horizontal flips, and {data.format}'s classes tell left "
                          "from right (a flipped clip shows another class); use 1, 3 or 5 crops")
    test_transform = TestTransform(data.input_size, data.scale_size, crops, data.test_style)
    # evaluation reads each video once per pass: decoding whole videos into memory would cost more than it saves,
    # so only an explicit disk cache (reused across runs) applies to it
    return VideoDataset(ann, sampler, train=False, test_transform=test_transform, num_clips=clips,
                        backend=data.backend, on_error=on_error, seed=seed, flip_label_map=flip_map, name=split,
                        cache="disk" if data.cache == "disk" else "none", cache_budget_gb=data.cache_budget_gb,
                        cache_dir=data.cache_dir, autorotate=data.autorotate)
