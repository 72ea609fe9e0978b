"""`actionlab bench accuracy`: which runs it plans, argument checks, and the extra metrics pass (fidelity etc.)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from actionlab.bench import accuracy
from actionlab.errors import ConfigError
from actionlab.recipes import all_recipes


def test_default_methods_exist_and_cover_every_paper():
    recipes = all_recipes()
    assert set(accuracy.DEFAULT_METHODS) <= set(recipes)
    names = {r.name for r, _, _ in accuracy.plan(accuracy.DEFAULT_METHODS, 1)}
    assert {"tsn", "tsm", "tefe", "tefe_te_only", "tefe_fe_only", "atr", "atr_sim", "tsm_atr", "art", "art_backbone",
            "tfe", "vanilla_attention"} <= names


def test_plan_adds_baselines_on_the_method_variant_for_every_seed():
    runs = accuracy.plan(["tefe", "tfe"], 2)
    assert [(r.name, v, s) for r, v, s in runs] == [
        ("tsn", "order", 0), ("tefe", "order", 0), ("vanilla_attention", "distractor", 0), ("tfe", "distractor", 0),
        ("tsn", "order", 1), ("tefe", "order", 1), ("vanilla_attention", "distractor", 1), ("tfe", "distractor", 1)]


@pytest.mark.parametrize("kwargs", [{"methods": " , "}, {"budget_minutes": 0.0}, {"seeds": 0}, {"epochs": 0},
                                    {"data": "/nonexistent-dir"}])
def test_bad_arguments(kwargs):
    parser = argparse.ArgumentParser()
    accuracy.add_arguments(parser)
    args = parser.parse_args([])
    for k, v in kwargs.items():
        setattr(args, k, v)
    with pytest.raises(ConfigError):
        accuracy.run(args)


def test_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown method"):
        accuracy.plan(["tsmm"], 1)


class _Extras(torch.nn.Module):
    """Stands in for a trained model: attention on frames 2-5, actionness and regions peaked at cell (0, 0)."""

    eval_metrics = ("temporal_fidelity", "actionness_in_box", "pointing_game")

    def forward(self, clip):
        from types import SimpleNamespace

        n, t = clip.shape[0], clip.shape[2]
        attention = torch.zeros(n, t)
        attention[:, 2:6] = 1.0
        actionness = torch.full((n, t, 1, 2, 2), -10.0)
        actionness[..., 0, 0] = 10.0
        regions = actionness.expand(n, t, 2, 2, 2)
        return SimpleNamespace(logits=torch.zeros(n, 3), extras={"attention": attention, "actionness": actionness,
                                                                 "regions": regions})


def test_extra_metrics_from_extras(monkeypatch):
    """The extra pass turns a model's extras + the dataset's masks/boxes into fidelity, in-box and pointing."""
    from types import SimpleNamespace

    import actionlab.data
    import actionlab.engine.build
    import actionlab.engine.loader

    t = 8
    mask = torch.zeros(2, 1, t, dtype=torch.bool)
    mask[:, :, 2:6] = True
    boxes = torch.tensor([0.0, 0.0, 16.0, 16.0]).expand(2, 1, t, 4).clone()  # top-left quarter of 32 px
    batch = {"clip": torch.zeros(2, 1, 3, t, 32, 32, dtype=torch.uint8), "action_mask": mask, "boxes": boxes}
    monkeypatch.setattr(actionlab.data, "build_dataset", lambda cfg, split, views=None: SimpleNamespace(num_classes=3))
    monkeypatch.setattr(actionlab.engine.loader, "eval_loader", lambda *a, **k: [batch])
    monkeypatch.setattr(actionlab.engine.build, "load_for_inference",
                        lambda *a, **k: SimpleNamespace(model=_Extras()))
    cfg = SimpleNamespace(test=SimpleNamespace(batch_size=2), train=SimpleNamespace(seed=0))
    out = accuracy.extra_metrics(cfg, "unused.pt")
    assert out["fidelity_auc"] == pytest.approx(1.0) and out["fidelity_mass"] == pytest.approx(1.0)
    assert out["fidelity_chance"] == pytest.approx(0.5)
    assert out["actionness_in_box"] > 0.99 and out["actionness_in_box_chance"] == pytest.approx(0.25)
    # any of K=2 tracklets: its chance is that of 2 random peaks, 1 - (1 - 1/4)^2, not single-peak 1/4
    assert out["pointing_any"] == pytest.approx(1.0) and out["pointing_chance"] == pytest.approx(1 - 0.75**2)
    assert out["pointing_chance_single"] == pytest.approx(0.25)
    assert out["pointing_too_small"] == 1.0 and out["actionness_too_small"] == 1.0  # 2x2 maps


def test_the_budget_is_epochs_by_default_and_the_same_for_every_model(monkeypatch, tmp_path):
    """Without --budget-minutes every run trains the same number of epochs (no timing: load-independent)."""
    seen = []

    def fake_bench_one(recipe, cfg, minutes, threads, seed):
        seen.append((recipe.name, cfg["train"]["epochs"], minutes))
        raise RuntimeError("stop")

    monkeypatch.setattr(accuracy, "bench_one", fake_bench_one)
    monkeypatch.setattr("actionlab.data.synthetic.generate", lambda out, variant, **k: __import__("types")
                        .SimpleNamespace(root=tmp_path, counts={}, class_names=[]))
    parser = argparse.ArgumentParser()
    accuracy.add_arguments(parser)
    args = parser.parse_args(["--methods", "tsm", "--seeds", "1", "--jobs", "1", "--out", str(tmp_path)])
    with pytest.raises(ConfigError, match="every run failed"):
        accuracy.run(args)
    assert seen == [("tsn", accuracy.DEFAULT_EPOCHS, None), ("tsm", accuracy.DEFAULT_EPOCHS, None)]


def test_epochs_per_variant():
    assert accuracy.parse_epochs("12", ["order", "distractor"]) == {"order": 12, "distractor": 12}
    assert accuracy.parse_epochs("order=40, distractor=30", ["order", "distractor"]) == {"order": 40, "distractor": 30}
    assert accuracy.format_epochs({"order": 40, "distractor": 30}) == "order=40,distractor=30"
    assert accuracy.format_epochs({"order": 8, "distractor": 8}) == "8"
    with pytest.raises(ConfigError, match="no budget for distractor"):
        accuracy.parse_epochs("order=40", ["order", "distractor"])
    with pytest.raises(ConfigError, match="expected a number"):
        accuracy.parse_epochs("order:40", ["order"])


def _fake_generate(tmp_path):
    from types import SimpleNamespace

    def generate(out, variant, **kwargs):
        Path(out).mkdir(parents=True, exist_ok=True)
        return SimpleNamespace(root=Path(out), counts={}, class_names=[])

    return generate


def test_each_variant_trains_its_own_epochs_and_finished_runs_are_kept(monkeypatch, tmp_path):
    """--epochs order=..,finegrained=..: every model of a variant gets that budget (and --eval-every reaches the
    config); a second invocation with more seeds keeps the finished runs and trains only the new seeds."""
    import json

    from actionlab.report import ROW_FILE

    seen = []

    def fake_bench_one(recipe, cfg, minutes, threads, seed):
        seen.append((recipe.name, cfg["train"]["epochs"], cfg["train"]["eval_every"], seed))
        run_dir = tmp_path / "runs" / cfg["name"]
        run_dir.mkdir(parents=True, exist_ok=True)
        row = {"recipe": recipe.name, "variant": recipe.variant, "seed": seed, "run_dir": str(run_dir), "top1": 0.5,
               "budget_epochs": cfg["train"]["epochs"], "budget_minutes": minutes, "model": "m", "baseline": None}
        (run_dir / ROW_FILE).write_text(json.dumps(row))
        return row

    monkeypatch.setattr(accuracy, "bench_one", fake_bench_one)
    monkeypatch.setattr("actionlab.data.synthetic.generate", _fake_generate(tmp_path))
    monkeypatch.setattr("actionlab.report.write_report", lambda rows, out, header: {"markdown": _note(out, header)})
    parser = argparse.ArgumentParser()
    accuracy.add_arguments(parser)
    argv = ["--methods", "tsm,art", "--jobs", "1", "--out", str(tmp_path), "--epochs", "order=5,finegrained=7",
            "--eval-every", "2"]
    assert accuracy.run(parser.parse_args(argv + ["--seeds", "1"])) == 0
    assert sorted(seen) == sorted([("tsn", 5, 2, 0), ("tsm", 5, 2, 0), ("art_backbone", 7, 2, 0), ("art", 7, 2, 0)])
    seen.clear()
    assert accuracy.run(parser.parse_args(argv + ["--seeds", "2"])) == 0
    assert sorted(seen) == sorted([("tsn", 5, 2, 1), ("tsm", 5, 2, 1), ("art_backbone", 7, 2, 1), ("art", 7, 2, 1)])
    header = (tmp_path / "note.md").read_text()
    assert "kept 4 finished" in header and "--epochs order=5,finegrained=7" in header and "load average" in header


def _note(out, header):
    (Path(out) / "note.md").write_text(header)
    return Path(out) / "note.md"


def test_quick_is_small_and_keeps_what_is_given():
    parser = argparse.ArgumentParser()
    accuracy.add_arguments(parser)
    args = parser.parse_args(["--quick", "--seeds", "2"])
    accuracy._apply_defaults(args)
    assert (args.epochs, args.seeds, args.videos_per_class, args.eval_per_class) == ("2", 2, 8, 4)
    args = parser.parse_args([])
    accuracy._apply_defaults(args)  # the converged budget of benchmarks/accuracy.md, not a smoke test
    budget = (args.epochs, args.seeds, args.videos_per_class, args.eval_per_class, args.eval_every)
    assert budget == (None, 3, 32, 24, 2)
    assert accuracy.DEFAULT_EPOCHS == 40
    args = parser.parse_args(["--quick"])
    accuracy._apply_defaults(args)
    assert args.eval_every == 0


def test_extra_metrics_read_arts_own_backbone_prediction(monkeypatch):
    """ART's Eq. 10 readout (extras["backbone_logits"]) is scored beside the final prediction."""
    from types import SimpleNamespace

    import actionlab.data
    import actionlab.engine.build
    import actionlab.engine.loader

    class Model(torch.nn.Module):
        def forward(self, clip):
            logits = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
            return SimpleNamespace(logits=logits, extras={"backbone_logits": logits})

    batch = {"clip": torch.zeros(4, 1, 3, 2, 8, 8, dtype=torch.uint8), "label": torch.tensor([1, 2, 1, 0])}
    monkeypatch.setattr(actionlab.data, "build_dataset", lambda cfg, split, views=None: SimpleNamespace(num_classes=3))
    monkeypatch.setattr(actionlab.engine.loader, "eval_loader", lambda *a, **k: [batch])
    monkeypatch.setattr(actionlab.engine.build, "load_for_inference", lambda *a, **k: SimpleNamespace(model=Model()))
    cfg = SimpleNamespace(test=SimpleNamespace(batch_size=4), train=SimpleNamespace(seed=0))
    assert accuracy.extra_metrics(cfg, "unused.pt")["backbone_top1"] == pytest.approx(0.75)


@pytest.mark.parametrize("argv, cores, expected", [([], 2, 1), (["--jobs", "1"], 2, 1), (["--jobs", "1"], 16, 1),
                                                   (["--jobs", "1", "--threads", "2"], 2, 2)])
def test_one_thread_per_model_whatever_the_cores_and_jobs(monkeypatch, tmp_path, argv, cores, expected):
    """Results depend on the torch thread count: it is --threads (default 1), not the cores divided by the jobs."""
    seen = []

    def fake_bench_one(recipe, cfg, minutes, threads, seed):
        seen.append(threads)
        raise RuntimeError("stop")

    monkeypatch.setattr(accuracy, "bench_one", fake_bench_one)
    monkeypatch.setattr(accuracy.os, "cpu_count", lambda: cores)
    monkeypatch.setattr("actionlab.data.synthetic.generate", _fake_generate(tmp_path))
    parser = argparse.ArgumentParser()
    accuracy.add_arguments(parser)
    args = parser.parse_args(["--methods", "tsm", "--seeds", "1", "--out", str(tmp_path), *argv])
    if cores > 2 or "--jobs" not in argv:  # two jobs run in a process pool: keep this test in one process
        args.jobs = 1
    with pytest.raises(ConfigError, match="every run failed"):
        accuracy.run(args)
    assert seen and set(seen) == {expected}
