"""Testing a checkpoint on a dataset split with multi-view score averaging (`actionlab test`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import Config
from ..errors import DataError
from ..metrics import compute_metrics
from . import distributed
from .build import load_for_inference
from .evaluate import EvalResult, evaluate
from .loader import eval_loader
from .reports import write_test_outputs
from .runtime import autocast_factory, model_mean_std, select_device


@dataclass
class CheckpointReport:
    metrics: dict[str, float]
    result: EvalResult
    class_names: list[str]
    out_dir: Path | None
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        m = self.metrics
        parts = [f"top1 {m['top1']:.4f}", f"top5 {m['top5']:.4f}"]
        if "mean_class_accuracy" in m:
            parts.append(f"mean class acc {m['mean_class_accuracy']:.4f}")
        parts.append(f"mAP {m['mAP']:.4f}")
        return (f"{self.info.get('videos', '?')} videos, views {self.info.get('views')}: " + ", ".join(parts))


def default_out_dir(checkpoint: Path, split: str, views: str) -> Path:
    run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    return run_dir / f"test_{split}_{views}"


def evaluate_checkpoint(cfg: Config, checkpoint: Path, split: str = "test", out_dir: Path | None = None,
                    write: bool = True) -> CheckpointReport:
    """Score every video of `split` with `cfg.test.views` views, average, compute metrics, write the files.

    The model must be the one the checkpoint was saved from and its classifier must match the dataset's
    class count (one-line `ModelError`s otherwise).  `cfg.test.ensemble_checkpoint` adds a second model
    whose averaged scores are averaged with the first's.
    """
    from ..data import build_dataset

    info = distributed.init_distributed(cfg.train.device.startswith("cuda")
                                        or (cfg.train.device == "auto" and torch.cuda.is_available()))
    device = select_device(cfg.train.device, info.local_rank)
    autocast, _ = autocast_factory(cfg.train.amp, device)
    dataset = build_dataset(cfg, split, views=cfg.test.views)
    if len(dataset) == 0:
        raise DataError(f"the {split} set is empty ({getattr(cfg.data, f'{split}_list') or f'no data.{split}_list'})")
    loader = eval_loader(dataset, cfg.test.batch_size, cfg.data.num_workers, cfg.train.seed, info.rank,
                         info.world_size)
    checkpoints = [checkpoint] + ([Path(cfg.test.ensemble_checkpoint)] if cfg.test.ensemble_checkpoint else [])
    results = []
    start = time.perf_counter()
    for path in checkpoints:
        loaded = load_for_inference(path, cfg if path == checkpoint else None, num_classes=dataset.num_classes,
                                    device=device)
        mean, std = model_mean_std(loaded.model)
        results.append(evaluate(loaded.model, loader, device, mean, std, average=cfg.test.average,
                                max_views_per_forward=cfg.test.max_views_per_forward, autocast=autocast,
                                multi_label=dataset.multi_label))
    elapsed = time.perf_counter() - start
    result = results[0]
    if len(results) > 1:
        result = EvalResult(torch.stack([r.scores for r in results]).mean(0), result.labels, result.indices,
                            skipped=result.skipped)
        result.metrics = compute_metrics(result.scores, result.labels)
    class_names = list(dataset.class_names)
    summary = {"checkpoint": str(checkpoint), "split": split, "views": cfg.test.views, "average": cfg.test.average,
               "videos": len(result.indices), "skipped": result.skipped, "seconds": round(elapsed, 2),
               "ensemble": [str(p) for p in checkpoints[1:]]}
    out = out_dir or default_out_dir(checkpoint, split, cfg.test.views)
    if write and info.is_main:
        videos = [r.path for r in dataset.records] if hasattr(dataset, "records") else None
        write_test_outputs(out, {**summary, "metrics": result.metrics}, result.scores, result.labels, result.indices,
                           class_names, videos)
    return CheckpointReport(result.metrics, result, class_names, out if write else None, summary)
