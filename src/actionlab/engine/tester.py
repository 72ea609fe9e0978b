"""Testing a checkpoint on a dataset split with multi-view score averaging (`actionlab test`)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import eval_metrics
from ..config import Config
from ..errors import DataError, ModelError
from ..metrics import average_scores, compute_metrics
from . import distributed
from .build import load_for_inference
from .evaluate import EvalResult, evaluate
from .loader import eval_loader
from .logs import Progress
from .reports import write_test_outputs
from .rundir import run_dir_of
from .runtime import autocast_factory, model_mean_std, select_device, to_channels_last, wants_cuda


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
        if "within_pair" in m:  # classes that come in pairs (data: annotations.json / data.yaml / pairs.txt)
            parts.append(f"within-pair accuracy {m['within_pair']:.3f} (chance 0.5, {int(m['pairs'])} pairs)")
        parts += eval_metrics.notes(m)  # the metrics the model declares, where the data carry their annotation
        skipped = int(self.info.get("skipped") or 0)
        over = (f"{self.info.get('videos', '?')} of {self.info.get('videos', 0) + skipped} videos ({skipped} "
                "unreadable, skipped: data.on_error=skip)" if skipped else f"{self.info.get('videos', '?')} videos")
        return f"{over}, views {self.info.get('views')}: " + ", ".join(parts)


def pair_metrics(cfg: Config, result: EvalResult, class_names: list[str]) -> dict[str, float]:
    """Within-pair accuracy when the dataset declares pairs of classes (`metrics.read_class_pairs`), else {}."""
    from ..metrics import pair_accuracy, read_class_pairs

    if not cfg.data.root or result.labels.dim() != 1:
        return {}
    pairs = read_class_pairs(cfg.data.root, class_names)
    if not pairs:
        return {}
    return {"within_pair": pair_accuracy(result.scores, result.labels, pairs), "pairs": float(len(pairs))}


def default_out_dir(checkpoint: Path, split: str, views: str) -> Path:
    run_dir = run_dir_of(checkpoint)
    return run_dir / f"test_{split}_{views}"


def evaluate_checkpoint(cfg: Config, checkpoint: Path, split: str = "test", out_dir: Path | None = None,
                    write: bool = True, progress: bool = False) -> CheckpointReport:
    """Score every video of `split` with `cfg.test.views` views, average, compute metrics, write the files.

    The model must be the one the checkpoint was saved from and its classifier must match the dataset's
    class count (one-line `ModelError`s otherwise).  `cfg.test.ensemble_checkpoint` adds a second model
    (TEFE's 8+16 ensemble): it is tested on the same videos and views, sampled with its own saved
    `data.num_segments` / sampler settings, and the two models' per-video scores are averaged by video
    index (probabilities or logits per `test.average`).
    """
    from ..data import build_dataset

    info = distributed.init_distributed(wants_cuda(cfg.train.device))
    device = select_device(cfg.train.device, info.local_rank)
    autocast, _ = autocast_factory(cfg.train.amp, device)
    dataset = build_dataset(cfg, split, views=cfg.test.views)
    if len(dataset) == 0:
        raise DataError(f"the {split} set is empty ({getattr(cfg.data, f'{split}_list') or f'no data.{split}_list'})")
    records = getattr(dataset, "records", [])
    if records and all(r.label == -1 for r in records):  # UNLABELED: metrics would be nan
        raise DataError(f"the {split} list ({getattr(cfg.data, f'{split}_list') or 'the official one'}) has no labels: "
                        "there is no accuracy to compute; `actionlab predict` scores unlabeled videos")
    loader = eval_loader(dataset, cfg.test.batch_size, cfg.data.num_workers, cfg.train.seed, info.rank,
                         info.world_size)
    checkpoints = [checkpoint] + ([Path(cfg.test.ensemble_checkpoint)] if cfg.test.ensemble_checkpoint else [])
    results = []
    start = time.perf_counter()
    for member, path in enumerate(checkpoints):
        loaded = load_for_inference(path, cfg if member == 0 else None, num_classes=dataset.num_classes,
                                    device=device)
        member_loader = loader
        if member == 0:
            _check_named_classes(loaded.class_names, list(dataset.class_names), path)
        if member > 0:
            _check_same_classes(loaded.class_names, list(dataset.class_names), path, loaded.checkpoint)
            member_cfg = ensemble_member_config(cfg, loaded.cfg)
            if sampling_of(member_cfg) != sampling_of(cfg):  # e.g. the 16-frame model of TEFE's 8+16 ensemble
                member_loader = eval_loader(build_dataset(member_cfg, split, views=cfg.test.views),
                                            cfg.test.batch_size, cfg.data.num_workers, cfg.train.seed, info.rank,
                                            info.world_size)
        if cfg.train.channels_last:
            to_channels_last(loaded.model)
        mean, std = model_mean_std(loaded.model)
        bar = Progress(f"test {path.name} on {split} ({cfg.test.views} views): batches", None,
                       enabled=progress and info.is_main)

        def step(done: int, total: int, bar: Progress = bar) -> None:
            bar.total = total
            bar.update(done)

        results.append(evaluate(loaded.model, member_loader, device, mean, std, average=cfg.test.average,
                                max_views_per_forward=cfg.test.max_views_per_forward, autocast=autocast,
                                multi_label=dataset.multi_label, progress=step))
        bar.close()
    elapsed = time.perf_counter() - start
    result = results[0] if len(results) == 1 else ensemble_results(results, len(dataset))
    class_names = list(dataset.class_names)
    result.metrics.update(pair_metrics(cfg, result, class_names))
    summary = {"checkpoint": str(checkpoint), "split": split, "views": cfg.test.views, "average": cfg.test.average,
               "videos": len(result.indices), "skipped": result.skipped, "seconds": round(elapsed, 2),
               "ensemble": [str(p) for p in checkpoints[1:]]}
    out = out_dir or default_out_dir(checkpoint, split, cfg.test.views)
    if write and info.is_main:
        videos = [r.path for r in dataset.records] if hasattr(dataset, "records") else None
        write_test_outputs(out, {**summary, "metrics": result.metrics}, result.scores, result.labels, result.indices,
                           class_names, videos)
    return CheckpointReport(result.metrics, result, class_names, out if write else None, summary)


# --------------------------------------------------------------------------- ensembles (TEFE's 8+16 frames)

_SAMPLING_KEYS = ("num_segments", "sampler", "frame_interval", "twice_sample")


def sampling_of(cfg: Config) -> tuple[Any, ...]:
    return tuple(getattr(cfg.data, k) for k in _SAMPLING_KEYS)


def ensemble_member_config(cfg: Config, member_cfg: Config) -> Config:
    """The caller's config (same test list, views, sizes) with the member's own clip sampling.

    A model is tested on clips sampled the way it was trained: the 16-frame member of an 8+16 ensemble
    gets 16-frame clips of the same videos.
    """
    data = dataclasses.replace(cfg.data, **{k: getattr(member_cfg.data, k) for k in _SAMPLING_KEYS})
    return dataclasses.replace(cfg, data=data)


def ensemble_results(results: list[EvalResult], total: int) -> EvalResult:
    """Average the members' per-video scores, matched by dataset index.

    Each member's scores are already view-averaged probabilities (or logits, for test.average=logit), so
    their mean is the ensemble's probability (logit) average.  A video one member skipped is dropped.
    """
    common = set(results[0].indices.tolist())
    for r in results[1:]:
        common &= set(r.indices.tolist())
    if not common:
        raise DataError("the ensemble members scored no video in common")
    order = torch.tensor(sorted(common), dtype=torch.long)
    scores, labels = [], None
    for r in results:
        row_of = {int(i): row for row, i in enumerate(r.indices.tolist())}
        rows = torch.tensor([row_of[int(i)] for i in order], dtype=torch.long)
        scores.append(r.scores[rows])
        labels = r.labels[rows] if labels is None else labels
    # the members' scores are already probabilities / logits: "logit" makes average_scores a plain mean
    averaged = average_scores(scores, "logit")
    assert labels is not None  # at least one member (results is not empty)
    result = EvalResult(averaged, labels, order, skipped=total - len(order))
    result.metrics = compute_metrics(result.scores, result.labels)
    return result


def _check_named_classes(saved: list[str], names: list[str], path: Path) -> None:
    """Both named (not the "0".."K-1" of a list without class names) and different: the labels would be scored
    against the wrong classes - silently - so refuse."""
    def default(ns: list[str]) -> bool:
        return ns == [str(i) for i in range(len(ns))]

    if saved and names and not default(saved) and not default(names) and saved != names:
        k = next(i for i, (a, b) in enumerate(zip(saved, names)) if a != b) if len(saved) == len(names) else 0
        raise ModelError(f"checkpoint {path} was trained on other classes than the dataset's: class {k} is "
                         f"{saved[k]!r} in the checkpoint and {names[k]!r} in the dataset")


def _check_same_classes(member_names: list[str], names: list[str], path: Path, ckpt: dict[str, Any]) -> None:
    if ckpt.get("class_names") and member_names != names:
        raise ModelError(f"ensemble checkpoint {path} has classes {member_names[:3]}... in another order or "
                         f"naming than the dataset's {names[:3]}...; the scores cannot be averaged")


# --------------------------------------------------------------------------- released models (test --model TAG)


def apply_tag_protocol(cfg: Config, tag: Any, protocol: str) -> Config:
    """`cfg` with the tag's model and test pipeline (`PretrainedTag.protocol`): sampling, resize and crop
    arithmetic, views, score averaging."""
    p = tag.protocol(protocol)
    data = dataclasses.replace(cfg.data, sampler=p["sampler"], num_segments=tag.num_frames,
                               frame_interval=p["frame_interval"], input_size=p["input_size"],
                               scale_size=p["scale_size"], twice_sample=p["twice_sample"],
                               test_style=p["test_style"])
    model = dataclasses.replace(cfg.model, name=tag.model, pretrained=tag.tag)
    test = dataclasses.replace(cfg.test, views=p["views"], average=p["average"])
    return dataclasses.replace(cfg, data=data, model=model, test=test)


def _align_classes(model: torch.nn.Module, tag_names: list[str], names: list[str], tag_name: str) -> None:
    """Reorder the classifier's rows into the dataset's class order (same classes, another order), or refuse."""
    if names == tag_names:
        return
    if sorted(names) != sorted(tag_names):
        missing = [n for n in names if n not in set(tag_names)][:3]
        raise ModelError(f"the dataset's {len(names)} classes are not {tag_name}'s {len(tag_names)} "
                         f"(e.g. {missing or names[:3]}); test a released model on the data set it was trained for")
    order = torch.tensor([tag_names.index(n) for n in names])
    fc = getattr(model, "fc", None)
    if not isinstance(fc, torch.nn.Linear):
        raise ModelError(f"{tag_name}: the dataset lists the classes in another order and the model's head "
                         "cannot be reordered")
    with torch.no_grad():
        fc.weight.copy_(fc.weight[order])
        fc.bias.copy_(fc.bias[order])


def evaluate_pretrained(cfg: Config, tag: Any, split: str = "val", weights: str | None = None,
                        out_dir: Path | None = None, progress: bool = False) -> CheckpointReport:
    """A released model (`tag`, weights downloaded once or `weights`) on `split` with `cfg`'s test pipeline
    (see `apply_tag_protocol`); the report's info carries the release's own accuracy string."""
    from ..data import build_dataset
    from ..labels import load_labels
    from ..models.registry import create_model

    device = select_device(cfg.train.device, 0)
    dataset = build_dataset(cfg, split, views=cfg.test.views)
    if len(dataset) == 0:
        raise DataError(f"the {split} set is empty")
    if all(getattr(r, "label", 0) == -1 for r in getattr(dataset, "records", [])):
        raise DataError(f"the {split} list has no labels: there is no accuracy to compute")
    model = create_model(tag.name, weights=weights)
    _align_classes(model, load_labels(tag.labels), list(dataset.class_names), tag.name)
    model.to(device).eval()
    loader = eval_loader(dataset, cfg.test.batch_size, cfg.data.num_workers, cfg.train.seed)
    bar = Progress(f"test {tag.name} on {split} ({cfg.test.views} views): batches", None, enabled=progress)

    def step(done: int, total: int) -> None:
        bar.total = total
        bar.update(done)

    start = time.perf_counter()
    result = evaluate(model, loader, device, tag.mean, tag.std, average=cfg.test.average,
                      max_views_per_forward=cfg.test.max_views_per_forward, multi_label=False, progress=step)
    bar.close()
    summary = {"model": tag.name, "split": split, "views": cfg.test.views, "average": cfg.test.average,
               "twice_sample": cfg.data.twice_sample, "test_style": cfg.data.test_style,
               "crop": cfg.data.input_size, "videos": len(result.indices), "skipped": result.skipped,
               "seconds": round(time.perf_counter() - start, 2), "release_reports": tag.accuracy}
    out = out_dir or Path(f"test_{tag.name}_{split}_{cfg.test.views}")
    videos = [r.path for r in dataset.records] if hasattr(dataset, "records") else None
    write_test_outputs(out, {**summary, "metrics": result.metrics}, result.scores, result.labels, result.indices,
                       list(dataset.class_names), videos)
    return CheckpointReport(result.metrics, result, list(dataset.class_names), out, summary)
