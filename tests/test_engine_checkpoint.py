import errno
import os
import random
import shutil

import numpy as np
import pytest
import torch

from actionlab.engine import checkpoint as ckpt_mod
from actionlab.engine.checkpoint import (
    FORMAT,
    CheckpointWriteError,
    capture_rng_state,
    load_checkpoint,
    load_model_state,
    restore_rng_state,
    save_checkpoint,
)
from actionlab.errors import ModelError
from tests._engine_toys import FullDisk, tiny_tsn


def test_atomic_write_keeps_the_old_file_when_saving_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"format": FORMAT, "step": 1}, path)

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt_mod.torch, "save", broken_save)
    payload = {"format": FORMAT, "step": 2, "model": {"w": torch.zeros(1024, 1024)}}  # 4 MB of tensors
    with pytest.raises(CheckpointWriteError) as err:
        save_checkpoint(payload, path)
    monkeypatch.undo()
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"cannot write checkpoint {path}: no space left on the device")
    assert "it needs about 4.0 MB" in message and " MB free in " in message and str(tmp_path) in message
    assert message.endswith("the previous last.pt is intact") and err.value.exit_code == 1
    assert load_checkpoint(path)["step"] == 1  # the previous checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_torch_zip_writer_failure_on_a_full_disk_is_named(tmp_path, monkeypatch):
    """torch's zip writer turns ENOSPC into RuntimeError('... file write failed'): judged by the free space."""
    def broken_save(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    monkeypatch.setattr(ckpt_mod.torch, "save", broken_save)
    monkeypatch.setattr(ckpt_mod.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 2**20, 2**20))
    with pytest.raises(CheckpointWriteError, match=r"no space left on the device \(it needs about 4.0 MB, 1.0 MB "
                                                   r"free in .*\); no earlier checkpoint was there"):
        save_checkpoint({"model": {"w": torch.zeros(1024, 1024)}}, tmp_path / "best.pt")


def test_enospc_behind_torchs_runtime_error_is_found_by_errno(tmp_path, monkeypatch):
    """Not by the word 'write' (torch 2.13 says 'unexpected pos'), not by a guess at the free space: the
    ENOSPC in the exception chain."""
    path = tmp_path / "last.pt"
    save_checkpoint({"format": FORMAT, "step": 1}, path)
    real_fdopen = os.fdopen
    monkeypatch.setattr(ckpt_mod.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode), room=200_000))
    with pytest.raises(CheckpointWriteError) as err:
        save_checkpoint({"format": FORMAT, "step": 2, "model": {"w": torch.zeros(1024, 1024)}}, path)
    monkeypatch.undo()
    message = str(err.value)
    assert message.startswith(f"cannot write checkpoint {path}: no space left on the device (it needs about 4.0 MB")
    assert err.value.__cause__ is None and err.value.__suppress_context__  # one line, no chain behind it
    assert load_checkpoint(path)["step"] == 1 and [p.name for p in tmp_path.iterdir()] == ["last.pt"]

    def bug(obj, f):  # a RuntimeError with no OSError behind it, on a disk with room: a bug, kept as it is
        raise RuntimeError("some bug in a strategy's state_dict")

    monkeypatch.setattr(ckpt_mod.torch, "save", bug)
    with pytest.raises(RuntimeError, match="some bug"):
        save_checkpoint({"format": FORMAT, "step": 3}, path)


def test_class_names_that_do_not_fit_the_outputs_are_refused(tmp_path):
    model = tiny_tsn(num_classes=8)
    bad = {"format": FORMAT, "model_name": "toy_tsn", "num_classes": 8, "class_names": ["a", "b", "c"],
           "model": model.state_dict()}
    save_checkpoint(bad, tmp_path / "bad.pt")
    with pytest.raises(ModelError, match=r"bad.pt has 3 class names but 8 outputs"):
        load_checkpoint(tmp_path / "bad.pt")


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    random.random(), np.random.rand(3), torch.randn(2), np.random.randn()  # leave a cached gaussian
    save_checkpoint({"format": FORMAT, "rng": capture_rng_state()}, tmp_path / "c.pt")
    expected = (random.random(), np.random.randn(4).tolist(), torch.rand(5).tolist())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])  # torch.load(weights_only=True) inside
    assert (random.random(), np.random.randn(4).tolist(), torch.rand(5).tolist()) == expected


def test_load_errors_are_one_line_model_errors(tmp_path):
    with pytest.raises(ModelError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match="cannot read checkpoint") as err:
        load_checkpoint(tmp_path / "junk.pt")
    assert "\n" not in str(err.value)


def test_unsafe_pickles_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    torch.save({"model": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ModelError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")


def test_model_state_checks_name_keys_and_shapes(tmp_path):
    model = tiny_tsn(num_classes=4)
    good = {"format": FORMAT, "model_name": "toy_tsn", "model": model.state_dict()}
    load_model_state(tiny_tsn(num_classes=4), good, "c.pt", expected_model="toy_tsn")
    with pytest.raises(ModelError, match="saved from model 'toy_tsn', not 'tsm_r50'"):
        load_model_state(tiny_tsn(), good, "c.pt", expected_model="tsm_r50")
    with pytest.raises(ModelError, match=r"'fc.weight' has shape \(4, 64\).*expects \(5, 64\)"):
        load_model_state(tiny_tsn(num_classes=5), good, "c.pt")
    with pytest.raises(ModelError, match="missing 1 keys"):
        load_model_state(tiny_tsn(), {"model": {k: v for k, v in model.state_dict().items() if k != "fc.bias"}},
                         "c.pt")
    # a bare state dict file is accepted and wrapped
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    assert set(load_checkpoint(tmp_path / "bare.pt")) == {"model"}
