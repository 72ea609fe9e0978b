"""train -> test -> predict -> explain through the CLI on real generated MP4 files, and the one-line errors."""

import json

import pytest
import torch

from actionlab.cli import main
from tests._engine_toys import CLI_TINY, trained_cli_run

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = CLI_TINY


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-class benchmark (4 videos per split) and a tiny TSN trained on it for one epoch."""
    return trained_cli_run(tmp_path_factory.mktemp("engine_cli"), "cli", TINY)


def test_test_command_writes_metrics_predictions_and_confusion_matrix(trained, capsys):
    root, config, ckpt = trained
    assert main(["test", str(config), "--checkpoint", str(ckpt), "--views", "2x3", "--set", *TINY]) == 0
    out_dir = root / "runs" / "cli" / "test_test_2x3"
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["views"] == "2x3" and metrics["videos"] == 4
    # the generated benchmark has time-reversed class pairs: within-pair accuracy is reported too
    assert set(metrics["metrics"]) == {"top1", "top5", "mean_class_accuracy", "mAP", "within_pair", "pairs"}
    rows = json.loads((out_dir / "predictions.json").read_text())
    assert [r["index"] for r in rows] == [0, 1, 2, 3] and rows[0]["video"].endswith(".mp4")
    # single-label data: the true label is one class name, like the prediction
    assert all(isinstance(r["label"], str) and r["label"] in ("move_right", "move_left") for r in rows)
    assert (out_dir / "predictions.csv").read_text().splitlines()[1].split(",")[2] == rows[0]["label"]
    cm = (out_dir / "confusion_matrix.csv").read_text().splitlines()
    assert cm[0] == "true \\ predicted,move_right,move_left"
    assert sum(int(x) for line in cm[1:] for x in line.split(",")[1:]) == 4
    out = capsys.readouterr().out
    assert out.count("top1") == 1 and out.count("within-pair") == 1  # the metrics once, not again as JSON


def test_predict_folder_prints_a_table_and_writes_json(trained, capsys, tmp_path):
    root, _, ckpt = trained
    out = tmp_path / "p.json"
    assert main(["predict", str(root / "data/videos/test"), "--checkpoint", str(ckpt), "--topk", "2",
                 "--json", str(out)]) == 0
    captured = capsys.readouterr()
    table = captured.out
    assert "top-1" in table and "move_left_0000.mp4" in table
    assert "predict: videos 4/4" in captured.err and "predict:" not in table  # progress on stderr, not in the table
    preds = json.loads(out.read_text())["predictions"]
    assert len(preds) == 4 and all(len(p["top"]) == 2 for p in preds)
    scores = [t["score"] for t in preds[0]["top"]]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1.0, abs=1e-4)


def test_explain_dispatches_to_the_models_kind(trained, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    root, _, ckpt = trained
    video = root / "data/videos/test/move_right_0000.mp4"
    assert main(["explain", str(video), "--checkpoint", str(ckpt), "--out", str(tmp_path / "x")]) == 0
    assert "gradcam of" in capsys.readouterr().out
    assert list((tmp_path / "x").glob("*.png"))


@pytest.mark.parametrize("argv, overrides, message", [
    (["test", "{config}", "--checkpoint", "{ckpt}", "--views", "2by3"], [], "--views expects"),
    (["test", "{config}", "--checkpoint", "{ckpt}"], ["model.name=tsm_r18_tiny"],
     "was saved from model 'tsn_r18_tiny', but the config asks for 'tsm_r18_tiny'"),
    (["test", "{config}", "--checkpoint", "{ckpt}"], ["data.class_names={classes3}"],
     "has 2 classes, the dataset has 3"),
    (["test", "{config}", "--checkpoint", "{root}/missing.pt"], [], "checkpoint not found"),
    (["train", "{config}"], ["model.name=tsn_r18_tinny"], "unknown model 'tsn_r18_tinny'; did you mean"),
    (["train", "{config}"], ["data.train_list={empty}"], "empty"),
    (["explain", "{video}", "--checkpoint", "{ckpt}", "--kind", "saliency"], None, "unknown explanation kind"),
])
def test_bad_input_is_a_one_line_error(trained, capsys, argv, overrides, message):
    root, config, ckpt = trained
    (root / "classes3.txt").write_text("move_right\nmove_left\ngrow\n")
    (root / "empty.txt").write_text("")
    fill = {"config": config, "ckpt": ckpt, "root": root, "classes3": root / "classes3.txt",
            "empty": root / "empty.txt", "video": root / "data/videos/test/move_right_0000.mp4"}
    argv = [a.format(**fill) for a in argv]
    if overrides is not None:  # train / test: the tiny settings, then the bad one
        argv += ["--set", *TINY, *(o.format(**fill) for o in overrides)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_train_end_message_names_the_metric_checkpoints_and_next_command(trained, capsys, tmp_path):
    import shutil

    root, _, _ = trained
    shutil.copytree(root / "runs" / "cli", tmp_path / "runs" / "cli")
    config = tmp_path / "cfg.yaml"
    config.write_text(f"_base_: {root / 'data' / 'data.yaml'}\nname: cli\ntrain:\n  work_dir: {tmp_path / 'runs'}\n")
    # --resume auto: the saved config (tiny model, 32 px, ...) without repeating the first run's --set
    assert main(["train", str(config), "--resume", "auto", "--set", "train.epochs=2"]) == 0
    out = capsys.readouterr().out
    run_dir = tmp_path / "runs" / "cli"
    assert f"--resume auto: resuming {run_dir} (1 of 2 epochs done, step 2) with {run_dir / 'config.yaml'}; " \
           "overrides on top: train.epochs=2" in out
    assert "resumed from" in out and "epoch 2/2 done" in out
    assert "best.pt: best validation top1 " in out and f"-> {run_dir / 'checkpoints' / 'best.pt'}" in out
    assert f"last.pt: the state after epoch 2 (resumable) -> {run_dir / 'checkpoints' / 'last.pt'}" in out
    assert f"next: actionlab test --checkpoint {run_dir / 'checkpoints' / 'best.pt'}" in out
    # ... and that next command runs as printed: the config comes from the checkpoint
    assert main(["test", "--checkpoint", str(run_dir / "checkpoints" / "best.pt")]) == 0
    assert "4 videos" in capsys.readouterr().out


def test_threads_option_and_runtime_threads(trained, capsys, tmp_path):
    root, config, ckpt = trained
    n = torch.get_num_threads()
    try:
        assert main(["test", str(config), "--checkpoint", str(ckpt), "--out", str(tmp_path / "a"), "--set", *TINY,
                     "runtime.threads=2"]) == 0
        assert torch.get_num_threads() == 2
        assert main(["test", "--checkpoint", str(ckpt), "--out", str(tmp_path / "b"), "--threads", "3"]) == 0
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(n)
    err = capsys.readouterr().err
    assert "test last.pt on test (1x1 views): batches 2/2" in err  # progress, one line per update off a terminal
    assert "\r" not in err


def _all_parsers():
    import argparse

    from actionlab.cli import build_parser

    stack = [("actionlab", build_parser())]
    while stack:
        name, parser = stack.pop()
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack += [(f"{name} {sub}", p) for sub, p in action.choices.items()]


def test_every_option_has_help_and_help_keeps_example_lines():
    import argparse

    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}" for name, p in _all_parsers() for a in p._actions
               if a.help is None and not isinstance(a, argparse._SubParsersAction)]
    assert missing == []
    parsers = dict(_all_parsers())
    text = parsers["actionlab flops"].format_help()
    assert "\n    actionlab flops tsm_r50 --frames 16 --latency" in text  # an example line stays a line
    assert "--threads N" in parsers["actionlab train"].format_help()


def test_flops_measures_latency_only_on_request(capsys):
    assert main(["flops", "tsn_r18_tiny", "--frames", "2", "--size", "32", "--no-memory", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["latency"] is None
    assert "flops: tsn_r18_tiny at 2 x 32 x 32: measuring GMACs, parameters ..." in captured.err
    assert main(["flops", "tsn_r18_tiny", "--frames", "2", "--size", "32", "--no-memory", "--latency",
                 "--warmup", "0", "--repeats", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["latency"]["median_ms"] > 0


def test_readme_tour_lines_parse():
    """Every `actionlab ...` line of the README's tour is a valid command line (flags and subcommands exist)."""
    import re
    import shlex
    from pathlib import Path

    from actionlab.cli import build_parser

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    tour = readme.split("## A tour of the CLI", 1)[1].split("\n## ", 1)[0]
    lines = [line for block in re.findall(r"```bash\n(.*?)```", tour, re.S) for line in block.splitlines()]
    commands = [shlex.split(line.split("  #")[0].replace("$CKPT", "c.pt").replace("$VIDEOS", "v"))
                for line in lines if line.startswith("actionlab ")]
    assert len(commands) >= 20
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv[1:])  # argparse exits (SystemExit) on an unknown option
