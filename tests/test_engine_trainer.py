import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from actionlab.engine.rundir import resolve_resume
from actionlab.engine.trainer import train
from actionlab.errors import DataError
from actionlab.strategy import NonFiniteLossError
from tests._engine_toys import ToyVideos, tiny_tsn, toy_config

HERE = Path(__file__).parent
pytestmark = pytest.mark.usefixtures("one_thread")


def _weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_run_directory_holds_config_log_metrics_and_checkpoints(tmp_path):
    cfg = toy_config(tmp_path, "train.epochs=2")
    torch.manual_seed(0)
    result = train(cfg, model=tiny_tsn(), train_set=ToyVideos(8), val_set=ToyVideos(4, train=False))
    run = tmp_path / "toy"
    assert result.run_dir == run
    for name in ("config.yaml", "train.log", "metrics.jsonl", "metrics.csv", "checkpoints/last.pt",
                 "checkpoints/best.pt"):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"train_loss", "lr", "clips_per_s", "val_top1", "val_top5", "val_mAP"} <= set(rows[0])
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,step,")
    log = (run / "train.log").read_text()
    assert "loss" in log and "clips/s" in log and "ETA" in log
    ckpt = torch.load(run / "checkpoints/last.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["step"] == 4 and ckpt["class_names"] == ToyVideos().class_names
    assert ckpt["config"]["train"]["epochs"] == 2 and ckpt["model_name"] == "toy_tsn"
    # a second run of the same config never overwrites the first
    torch.manual_seed(0)
    again = train(toy_config(tmp_path, "train.epochs=1"), model=tiny_tsn(), train_set=ToyVideos(8))
    assert again.run_dir == tmp_path / "toy-2"
    chosen = resolve_resume(cfg, "auto")  # --resume auto of the 2-epoch config: the one run not done with them
    assert not chosen.complete and chosen.checkpoint == again.run_dir / "checkpoints/last.pt"


def test_resume_mid_epoch_is_exact(tmp_path):
    """Interrupt (Ctrl-C) after step 5 of 3 epochs x 4 steps, resume: same weights as a straight run."""
    cfg = toy_config(tmp_path, "train.epochs=3")
    torch.manual_seed(0)
    straight = train(cfg, model=tiny_tsn(), train_set=ToyVideos(16), run_dir=tmp_path / "straight")

    def press_ctrl_c(state, logs):
        if state.step == 5:
            os.kill(os.getpid(), signal.SIGINT)

    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, model=tiny_tsn(), train_set=ToyVideos(16), run_dir=tmp_path / "cut", on_step=press_ctrl_c)
    saved = torch.load(tmp_path / "cut/checkpoints/last.pt", weights_only=True)
    assert (saved["epoch"], saved["batch_in_epoch"], saved["step"]) == (1, 1, 5)  # saved mid-epoch on Ctrl-C
    torch.manual_seed(123)  # the resumed run takes everything from the checkpoint
    resumed = train(cfg, "auto", model=tiny_tsn(), train_set=ToyVideos(16), run_dir=tmp_path / "cut")
    assert resumed.state.step == 12
    a, b = _weights(straight.last_checkpoint), _weights(resumed.last_checkpoint)
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = lambda d: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    drop_speed = lambda rs: [{k: v for k, v in r.items() if k != "clips_per_s"} for r in rs]
    assert drop_speed(rows(tmp_path / "cut")) == drop_speed(rows(tmp_path / "straight"))


CHILD = """
import os, signal, sys
sys.path.insert(0, {root!r})  # the repository: the tests package
import torch
torch.set_num_threads(1)
import tests._engine_toys as toys
from actionlab.engine.trainer import train

def hook(state, logs):
    if state.step == 7:  # steps 4..7 are epoch 2; the last checkpoint (step 6) is mid-epoch
        os.kill(os.getpid(), signal.SIGKILL)

torch.manual_seed(0)
cfg = toys.toy_config({work!r}, "train.epochs=3")
train(cfg, model=toys.tiny_tsn(), train_set=toys.ToyVideos(16), run_dir={run!r}, checkpoint_every_steps=3,
      on_step=hook)
"""


def test_sigkill_mid_epoch_then_resume_auto_matches_an_uninterrupted_run(tmp_path):
    code = CHILD.format(root=str(HERE.parent), work=str(tmp_path), run=str(tmp_path / "killed"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    saved = torch.load(tmp_path / "killed/checkpoints/last.pt", weights_only=True)
    assert (saved["epoch"], saved["batch_in_epoch"], saved["step"]) == (1, 2, 6)
    cfg = toy_config(tmp_path, "train.epochs=3")
    torch.manual_seed(0)
    straight = train(cfg, model=tiny_tsn(), train_set=ToyVideos(16), run_dir=tmp_path / "straight")
    resumed = train(cfg, "auto", model=tiny_tsn(), train_set=ToyVideos(16), run_dir=tmp_path / "killed")
    a, b = _weights(straight.last_checkpoint), _weights(resumed.last_checkpoint)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    model = tiny_tsn()

    def poison(state, logs):
        if state.step == 3:  # after the step-2 checkpoint: the weights go bad, the next loss is NaN
            with torch.no_grad():
                model.fc.weight.fill_(float("nan"))

    cfg = toy_config(tmp_path, "train.epochs=2")
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 1, batch 4 \(step 4\).*last good checkpoint"):
        train(cfg, model=model, train_set=ToyVideos(16), run_dir=tmp_path / "r", checkpoint_every_steps=2,
              on_step=poison)
    saved = torch.load(tmp_path / "r/checkpoints/last.pt", weights_only=True)
    assert saved["step"] == 2 and all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())


def test_empty_dataset_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="training set is empty"):
        train(toy_config(tmp_path), model=tiny_tsn(), train_set=ToyVideos(0), run_dir=tmp_path / "r")


def test_bf16_autocast_channels_last_and_amp_defaults(tmp_path):
    import contextlib

    from actionlab.engine.runtime import autocast_factory

    assert autocast_factory("auto", torch.device("cpu")) == (contextlib.nullcontext, False)  # full precision on CPU
    factory, scaler = autocast_factory("bf16", torch.device("cpu"))
    with factory():
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
    assert not scaler
    torch.manual_seed(0)
    model = tiny_tsn()
    result = train(toy_config(tmp_path, "train.amp=bf16", "train.channels_last=true", "train.epochs=1"),
                   model=model, train_set=ToyVideos(8), run_dir=tmp_path / "r")
    assert model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert math.isfinite(result.history[0]["train_loss"])


def test_augmentation_does_not_depend_on_workers_or_resume_position():
    from actionlab.engine.loader import train_loader

    def batches(workers: int, start: int = 0):
        loader, sampler, seeded = train_loader(ToyVideos(12), 4, workers, seed=3)
        sampler.set_epoch(1, start=start)
        seeded.set_epoch(1)
        return [b["clip"] for b in loader]

    no_workers = batches(0)
    assert len(no_workers) == 3
    for a, b in zip(no_workers, batches(2)):
        assert torch.equal(a, b)  # same crops with the samples loaded by other processes
    assert torch.equal(batches(0, start=4)[0], no_workers[1])  # a resumed epoch sees the same second batch


def test_tensorboard_logger_writes_step_and_epoch_scalars(tmp_path, capsys):
    """train.loggers: [tensorboard] -> per-step train/<term>, train/lr and per-epoch epoch/<metric> in the event
    file, with the folder named in the log; without the switch no events are written."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    torch.manual_seed(0)
    cfg = toy_config(tmp_path, "train.epochs=2", "train.loggers=[tensorboard]")
    train(cfg, model=tiny_tsn(), train_set=ToyVideos(8), val_set=ToyVideos(4, train=False), run_dir=tmp_path / "r")
    assert f"TensorBoard events: {tmp_path / 'r' / 'tensorboard'}" in capsys.readouterr().out
    events = EventAccumulator(str(tmp_path / "r" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "epoch/train_loss", "epoch/val_top1", "epoch/lr"} <= tags
    assert not {"epoch/epoch", "epoch/step", "step"} & tags
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]  # 8 videos / batch 4 x 2 epochs
    assert [e.step for e in events.Scalars("epoch/val_top1")] == [1, 2]
    assert events.Scalars("train/lr")[0].value == pytest.approx(0.05)
    train(toy_config(tmp_path, "train.epochs=1"), model=tiny_tsn(), train_set=ToyVideos(8), run_dir=tmp_path / "q")
    assert not (tmp_path / "q" / "tensorboard").exists()


def test_sigterm_saves_a_checkpoint_like_ctrl_c(tmp_path):
    def terminate(state, logs):
        if state.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train(toy_config(tmp_path), model=tiny_tsn(), train_set=ToyVideos(16), run_dir=tmp_path / "r",
              on_step=terminate)
    saved = torch.load(tmp_path / "r/checkpoints/last.pt", weights_only=True)
    assert (saved["epoch"], saved["batch_in_epoch"], saved["step"]) == (0, 2, 2)
    assert "interrupted: saved" in (tmp_path / "r/train.log").read_text()
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is given back
