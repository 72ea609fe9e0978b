import random

import numpy as np
import pytest
import torch

from _engine_toys import tiny_tsn
from actionlab.engine import checkpoint as ckpt_mod
from actionlab.engine.checkpoint import (
    FORMAT,
    capture_rng_state,
    load_checkpoint,
    load_model_state,
    restore_rng_state,
    save_checkpoint,
)
from actionlab.errors import ModelError


def test_atomic_write_keeps_the_old_file_when_saving_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"format": FORMAT, "step": 1}, path)

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"format": FORMAT, "step": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1  # the previous checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


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
