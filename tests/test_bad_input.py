"""Bad input and faults (issue 15): every case is a one-line error naming the file / key / line, or a
counted, logged skip - never a traceback, never a silently wrong result.

Each command runs through `actionlab.cli.main` on a tiny generated benchmark; `capfd` catches what
DataLoader workers write to the process's stderr as well, and no stderr may hold "Traceback".
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch

from actionlab.cli import main
from tests._engine_toys import CLI_TINY, ToyVideos, tiny_tsn, toy_config, trained_cli_run

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = [*CLI_TINY, "train.log_every=1000"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A 2-class benchmark (4 videos per split), a config for it and a checkpoint trained one epoch on it."""
    return trained_cli_run(tmp_path_factory.mktemp("bad_input"), "bad", TINY, broken_video=True)


def run(capfd, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, err
    return code, out, err


def one_line(err: str) -> str:
    """The error: one line "actionlab CMD: error: ..." (progress lines on stderr aside)."""
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("actionlab ")]
    assert len(lines) == 1 and ": error: " in lines[0], err
    assert err.strip().endswith(lines[0]), err  # nothing after it: the message is one line
    return lines[0]


def with_broken(root: Path, split: str, copies: int = 1) -> str:
    """The split's list plus `copies` lines naming an unreadable video; returns the new list's path."""
    lines = (root / "data" / f"{split}.txt").read_text().splitlines()
    lines += [f"videos/broken{i}.mp4 {i % 2}" for i in range(copies)]
    for i in range(copies):
        shutil.copyfile(root / "data/videos/broken.mp4", root / f"data/videos/broken{i}.mp4")
    path = root / "data" / f"{split}_broken{copies}.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# --------------------------------------------------------------------------- config values


@pytest.mark.parametrize("override, message", [
    ("train.epochs=0", "config key 'train.epochs' must be >= 1, got 0 (nothing to train)"),
    ("data.batch_size=0", "config key 'data.batch_size' must be >= 1, got 0"),
    ("data.input_size=0", "config key 'data.input_size' must be >= 1, got 0"),
    ("optim.lr=-1", "config key 'optim.lr' must be > 0, got -1.0"),
    ("data.num_workers=-1", "config key 'data.num_workers' must be >= 0, got -1"),
])
def test_out_of_range_config_values(bench, capfd, override, message):
    root, config, _ = bench
    code, _, err = run(capfd, "train", config, "--set", *TINY, override)
    assert code == 2 and message in one_line(err)
    assert not (root / "runs" / "bad-2").exists()  # nothing written


# --------------------------------------------------------------------------- unreadable videos: the policy


def test_training_skips_and_counts_unreadable_videos(bench, capfd, tmp_path):
    root, config, _ = bench
    train_list = with_broken(root, "train", copies=2)  # 6 videos, 2 unreadable; batches of 3 use all of them
    code, out, err = run(capfd, "train", config, "--set", *TINY, f"data.train_list={train_list}", "data.batch_size=3",
                         "train.epochs=2", "data.max_bad_fraction=0.5", f"train.work_dir={tmp_path}")
    assert code == 0, err
    log = (tmp_path / "bad" / "train.log").read_text()
    for i in range(2):
        assert f"skipped unreadable video {train_list}:{5 + i} ({root}/data/videos/broken{i}.mp4)" in log
    assert "epoch 2: skipped 2 of 6 videos as unreadable" in log
    assert f"data: skipped video 4 ({train_list}:5): cannot open video {root}/data/videos/broken0.mp4" in log  # why
    rows = [json.loads(line) for line in (tmp_path / "bad" / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped_videos"] for r in rows] == [2, 2]


def test_training_stops_above_max_bad_fraction(bench, capfd, tmp_path):
    root, config, _ = bench
    train_list = with_broken(root, "train", copies=2)
    code, _, err = run(capfd, "train", config, "--set", *TINY, f"data.train_list={train_list}", "data.batch_size=3",
                       f"train.work_dir={tmp_path}")
    line = one_line(err)
    # stops as soon as the epoch is over the limit: here at the first bad video
    assert code == 2 and "epoch 1: 1 of 6 training videos could not be read (more than data.max_bad_fraction=0.01)" \
        in line and "broken" in line
    assert line.split("error: ", 1)[1] in (tmp_path / "bad" / "train.log").read_text()  # the run's log says why


def test_skipped_annotation_lines_are_counted_in_the_run(bench, capfd, tmp_path):
    root, config, _ = bench
    bad_list = tmp_path / "train.txt"
    bad_list.write_text((root / "data/train.txt").read_text() + "videos/train/x.mp4 seven\n")
    overrides = [*TINY, f"data.train_list={bad_list}", "data.on_error=skip", f"train.work_dir={tmp_path}"]
    code, _, err = run(capfd, "train", config, "--set", *overrides)
    assert code == 2 and "1 of 5 lines of the training list are bad (more than data.max_bad_fraction=0.01)" in err
    code, _, err = run(capfd, "train", config, "--set", *overrides, "data.max_bad_fraction=0.3")
    assert code == 0, err
    log = (tmp_path / "bad" / "train.log").read_text()
    assert "train data: skipped 1 bad annotation lines" in log and f"{bad_list}:5: bad label 'seven'" in log
    row = json.loads((tmp_path / "bad" / "metrics.jsonl").read_text().splitlines()[0])
    assert row["skipped_annotation_lines"] == 1


def test_testing_raises_by_default_and_says_the_subset_with_skip(bench, capfd):
    root, config, ckpt = bench
    test_list = with_broken(root, "test")
    code, _, err = run(capfd, "test", config, "--checkpoint", ckpt, "--set", *TINY, f"data.test_list={test_list}")
    assert code == 2 and "broken0.mp4" in one_line(err)
    code, out, err = run(capfd, "test", config, "--checkpoint", ckpt, "--set", *TINY, f"data.test_list={test_list}",
                         "data.on_error=skip")
    assert code == 0 and "4 of 5 videos (1 unreadable, skipped: data.on_error=skip)" in out


def test_a_bad_video_in_a_dataloader_worker_is_the_same_one_line_error(bench, capfd, tmp_path):
    root, config, _ = bench
    train_list = with_broken(root, "train")
    args = ["train", config, "--set", *TINY, f"data.train_list={train_list}", "data.on_error=raise",
            f"train.work_dir={tmp_path}"]
    code0, _, err0 = run(capfd, *args, "data.num_workers=0")
    code1, _, err1 = run(capfd, *args, "data.num_workers=1")
    assert code0 == code1 == 2 and "broken0.mp4" in one_line(err0)
    assert one_line(err1) == one_line(err0)


class _KilledInWorker(ToyVideos):
    """Kills its DataLoader worker (SIGKILL, as the OOM killer does) once `arm` exists."""

    def __init__(self, arm: Path):
        super().__init__(16)
        self.arm = arm

    def __getitem__(self, i: int) -> dict:
        if self.arm.exists() and torch.utils.data.get_worker_info() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__getitem__(i)


def test_a_worker_killed_by_the_os_names_it_and_the_resume_command(tmp_path):
    from actionlab.engine.trainer import train
    from actionlab.engine.workers import WorkerDiedError

    arm = tmp_path / "arm"
    cfg = toy_config(tmp_path, "data.num_workers=1", "train.epochs=2")

    def arm_after_epoch_1(state, logs):
        if state.step >= 4:
            arm.touch()

    with pytest.raises(WorkerDiedError) as e:
        train(cfg, model=tiny_tsn(), train_set=_KilledInWorker(arm), run_dir=tmp_path / "run",
              on_step=arm_after_epoch_1)
    message = str(e.value)
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    assert "\n" not in message and e.value.exit_code == 1
    assert message.startswith("DataLoader worker 0 (pid ") and "killed by signal SIGKILL" in message
    assert f"the last checkpoint {last} is intact" in message
    assert f"resume with: actionlab train {tmp_path / 'run' / 'config.yaml'} --resume {last}" in message
    assert torch.load(last, weights_only=True)["epoch"] == 1


# --------------------------------------------------------------------------- checkpoints


def test_disk_full_while_saving_a_checkpoint(bench, capfd, tmp_path, monkeypatch):
    from actionlab.engine import checkpoint

    _, config, _ = bench
    real_save = torch.save

    def fill_the_disk(payload, f):
        if payload.get("epoch", 0) >= 2:  # epoch 1's checkpoints get written, epoch 2's find the disk full
            f.write(b"x" * 100)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(payload, f)

    monkeypatch.setattr(checkpoint.torch, "save", fill_the_disk)
    code, _, err = run(capfd, "train", config, "--set", *TINY, "train.epochs=2", f"train.work_dir={tmp_path}")
    last = tmp_path / "bad" / "checkpoints" / "last.pt"
    line = one_line(err)
    assert code == 1 and f"cannot write checkpoint {tmp_path / 'bad' / 'checkpoints'}" in line
    assert "no space left on the device (it needs about" in line and "MB free in" in line and "is intact" in line
    monkeypatch.undo()
    assert torch.load(last, weights_only=True)["epoch"] == 1  # the previous checkpoint is intact
    assert not [p for p in last.parent.iterdir() if p.name.endswith(".tmp")]


def test_disk_full_while_writing_the_metrics_is_one_line(bench, capfd, tmp_path, monkeypatch):
    from actionlab.engine import logs

    _, config, _ = bench

    def full(self, row):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.run_dir / "metrics.jsonl"))

    monkeypatch.setattr(logs.RunLogger, "epoch_metrics", full)
    code, _, err = run(capfd, "train", config, "--set", *TINY, f"train.work_dir={tmp_path}")
    line = one_line(err)
    assert code == 1 and f"cannot write {tmp_path / 'bad' / 'metrics.jsonl'}: no space left" in line


def test_class_names_that_do_not_fit_the_outputs_are_refused_by_test_and_resume(bench, capfd, tmp_path):
    _, config, ckpt = bench
    data = torch.load(ckpt, weights_only=True)
    data["class_names"] = ["move_right", "move_left", "grow"]  # 3 names, 2 outputs
    bad = tmp_path / "bad.pt"
    torch.save(data, bad)
    for argv in (["test", config, "--checkpoint", bad, "--set", *TINY],
                 ["train", config, "--resume", bad, "--set", *TINY, "train.epochs=2"]):
        code, _, err = run(capfd, *argv)
        assert code == 2 and "bad.pt has 3 class names but 2 outputs" in one_line(err)


def test_resume_refuses_a_checkpoint_of_other_classes(bench, capfd, tmp_path):
    root, config, ckpt = bench
    data = torch.load(ckpt, weights_only=True)
    data["class_names"] = ["left", "right"]
    other = tmp_path / "checkpoints" / "last.pt"
    other.parent.mkdir()
    torch.save(data, other)
    code, _, err = run(capfd, "train", config, "--resume", other, "--set", *TINY, "train.epochs=2")
    assert code == 2 and "was trained on 2 classes (left, right, ...); the dataset has 2 (move_right" in one_line(err)


# --------------------------------------------------------------------------- run directory


def _hold_lock(run_dir: str, locked, release) -> None:
    from actionlab.engine.runlock import RunLock

    RunLock.acquire(run_dir)
    locked.set()
    release.wait(60)


def test_a_second_run_into_a_locked_run_directory_names_the_holder(bench, capfd):
    import multiprocessing

    root, config, _ = bench
    run_dir = root / "runs" / "bad"
    ctx = multiprocessing.get_context("fork")  # another process, without importing torch again
    locked, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(run_dir), locked, release))
    holder.start()
    try:
        assert locked.wait(30)
        code, _, err = run(capfd, "train", config, "--resume", "auto", "--set", *TINY, "train.epochs=2")
        line = one_line(err)
        assert code == 2 and f"run directory {run_dir} is in use by pid {holder.pid} on host " in line
    finally:
        holder.kill()  # as a crash would: the kernel drops its lock
        holder.join()
    from actionlab.engine.runlock import RunLock

    RunLock.acquire(run_dir).release()  # the dead holder's lock is gone: resuming works again


# --------------------------------------------------------------------------- annotations


def test_sthv2_entry_without_template_is_named_by_data_check_and_train(bench, capfd, tmp_path):
    root, _, _ = bench
    names = ["Moving something right", "Moving something left"]
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels/labels.json").write_text(json.dumps({n: str(i) for i, n in enumerate(names)}))
    entries = [{"id": "1", "template": "Moving [something] right"}, {"id": "2", "label": "moving a cup left"}]
    (tmp_path / "labels/train.json").write_text(json.dumps(entries))
    (tmp_path / "videos").mkdir()
    for vid in ("1", "2"):
        shutil.copyfile(root / "data/videos/train/move_right_0000.mp4", tmp_path / f"videos/{vid}.mp4")
    config = tmp_path / "ssv2.yaml"
    config.write_text(f"name: ssv2\ndata:\n  format: sthv2\n  root: {tmp_path}\n  num_workers: 0\n"
                      f"  options: {{videos_dir: videos, ext: .mp4}}\ntrain:\n  work_dir: {tmp_path / 'runs'}\n")
    code, out, _ = run(capfd, "data", "check", config, "--splits", "train")
    assert code == 1 and f"{tmp_path / 'labels/train.json'}: entry 1 (id 2): no 'template'" in out
    assert "OK" not in out.splitlines()[-1]
    code, _, err = run(capfd, "train", config, "--set", *TINY)
    assert code == 2 and f"{tmp_path / 'labels/train.json'}: entry 1 (id 2): no 'template'" in one_line(err)


def test_worker_failures_are_parsed_into_one_line(capfd, monkeypatch):
    import actionlab.commands.test as test_command
    from actionlab.engine.workers import worker_died, worker_message
    from actionlab.errors import DataError

    wrapped = DataError("Caught DataError in DataLoader worker process 1.\nOriginal Traceback (most recent call "
                        'last):\n  File "x.py", line 1, in f\nactionlab.errors.DataError: cannot read a.mp4: moov atom '
                        "not found")
    assert worker_message(wrapped) == "cannot read a.mp4: moov atom not found"
    assert worker_message(DataError("cannot read a.mp4")) is None  # not wrapped: left alone
    assert worker_died(RuntimeError("DataLoader worker (pid 4242) is killed by signal: Killed. ")) == \
        "a DataLoader worker (pid 4242) was killed by signal Killed - the system may have run out of memory"
    assert worker_died(RuntimeError("DataLoader worker (pid(s) 7, 8) exited unexpectedly")).startswith(
        "a DataLoader worker (pid 7), a DataLoader worker (pid 8) died unexpectedly")
    assert worker_died(RuntimeError("CUDA out of memory")) is None

    def killed(args):
        raise RuntimeError("DataLoader worker (pid 4242) is killed by signal: Killed. ")

    monkeypatch.setattr(test_command, "run", killed)
    code, _, err = run(capfd, "test", "cfg.yaml", "--checkpoint", "x.pt")
    assert code == 1 and one_line(err) == ("actionlab test: error: a DataLoader worker (pid 4242) was killed by "
                                           "signal Killed - the system may have run out of memory")


def test_test_refuses_a_checkpoint_whose_classes_are_named_otherwise(bench, capfd, tmp_path):
    _, config, ckpt = bench
    data = torch.load(ckpt, weights_only=True)
    data["class_names"] = data["class_names"][::-1]  # same count, other order: every score on the wrong class
    swapped = tmp_path / "swapped.pt"
    torch.save(data, swapped)
    code, _, err = run(capfd, "test", config, "--checkpoint", swapped, "--set", *TINY)
    assert code == 2 and "class 0 is 'move_left' in the checkpoint and 'move_right' in the dataset" in one_line(err)


def test_testing_an_unlabeled_list_says_so_instead_of_nan(bench, capfd, tmp_path):
    _, _, ckpt = bench
    (tmp_path / "jester-v1-labels.csv").write_text("move_right\nmove_left\n")
    (tmp_path / "jester-v1-test.csv").write_text("42\n43\n")  # the official test list: ids only
    config = tmp_path / "jester.yaml"
    config.write_text(f"name: j\ndata:\n  format: jester\n  root: {tmp_path}\n  num_workers: 0\n")
    code, _, err = run(capfd, "test", config, "--checkpoint", ckpt, "--set", *TINY)
    assert code == 2 and "the test list (the official one) has no labels: there is no accuracy" in one_line(err)
