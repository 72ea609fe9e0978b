"""DataLoaders for training and evaluation, with randomness that depends only on (seed, epoch, index).

Augmentation draws from the global Python / NumPy / torch generators.  If those
were simply seeded once per worker, which worker loads a video - and so its
crop and flip - would depend on the number of workers and on where a resumed
run restarted.  `SeededDataset` instead seeds the generators from (seed, epoch,
index) around each `__getitem__`, so a video's augmentation is the same in an
uninterrupted run, in a resumed one, and with any number of workers.  In the
main process (num_workers=0) the generators' previous states are restored
afterwards, so the model's own randomness (dropout) is not disturbed.  A dataset that declares
`accepts_item_seed` (`VideoDataset`) gets the seed passed to `__getitem__(index, seed)` instead
and draws everything from it: no global generator is touched (saving ~1 ms an item).

Throughput: the training split's decoded frames are cached before the loader is
built (`VideoDataset.prepare_cache`, `data.cache`), so workers forked afterwards share them;
workers are persistent (started once per run, not per epoch) and prefetch; batches are pinned
on CUDA.  Persistent workers hold their own copy of the dataset, so the epoch travels with each
index: the sampler is wrapped to yield (epoch, index) pairs, read when each epoch's iteration
starts in the main process.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from .distributed import EvalSampler, TrainSampler
from .workers import Loader  # worker errors: one line, as with 0 workers


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed from (seed, epoch, index), mixed so that nearby triples give unrelated seeds."""
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB) & (2**64 - 1)
    x ^= x >> 31
    x = (x * 0xD6E8FEB86659FD93) & (2**64 - 1)
    return (x ^ (x >> 32)) & (2**63 - 1)



def num_items(data: Any) -> int:
    """len() of a torch Dataset or Sampler (their types declare no __len__; the ones used here are all sized)."""
    return len(data)

class SeededDataset(Dataset):
    """Wraps a dataset so that item i of epoch e is drawn with the generators seeded from (seed, e, i)."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return num_items(self.dataset)

    def __getitem__(self, index: int | tuple[int, int]) -> Any:
        epoch = self.epoch
        if isinstance(index, tuple):  # (epoch, index) from EpochSampler: persistent workers' copy has an old epoch
            epoch, index = index
        s = sample_seed(self.seed, epoch, index)
        dataset: Any = self.dataset
        if getattr(dataset, "accepts_item_seed", False):  # VideoDataset: no global generator to seed (~1 ms)
            return dataset.__getitem__(index, s)
        in_worker = get_worker_info() is not None
        saved = None if in_worker else (random.getstate(), np.random.get_state(), torch.get_rng_state())
        random.seed(s)
        np.random.seed(s % 2**32)
        torch.default_generator.manual_seed(s)  # CPU only: never touch the CUDA generators
        try:
            return self.dataset[index]
        finally:
            if saved is not None:
                random.setstate(saved[0])
                np.random.set_state(saved[1])
                torch.set_rng_state(saved[2])

    def __getattr__(self, name: str) -> Any:  # class_names, multi_label, ... of the wrapped dataset
        if name in ("dataset", "seed", "epoch"):
            raise AttributeError(name)
        return getattr(self.dataset, name)


class EpochSampler(Sampler):
    """Yields (epoch, index) pairs: the epoch is read from the `SeededDataset` when iteration starts."""

    def __init__(self, sampler: Sampler, seeded: SeededDataset):
        self.sampler = sampler
        self.seeded = seeded

    def __iter__(self):
        epoch = self.seeded.epoch
        return ((epoch, int(i)) for i in self.sampler)

    def __len__(self) -> int:
        return num_items(self.sampler)


def _collate():
    from ..data import collate

    return collate


def _prepare_cache(dataset: Dataset) -> None:
    prepare = getattr(dataset, "prepare_cache", None)
    if callable(prepare):
        prepare()


def _worker_options(num_workers: int, prefetch: int) -> dict[str, Any]:
    if num_workers <= 0:
        return {}
    return {"persistent_workers": True, "prefetch_factor": prefetch}


def train_loader(dataset: Dataset, batch_size: int, num_workers: int, seed: int, rank: int = 0,
                 world_size: int = 1, prefetch: int = 4) -> tuple[DataLoader, TrainSampler, SeededDataset]:
    """Shuffled, sharded, seeded; drops the last incomplete batch (BN needs more than one clip).

    The loader iterates (epoch, index) pairs through `EpochSampler`; `sampler.set_epoch` and
    `seeded.set_epoch` before each epoch, as before.
    """
    _prepare_cache(dataset)
    seeded = SeededDataset(dataset, seed)
    sampler = TrainSampler(len(seeded), rank, world_size, shuffle=True, seed=seed)
    generator = torch.Generator()
    generator.manual_seed(seed)  # the loader's worker base seed: kept off the global generator
    drop_last = sampler.per_rank >= batch_size
    loader = Loader(seeded, batch_size=batch_size, sampler=EpochSampler(sampler, seeded), num_workers=num_workers,
                        collate_fn=_collate(), drop_last=drop_last, generator=generator,
                        pin_memory=torch.cuda.is_available(), **_worker_options(num_workers, prefetch))
    return loader, sampler, seeded


def eval_loader(dataset: Dataset, batch_size: int, num_workers: int, seed: int = 0, rank: int = 0,
                world_size: int = 1) -> DataLoader:
    """Every video once over all ranks, in index order, no padding."""
    _prepare_cache(dataset)  # a no-op unless data.cache=disk (see build_dataset)
    seeded = SeededDataset(dataset, seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return Loader(seeded, batch_size=batch_size, sampler=EvalSampler(len(seeded), rank, world_size),
                      num_workers=num_workers, collate_fn=_collate(), generator=generator,
                      pin_memory=torch.cuda.is_available(), **_worker_options(num_workers, 2))
