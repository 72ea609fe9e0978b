"""Counting and timing: MACs, parameters, activation memory, latency; `actionlab flops` and `bench model`."""

import argparse
import json

import torch
import torch.nn as nn

from actionlab.bench import model as bench_model
from actionlab.cli import main
from actionlab.commands.flops import parse_kwargs
from actionlab.models.registry import create_model
from actionlab.profile import (
    count_macs,
    count_params,
    cpu_latency,
    markdown_table,
    model_table,
    paper_figures,
    peak_activation_memory,
)


class TwoConvs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.b = nn.Conv2d(8, 4, 1)
        self.fc = nn.Linear(4, 10)

    def forward(self, clip):  # [N, C, T, H, W] like a recognizer
        n, c, t, h, w = clip.shape
        x = self.b(torch.relu(self.a(clip.transpose(1, 2).reshape(n * t, c, h, w))))
        return self.fc(x.mean((2, 3)))


def test_macs_and_params_by_hand():
    model = TwoConvs()
    macs, where = count_macs(model, (1, 3, 2, 16, 16))
    frames, pixels = 2, 16 * 16
    expected = frames * pixels * (3 * 9 * 8 + 8 * 4) + frames * 4 * 10
    assert (macs, where) == (expected, "meta")
    assert count_macs(model, (1, 3, 2, 16, 16), device="cpu")[0] == expected
    assert count_params(model) == (3 * 9 * 8 + 8 * 4 + 4 + 4 * 10 + 10,) * 2
    model.fc.weight.requires_grad_(False)
    assert count_params(model)[1] == count_params(model)[0] - 40


def test_peak_activation_memory_counts_live_intermediates():
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))
    x = torch.randn(1, 3, 32, 32)
    act = 16 * 32 * 32 * 4
    # conv1's output and ReLU's (not in place) coexist, then ReLU's and conv2's: two maps at once
    assert peak_activation_memory(model, x) == 2 * act
    assert peak_activation_memory(model, x, train=True) > 2 * act  # saved for backward, plus gradients


def test_latency_is_a_median_of_timed_runs():
    stats = cpu_latency(TwoConvs(), torch.randn(1, 3, 2, 16, 16), warmup=1, repeats=3)
    assert len(stats.runs_ms) == 3 and stats.min_ms <= stats.median_ms <= stats.max_ms and stats.min_ms > 0


def test_flops_command_prints_paper_figures_beside_ours(capsys):
    assert main(["flops", "tsm_r50", "--no-latency", "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert "GMACs          32.70" in out and "23.86 M" in out
    assert "MMAction2" in out and "-0.5%" in out and "why:" in out  # 32.88 printed, ours 32.70
    assert "65 G at 16 x 224" in out  # figures at other settings are pointed to


def test_flops_command_json_on_a_tiny_model(capsys):
    code = main(["flops", "tsm_r18_tiny", "--kwargs", "base_width=8", "--frames", "4", "--size", "32",
                 "--latency", "--repeats", "1", "--warmup", "0", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["frames"] == 4 and data["kwargs"] == {"base_width": 8}
    assert data["macs"] > 0 and data["peak_activation_bytes"] > 0 and data["latency"]["median_ms"] > 0


def test_flops_command_on_a_config(tmp_path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model:\n  name: tsm_r18_tiny\n  kwargs: {base_width: 8}\n"
                   "data:\n  num_segments: 4\n  input_size: 32\n")
    assert main(["flops", str(cfg), "--no-latency", "--no-memory", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["model"], data["frames"], data["size"], data["num_classes"]) == ("tsm_r18_tiny", 4, 32, 174)


def test_flops_command_user_errors(capsys):
    assert main(["flops", "tsm_r99", "--no-latency"]) == 2
    assert "unknown model 'tsm_r99'" in capsys.readouterr().err
    assert main(["flops", "tsm_r18_tiny", "--kwargs", "shift_div"]) == 2


def test_paper_figures_come_from_model_info():
    assert [f["gmacs"] for f in paper_figures("tsn_r50", 8, 224)] == [33, 32.7]
    assert paper_figures("tsn_r18_tiny") == []
    assert parse_kwargs(["a=1", "b=max", "c=[1, 2]"]) == {"a": 1, "b": "max", "c": [1, 2]}


def test_bench_model_side_by_side(capsys):
    p = argparse.ArgumentParser()
    bench_model.add_arguments(p)
    args = p.parse_args(["--models", "tsn_r18_tiny", "tsm_r18_tiny", "--frames", "4", "--size", "32",
                         "--kwargs", "base_width=8", "--repeats", "2", "--warmup", "1", "--channels-last"])
    assert bench_model.run(args) == 0
    out = capsys.readouterr().out
    assert out.count("tsm_r18_tiny ") >= 2 and "channels_last" in out
    assert "tsm_r18_tiny vs tsn_r18_tiny (eager):" in out and "budget" in out


def test_bench_model_prints_what_a_method_adds_in_macs_and_parameters(capsys):
    """The cost columns the old per-method cost scripts printed: GMACs and parameters beside the baseline's."""
    p = argparse.ArgumentParser()
    bench_model.add_arguments(p)
    args = p.parse_args(["--models", "tsn_r18_tiny", "tsn_atr_r18_tiny", "--frames", "4", "--size", "32",
                         "--repeats", "1", "--warmup", "0"])
    assert bench_model.run(args) == 0
    out = capsys.readouterr().out
    base = count_macs(create_model("tsn_r18_tiny", num_classes=174, num_segments=4), (1, 3, 4, 32, 32))[0]
    atr = create_model("tsn_atr_r18_tiny", num_classes=174, num_segments=4)
    macs, params = count_macs(atr, (1, 3, 4, 32, 32))[0], count_params(atr)[0]
    row = next(line for line in out.splitlines() if line.startswith("tsn_atr_r18_tiny ") and "%" in line)
    assert f"{macs / 1e9:.3f}" in row and f"{params / 1e6:.2f}" in row
    assert f"{100 * (macs / base - 1):+.1f}%" in row


def test_model_table_rows():
    rows = model_table(["tsm_r50", "tsn_r18_tiny"])
    assert [r.model for r in rows] == ["tsm_r50", "tsn_r18_tiny"] and rows[0].error is None
    assert round(rows[0].gmacs, 2) == 32.70 and round(rows[0].params_m, 2) == 23.86
    text = markdown_table(rows, 174)
    assert "| tsm_r50 | 8 x 224 | 32.70 | 23.86 | 33 / 32.88 | 23.87 |" in text
