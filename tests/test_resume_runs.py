"""`--resume` never continues the wrong run: Ctrl-C prints the command that resumes that run, `--resume auto`
looks only at the config's own runs, refuses to guess between several unfinished ones, and says when a run is
complete instead of "finishing 0 steps" of it."""

from __future__ import annotations

import os
import shlex
import signal

import pytest
import torch

from actionlab.cli import main
from tests._engine_toys import CLI_TINY, trained_cli_run

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = [*CLI_TINY, "train.log_every=1000"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run 'demo' (one epoch) of a config named demo."""
    return trained_cli_run(tmp_path_factory.mktemp("resume_runs"), "demo", TINY)


def run(capfd, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, err
    return code, out, err


def press_ctrl_c_at_step(monkeypatch, step: int) -> None:
    """`actionlab train` gets Ctrl-C after optimizer step `step` (the trainer saves, then stops)."""
    from actionlab.engine import trainer

    real = trainer.train

    def interrupted(cfg, resume=None, **kw):
        def hook(state, logs):
            if state.step == step:
                os.kill(os.getpid(), signal.SIGINT)

        return real(cfg, resume, on_step=hook, **kw)

    monkeypatch.setattr(trainer, "train", interrupted)


def _epoch(ckpt) -> tuple[int, int]:
    data = torch.load(ckpt, map_location="cpu", weights_only=True)
    return data["epoch"], data["step"]


def test_ctrl_c_names_the_command_that_resumes_that_run_and_auto_never_picks_another(finished, capfd,
                                                                                       monkeypatch):
    root, config, demo_ckpt = finished
    demo_before = (demo_ckpt.stat().st_mtime_ns, _epoch(demo_ckpt))
    with monkeypatch.context() as m:
        press_ctrl_c_at_step(m, 1)
        code, _, err = run(capfd, "train", config, "--set", *TINY, "name=X", "train.epochs=3")
    x_dir = root / "runs" / "X"
    command = f"actionlab train {x_dir / 'config.yaml'} --resume {x_dir / 'checkpoints' / 'last.pt'}"
    line = [x for x in err.splitlines() if x.startswith("actionlab train: interrupted")]
    assert code == 130 and line == [f"actionlab train: interrupted: saved {x_dir / 'checkpoints' / 'last.pt'} at "
                                    f"epoch 1, batch 1; resume this run with: {command}"]
    assert _epoch(x_dir / "checkpoints" / "last.pt") == (0, 1)

    # the config without name=X: its own run 'demo' is complete - said, with how to train longer; X is named
    code, out, _ = run(capfd, "train", config, "--resume", "auto")
    assert code == 0 and f"{root / 'runs' / 'demo'} is complete: 1 of 1 epochs trained" in out
    assert f"--resume {demo_ckpt} --set train.epochs=2" in out and "finished 0 steps" not in out
    assert f"unfinished runs of other names in {root / 'runs'}: {x_dir} (0 of 3 epochs and 1 batches done, step 1): " \
           f"{command}" in out
    assert (demo_ckpt.stat().st_mtime_ns, _epoch(demo_ckpt)) == demo_before  # not touched

    # the config's run dir after overrides: --set name=X --resume auto finds X (checked without training)
    code, out, _ = run(capfd, "train", config, "--set", "name=X", "--resume", "auto", "--check-config")
    assert code == 0 and f"--resume auto: resuming {x_dir} (0 of 3 epochs and 1 batches done, step 1)" in out

    # the printed command, as printed, continues X to its end; demo stays as it was
    code, out, _ = run(capfd, *shlex.split(command)[1:])
    assert code == 0 and _epoch(x_dir / "checkpoints" / "last.pt") == (3, 6)
    assert (demo_ckpt.stat().st_mtime_ns, _epoch(demo_ckpt)) == demo_before


def test_resume_auto_refuses_to_guess_between_unfinished_runs(finished, capfd, monkeypatch):
    root, config, _ = finished
    with monkeypatch.context() as m:
        press_ctrl_c_at_step(m, 1)
        for _ in range(2):  # Y, then Y-2 (a run directory is never reused)
            code, _, _ = run(capfd, "train", config, "--set", *TINY, "name=Y", "train.epochs=2")
            assert code == 130
    code, _, err = run(capfd, "train", config, "--set", "name=Y", "--resume", "auto")
    lines = [x for x in err.splitlines() if x.startswith("actionlab ")]
    assert code == 2 and len(lines) == 1 and err.strip().endswith(lines[0])
    assert "--resume auto: 2 unfinished runs of 'Y'" in lines[0] and "not guessing which" in lines[0]
    for run_dir in (root / "runs" / "Y", root / "runs" / "Y-2"):
        assert f"{run_dir} (0 of 2 epochs and 1 batches done, step 1): actionlab train " \
               f"{run_dir / 'config.yaml'} --resume {run_dir / 'checkpoints' / 'last.pt'}" in lines[0]


def test_resuming_a_complete_run_by_path_says_so_and_trains_nothing(finished, capfd):
    root, _, demo_ckpt = finished
    before = demo_ckpt.stat().st_mtime_ns
    code, out, _ = run(capfd, "train", root / "runs" / "demo" / "config.yaml", "--resume", demo_ckpt)
    assert code == 0 and "is complete: 1 of 1 epochs trained (step 2), nothing to resume; to train longer:" in out
    assert demo_ckpt.stat().st_mtime_ns == before
