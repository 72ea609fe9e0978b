"""One definition for each fact the code needs in several places; the others read it from there.

Each test pins the owner's behaviour where a second copy used to differ (messages, environment variables,
sampling arithmetic, graph forms), and `test_each_fact_is_written_once` keeps the copies from coming back.
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import actionlab
from actionlab.errors import ConfigError

SRC = Path(actionlab.__file__).parent
TESTS = Path(__file__).parent

# pattern -> the files (under src/actionlab, or tests/ for test helpers) allowed to contain it
OWNERS = {
    r"0\.485|0\.48145": {"norms.py"},  # ImageNet / CLIP mean
    r"[\"']ACTIONLAB_CACHE": {"paths.py"},  # reading the cache root's environment variable(s)
    r"\.sigmoid\(\) if|softmax\(-1\) if": {"metrics.py"},  # logits -> scores
    r"model\.train\(was_training\)": {"models/recognizer.py", "profile.py"},  # eval mode + no grad, restored
    r"add_stream\(": {"data/video_writer.py", "tests/_data_helpers.py"},  # the PyAV encode loop (+ audio tones)
    r"pip install": {"errors.py", "api.py", "commands/export.py", "models/pretrained.py"},  # (the last 3: docs)
    r"def (resolve|select)_device": {"engine/runtime.py"},
    r"linspace\(0, num_frames": set(),  # TSN segment arithmetic: data/sampling.py only
    r"setattr\(owner, name": set(),  # swapping functions in during export
}


def _files() -> dict[str, str]:
    out = {str(p.relative_to(SRC)): p.read_text() for p in SRC.rglob("*.py")}
    out.update({f"tests/{p.name}": p.read_text() for p in TESTS.glob("_*.py")})
    return out


def test_each_fact_is_written_once():
    files = _files()
    extra = {pattern: sorted(name for name, text in files.items() if re.search(pattern, text) and name not in allowed)
             for pattern, allowed in OWNERS.items()}
    assert {k: v for k, v in extra.items() if v} == {}


def test_one_encode_loop_in_the_package_and_its_tests():
    """Every video the package or a test writes goes through data.video_writer.VideoWriter: no other file opens
    a PyAV container for writing."""
    writes = re.compile(r"av\.open\(.*,\s*(mode\s*=\s*)?[\"']w")
    files = {f"src/actionlab/{p.relative_to(SRC)}": p for p in SRC.rglob("*.py")}
    files.update({f"tests/{p.relative_to(TESTS)}": p for p in TESTS.rglob("*.py")})
    assert sorted(name for name, p in files.items() if writes.search(p.read_text())) == [
        "src/actionlab/data/video_writer.py"]


# --------------------------------------------------------------------------- the cache root


def test_every_cache_lives_under_one_root(monkeypatch, tmp_path):
    from actionlab.data.cache import default_cache_dir as frame_cache
    from actionlab.data.video_index import _count_file
    from actionlab.models.text.bank import default_cache_dir as text_banks
    from actionlab.paths import cache_root

    monkeypatch.delenv("ACTIONLAB_CACHE", raising=False)
    monkeypatch.setenv("ACTIONLAB_CACHE_DIR", str(tmp_path))
    assert cache_root() == tmp_path
    assert (frame_cache(), text_banks(), _count_file()) == (
        tmp_path / "clips", tmp_path / "text_banks", tmp_path / "decoded_frame_counts.json")


def test_the_old_cache_variable_still_works_and_says_it_is_deprecated(monkeypatch, tmp_path):
    from actionlab.models.text.bank import default_cache_dir as text_banks
    from actionlab.paths import cache_root

    monkeypatch.delenv("ACTIONLAB_CACHE_DIR", raising=False)
    monkeypatch.setenv("ACTIONLAB_CACHE", str(tmp_path))
    with pytest.warns(DeprecationWarning, match="ACTIONLAB_CACHE_DIR"):
        assert text_banks() == tmp_path / "text_banks"
    monkeypatch.setenv("ACTIONLAB_CACHE_DIR", str(tmp_path / "new"))  # the new name wins, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache_root() == tmp_path / "new"


# --------------------------------------------------------------------------- devices


def test_one_device_reading_for_configs_and_the_python_api(tmp_path):
    from actionlab.api import load
    from actionlab.engine.runtime import select_device

    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError) as config_error:
        select_device("tpu:0")
    assert str(config_error.value) == ("config key 'train.device': unknown device 'tpu:0' (expected auto, cpu, cuda "
                                       "or cuda:N)")
    with pytest.raises(ConfigError) as api_error:
        load(tmp_path / "missing.pt", device="tpu:0")  # the device is read before the checkpoint
    assert str(api_error.value) == "device: unknown device 'tpu:0' (expected auto, cpu, cuda or cuda:N)"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="^device asks for 'cuda', but no CUDA device is available$"):
            load(tmp_path / "missing.pt", device="cuda")


# --------------------------------------------------------------------------- TSN segments


def test_the_tfe_benchmark_samples_segments_with_the_data_packages_sampler():
    from actionlab.bench.tfe import sample_segments
    from actionlab.data.sampling import SegmentSampler

    sampler = SegmentSampler(8)
    test = sample_segments(13, 8, train=False, n=3)  # 13 frames, 8 segments: not a whole number a segment
    expected = torch.from_numpy(sampler(13, np.random.default_rng(0), train=False))
    assert torch.equal(test, expected.expand(3, 8))
    torch.manual_seed(0)
    train = sample_segments(40, 8, train=True, n=64)
    assert train.shape == (64, 8)
    assert ((train >= torch.arange(8) * 5) & (train < torch.arange(8) * 5 + 5)).all()  # one frame per segment
    assert len({tuple(r) for r in train.tolist()}) > 32  # and a random one


# --------------------------------------------------------------------------- temporal shift in exported graphs


def test_an_exported_shift_is_the_padding_form_without_patching_anything():
    from actionlab.models.temporal.shift import ShiftConv2d, TemporalShift, shift_by_padding, temporal_shift

    x = torch.randn(2 * 4, 16, 5, 6)
    assert torch.equal(shift_by_padding(x, 4, 2), temporal_shift(x, 4, 8))
    forward = ShiftConv2d.forward
    program = torch.export.export(TemporalShift(4, 8), (x,))
    ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert any("cat" in op for op in ops) and not any("where" in op or "scatter" in op for op in ops), ops
    assert torch.equal(program.module()(x), temporal_shift(x, 4, 8))
    conv = ShiftConv2d(torch.nn.Conv2d(16, 8, 3, padding=1), 4, 8).eval()
    exported = torch.export.export(conv, (x,))
    assert not any("copy_" in str(n.target) for n in exported.graph.nodes)  # no writes into the input
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), conv(x))
    assert ShiftConv2d.forward is forward


# --------------------------------------------------------------------------- optional dependencies


def test_a_missing_optional_package_is_one_error_naming_its_extra(monkeypatch):
    from actionlab.errors import MissingDependencyError, require

    monkeypatch.setitem(sys.modules, "safetensors", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "safetensors.torch", raising=False)
    with pytest.raises(MissingDependencyError) as error:
        require("safetensors.torch", "weights", "reading x.safetensors")
    assert str(error.value) == ("reading x.safetensors needs safetensors, which is not installed: "
                                "pip install 'actionlab[weights]'")
    from actionlab.engine.logs import tensorboard_writer

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(MissingDependencyError, match=r"tensorboard.*pip install 'actionlab\[tensorboard\]'$"):
        tensorboard_writer(Path("unused"))


def test_a_broken_optional_package_is_not_called_missing(monkeypatch, tmp_path):
    from actionlab.errors import MissingDependencyError, require

    (tmp_path / "brokenpkg.py").write_text("import a_module_that_does_not_exist_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingDependencyError, match="brokenpkg, which does not import .*a_module_that_does_not"):
        require("brokenpkg", "viz", "a figure")


def test_the_reader_backends_say_what_is_missing_in_the_one_form(monkeypatch, caplog):
    """torchcodec asked for but not installed, or installed without its FFmpeg libraries: require's error; a
    benchmark column it would fill: require's message as a logged notice."""
    import importlib
    import logging

    from actionlab.bench.data import _readers
    from actionlab.data.readers import resolve_backend
    from actionlab.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "torchcodec", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)
    with pytest.raises(MissingDependencyError) as error:
        resolve_backend("torchcodec")
    assert str(error.value) == ("video backend 'torchcodec' needs torchcodec, which is not installed: "
                                "pip install 'actionlab[codec]'")
    monkeypatch.setitem(sys.modules, "decord", None)
    with caplog.at_level(logging.WARNING, logger="actionlab"):
        columns = _readers()
    assert not any("torchcodec" in c or "decord" in c for c in columns)
    assert [r.getMessage() for r in caplog.records] == [
        "skipped: the torchcodec column needs torchcodec, which is not installed: pip install 'actionlab[codec]'",
        "skipped: the decord column needs decord, which is not installed: pip install 'actionlab[decord]'"]

    real = importlib.import_module

    def no_ffmpeg(name: str, *args):
        if name.startswith("torchcodec"):
            raise RuntimeError("Could not load libtorchcodec: libavutil.so.58 not found")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_ffmpeg)
    with pytest.raises(MissingDependencyError, match=r"torchcodec, which does not import \(Could not load .*"
                                                     r"pip install 'actionlab\[codec\]'$"):
        resolve_backend("torchcodec")


# --------------------------------------------------------------------------- the eval-mode / no-grad block


def test_the_tfe_benchmarks_evaluate_through_the_one_eval_block():
    """`bench tfe`'s evaluations run the model in eval mode without autograd and leave its mode as it was
    (`recognizer.evaluating`), not always switched back to training."""
    import argparse

    from actionlab.bench.tfe_factors import within_pairs
    from actionlab.bench.tfe_features import evaluate

    class Probe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(8))
            self.seen: list[tuple[bool, bool]] = []

        def forward(self, x: torch.Tensor) -> argparse.Namespace:  # x: [n, D, T, 1, 1]
            self.seen.append((self.training, torch.is_grad_enabled()))
            n, t = x.shape[0], x.shape[2]
            return argparse.Namespace(logits=self.w.expand(n, 8) * 1.0, extras={"attention": torch.full((n, t), 1 / t)})

    labels = torch.arange(8).repeat(2)
    split = {"features": torch.randn(16, 12, 4), "labels": labels, "masks": torch.rand(16, 12) > 0.5,
             "cues": labels.flip(0)}
    probe = Probe()
    for training in (False, True):
        probe.train(training)
        evaluate(probe, split, 4)
        within_pairs(probe, split, 4)
        assert probe.training is training
    assert probe.seen == [(False, False)] * 4
