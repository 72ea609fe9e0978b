"""Video data: frame-exact readers, samplers, uint8 transforms, dataset formats, the built-in benchmark.

    build_dataset(cfg, "train" | "val" | "test", views=None) -> VideoDataset
    collate(items) -> batch dict (skipped items dropped and counted) or None
    read(path, indices, backend="auto") -> uint8 [T, H, W, 3]
    video_info(path) -> VideoInfo(num_frames, fps, width, height, codec, container)
"""

from __future__ import annotations

from .dataset import VideoDataset, build_dataset, collate
from .formats import Annotations, VideoRecord, load_annotations
from .readers import VideoInfo, open_video, read, video_info

__all__ = ["Annotations", "VideoDataset", "VideoInfo", "VideoRecord", "build_dataset", "collate",
           "load_annotations", "open_video", "read", "video_info"]
