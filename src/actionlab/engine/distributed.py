"""Distributed data parallel through `torchrun`: process group, samplers, exact evaluation.

`torchrun --nproc-per-node 2 -m actionlab.cli train CONFIG` sets RANK / WORLD_SIZE /
LOCAL_RANK; `init_distributed` joins the group (gloo on CPU, nccl on GPU).

Training shards the shuffled index list like `DistributedSampler` (padded to a
multiple of the world size) and can start part-way into an epoch, which is how
a resumed run continues exactly where it stopped.  Evaluation must neither
duplicate nor drop a video, so it does not pad: rank r scores videos r, r+W,
r+2W, ... and the scores are gathered and put back in index order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from ..errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current() -> DistInfo:
    """The process group this process is in (world size 1 when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return DistInfo()


def init_distributed(use_cuda: bool) -> DistInfo:
    """Join the group torchrun describes in the environment; a no-op for a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1 or not dist.is_available():
        return current()
    if not dist.is_initialized():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return current()


def convert_sync_bn(model: torch.nn.Module, enabled: bool, device: torch.device) -> str:
    """`train.sync_bn`: BatchNorm statistics over every process (torch's SyncBatchNorm), converted in place.

    Without it each DDP process normalises with the statistics of its own part of the batch, so two
    processes x batch B do not train like one process x batch 2B on a model with BatchNorm in training mode.
    SyncBatchNorm needs CUDA (NCCL); on CPU / gloo it does not exist, which is a ConfigError when several
    processes would need it.  Returns a line for the log ("" when nothing was done).
    """
    if not enabled:
        return ""
    info = current()
    if not info.enabled:
        return "train.sync_bn: a single process, nothing to synchronise (BatchNorm unchanged)"
    if device.type != "cuda":
        raise ConfigError("config key 'train.sync_bn': SyncBatchNorm needs CUDA GPUs (NCCL) and is unavailable on "
                          f"{device.type} / {dist.get_backend()}; there every process keeps its own BatchNorm "
                          "statistics (set train.sync_bn=false, or freeze BatchNorm with train.partial_bn)")
    converted = 0
    for name, child in list(model.named_children()):
        new = torch.nn.SyncBatchNorm.convert_sync_batchnorm(child)
        if new is not child:
            setattr(model, name, new)
        converted += sum(isinstance(m, torch.nn.SyncBatchNorm) for m in new.modules())
    return f"train.sync_bn: {converted} BatchNorm layers synchronised over {info.world_size} processes"


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if current().enabled:
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """`obj` from rank `src` on every rank."""
    if not current().enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_true(flag: bool, device: torch.device | str = "cpu") -> bool:
    """True on every rank iff `flag` is true on every rank (e.g. 'my loss is finite')."""
    if not current().enabled:
        return flag
    t = torch.tensor([0 if flag else 1], device=device)
    dist.all_reduce(t)
    return int(t.item()) == 0


def any_true(flag: bool, device: torch.device | str = "cpu") -> bool:
    """True on every rank iff `flag` is true on some rank (e.g. 'Ctrl-C was pressed here')."""
    return not all_true(not flag, device)


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Give every rank rank `src`'s buffers (BN running statistics) before evaluating."""
    if current().enabled:
        for buf in module.buffers():
            dist.broadcast(buf, src)


def all_gather_objects(obj: Any) -> list[Any]:
    """[obj of rank 0, obj of rank 1, ...] on every rank."""
    info = current()
    if not info.enabled:
        return [obj]
    parts: list[Any] = [None] * info.world_size
    dist.all_gather_object(parts, obj)
    return parts


def all_reduce_mean(values: dict[str, float]) -> dict[str, float]:
    """Average scalar logs over ranks (for display; training itself is synchronised by DDP)."""
    info = current()
    if not info.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t)
    return {k: float(v) / info.world_size for k, v in zip(keys, t.tolist())}


class TrainSampler(Sampler[int]):
    """`DistributedSampler` semantics (seeded shuffle per epoch, padded shards) plus a start offset.

    The permutation depends only on (seed, epoch), never on a global generator, and
    `set_epoch(epoch, start=k)` skips the first k indices of this rank's shard without
    loading them: a run resumed mid-epoch sees exactly the batches it had not seen.
    """

    def __init__(self, num_samples: int, rank: int = 0, world_size: int = 1, shuffle: bool = True, seed: int = 0):
        if num_samples <= 0:
            raise ValueError("the training set is empty")
        self.num_samples = num_samples
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.start = 0
        self.per_rank = -(-num_samples // world_size)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch = epoch
        self.start = start

    def shard(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.num_samples, generator=g).tolist()
        else:
            order = list(range(self.num_samples))
        padding = self.per_rank * self.world_size - self.num_samples
        order += (order * (padding // max(1, len(order)) + 1))[:padding]
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.shard()[self.start :])

    def __len__(self) -> int:
        return max(0, self.per_rank - self.start)


class EvalSampler(Sampler[int]):
    """Rank r takes videos r, r+W, ...: every video exactly once over all ranks, no padding."""

    def __init__(self, num_samples: int, rank: int = 0, world_size: int = 1):
        self.indices = list(range(rank, num_samples, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def gather_by_index(indices: torch.Tensor, rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Reassemble per-rank results in dataset order, on every rank.

    indices [n_local] are dataset indices; each tensor in `rows` has n_local rows.  The result holds
    "indices" (sorted) and every row tensor in that order.  An index seen twice is a bug in the
    sharding and raises; an index never seen is a video the dataset skipped (`data.on_error=skip`).
    """
    if current().enabled:
        parts = all_gather_objects({"indices": indices.cpu(), **{k: v.cpu() for k, v in rows.items()}})
        indices = torch.cat([p["indices"] for p in parts])
        rows = {k: torch.cat([p[k] for p in parts]) for k in rows}
    if indices.numel() and int(torch.bincount(indices.long()).max()) > 1:
        dup = torch.bincount(indices.long()).gt(1).nonzero().flatten()[:5].tolist()
        raise RuntimeError(f"evaluation scored videos {dup} more than once")
    order = indices.argsort()
    return {"indices": indices[order], **{k: v[order] for k, v in rows.items()}}
