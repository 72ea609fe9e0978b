"""Decoded-frame cache (data/cache.py) and the training loader (engine/loader.py): exact, bounded, reused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from actionlab.config import DataConfig
from actionlab.data import build_dataset
from actionlab.data import cache as cache_mod
from actionlab.engine.loader import train_loader
from actionlab.errors import DataError
from tests._data_helpers import small_mp4, workdir, write_jpegs


@pytest.fixture(autouse=True)
def _fresh_memory_cache():
    cache_mod.clear_memory()
    yield
    cache_mod.clear_memory()


def make_tree(name: str) -> Path:
    root = workdir() / "cache" / name
    if root.exists():
        shutil.rmtree(root)
    (root / "v").mkdir(parents=True)
    for i, n in enumerate((24, 40, 24)):
        shutil.copyfile(small_mp4(n), root / "v" / f"ok{i}.mp4")
    shutil.copyfile(small_mp4(5), root / "v" / "short.mp4")  # fewer frames than segments: repeated frames
    (root / "v" / "corrupt.mp4").write_bytes(small_mp4(24).read_bytes()[:300])
    write_jpegs(root / "frames" / "f1", 9)
    lines = ["v/ok0.mp4 0", "v/ok1.mp4 1", "v/short.mp4 2", "frames/f1 0", "v/ok2.mp4 1", "v/corrupt.mp4 2"]
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    (root / "classes.txt").write_text("a\nb\nc\n")
    return root


def cfg(root: Path, cache: str, **kw) -> DataConfig:
    return DataConfig(root=str(root), train_list="list.txt", class_names="classes.txt", num_segments=4,
                      input_size=32, scale_size=40, train_crop="multiscale", flip=True,
                      cache=cache, cache_dir=str(root / "cache"), **{"on_error": "skip", **kw})


def epochs(data: DataConfig, workers: int, n: int = 2) -> list[list[dict]]:
    ds = build_dataset(data, "train")
    loader, sampler, seeded = train_loader(ds, 2, workers, seed=3)
    out = []
    for e in range(n):
        sampler.set_epoch(e)
        seeded.set_epoch(e)
        out.append([{k: v.clone() if torch.is_tensor(v) else v for k, v in b.items()} for b in loader])
    return out


def same(a: list[list[dict]], b: list[list[dict]]) -> bool:
    return len(a) == len(b) and all(
        len(x) == len(y) and all(p.keys() == q.keys() and all(
            torch.equal(p[k], q[k]) if torch.is_tensor(p[k]) else p[k] == q[k] for k in p) for p, q in zip(x, y))
        for x, y in zip(a, b))


def by_index(epoch: list[dict]) -> dict[int, torch.Tensor]:
    return {int(i): c for b in epoch for i, c in zip(b["index"], b["clip"])}


def test_cached_epochs_equal_uncached_bit_for_bit_and_augmentation_stays_random():
    root = make_tree("exact")
    uncached = epochs(cfg(root, "none"), 0)
    memory = epochs(cfg(root, "memory"), 0)
    ds = build_dataset(cfg(root, "memory"), "train")
    assert "in memory" in ds.prepare_cache() and ds.cache is not None
    assert [ds.cache.has(i) for i in range(6)] == [True] * 5 + [False]  # the corrupt file is not cached
    assert same(uncached, memory)
    disk = epochs(cfg(root, "disk"), 0)  # written now ...
    again = epochs(cfg(root, "disk"), 0)  # ... and read back
    assert same(uncached, disk) and same(uncached, again)
    assert sum(b["skipped"] for b in memory[0]) == 1  # on_error=skip still applies to the uncached bad file
    # the crops/frames of an epoch are drawn anew: epoch 1 differs from epoch 0 for the same videos
    first, second = by_index(memory[0]), by_index(memory[1])
    assert any(not torch.equal(first[i], second[i]) for i in first)


def test_persistent_workers_follow_the_epoch():
    """Workers keep their dataset copy across epochs: epoch 1 must still be epoch 1's augmentation."""
    root = make_tree("workers")
    ds = build_dataset(cfg(root, "memory"), "train")
    loader, _, _ = train_loader(ds, 2, 1, seed=3)
    assert loader.persistent_workers and loader.prefetch_factor >= 2
    with_worker = epochs(cfg(root, "memory"), 1)
    assert same(epochs(cfg(root, "none"), 0), with_worker)
    first, second = by_index(with_worker[0]), by_index(with_worker[1])  # epoch 1 is not a replay of epoch 0
    assert any(not torch.equal(first[i], second[i]) for i in first)


def test_tiny_budget_falls_back_to_no_cache_and_says_so(caplog):
    root = make_tree("budget")
    ds = build_dataset(cfg(root, "auto", cache_budget_gb=1e-6), "train")
    with caplog.at_level("INFO", logger="actionlab.data"):
        status = ds.prepare_cache()
    assert ds.cache is None and "not cached" in status and "cache_budget_gb" in status
    assert "not cached" in caplog.text
    assert ds[0]["clip"].shape == (1, 3, 4, 32, 32)  # still loads, from the file


def test_budget_passed_while_filling_falls_back(monkeypatch):
    root = make_tree("budget-fill")
    monkeypatch.setattr(cache_mod, "estimate_bytes", lambda *a, **k: 0)  # an estimate that was too low
    ds = build_dataset(cfg(root, "memory", cache_budget_gb=64 * 48 * 3 * 30 / 1e9), "train")
    assert "found while filling" in ds.prepare_cache() and ds.cache is None


def test_disk_cache_is_reused_without_decoding(monkeypatch):
    root = make_tree("reuse")
    first = build_dataset(cfg(root, "disk"), "train")
    assert "written to the disk cache" in first.prepare_cache()
    reference = [first.__getitem__(i, item_seed=11)["clip"] for i in range(5)]

    def no_decoding(*a, **k):
        raise AssertionError("decoded although the disk cache holds the split")

    monkeypatch.setattr(cache_mod, "open_video", no_decoding)
    for mode in ("disk", "auto"):  # auto takes an existing disk cache
        ds = build_dataset(cfg(root, mode), "train")
        assert "from the disk cache" in ds.prepare_cache()
        assert all(torch.equal(ds.__getitem__(i, item_seed=11)["clip"], ref) for i, ref in enumerate(reference))


def test_bad_cache_mode_is_a_config_error():
    from actionlab.errors import ConfigError

    with pytest.raises(ConfigError, match="data.cache"):
        cache_mod.build_cache([object()], "ram", budget_bytes=1)


def test_uncached_bad_video_still_raises_naming_it():
    root = make_tree("raise")
    ds = build_dataset(cfg(root, "memory", on_error="raise"), "train")
    ds.prepare_cache()
    with pytest.raises(DataError, match="corrupt.mp4"):
        ds[5]
