import math

import pytest
import torch

from actionlab.config import OptimConfig
from actionlab.engine.optim import Schedule, build_optimizer, lr_at, scaled_lr
from tests._engine_toys import tiny_tsn


def test_step_schedule_tefe_milestones():
    cfg = OptimConfig(lr=0.001, schedule="step", milestones=[30, 40, 45])
    lr = lambda epoch: lr_at(cfg, 0.001, epoch * 10, steps_per_epoch=10, total_epochs=50)
    assert lr(0) == pytest.approx(1e-3) and lr(29) == pytest.approx(1e-3)
    assert lr(30) == pytest.approx(1e-4) and lr(39) == pytest.approx(1e-4)
    assert lr(40) == pytest.approx(1e-5) and lr(45) == pytest.approx(1e-6) and lr(49) == pytest.approx(1e-6)
    # the decay happens at the epoch boundary, not before
    assert lr_at(cfg, 0.001, 30 * 10 - 1, 10, 50) == pytest.approx(1e-3)


def test_step_schedule_every_n_epochs_art():
    cfg = OptimConfig(lr=0.01, schedule="step", step_size=20)
    assert [lr_at(cfg, 0.01, e * 5, 5, 60) for e in (0, 19, 20, 40)] == pytest.approx([0.01, 0.01, 1e-3, 1e-4])


def test_cosine_with_linear_warmup_tfe():
    cfg = OptimConfig(name="adamw", lr=5e-5, schedule="cosine", warmup_epochs=5, weight_decay=0.2)
    spe, epochs = 4, 100
    lrs = [lr_at(cfg, 5e-5, s, spe, epochs) for s in range(spe * epochs)]
    warm = spe * 5
    assert lrs[0] == pytest.approx(5e-5 / warm)
    assert lrs[warm - 1] == pytest.approx(5e-5)  # warm-up reaches the base lr
    assert all(a < b for a, b in zip(lrs[: warm - 1], lrs[1:warm]))  # linear rise
    assert all(a >= b for a, b in zip(lrs[warm:], lrs[warm + 1 :]))  # then monotone decay
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)  # to min_lr at the last step
    mid = warm + (len(lrs) - 1 - warm) // 2
    assert lrs[mid] == pytest.approx(5e-5 * 0.5 * (1 + math.cos(math.pi * (mid - warm) / (len(lrs) - 1 - warm))))


def test_param_groups_and_lr_mult_follow_the_schedule():
    cfg = OptimConfig(lr=0.1, weight_decay=5e-4, bias_lr_mult=2.0, schedule="step", milestones=[1])
    model = tiny_tsn()
    opt = build_optimizer(model, cfg)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["norm"]["weight_decay"] == 0.0  # no decay on BN
    assert groups["decay"]["weight_decay"] == 5e-4
    assert groups["bias"]["lr"] == pytest.approx(0.2)  # fc bias at lr x 2
    bn = model.backbone.bn1.weight
    assert any(p is bn for p in groups["norm"]["params"])
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    sched = Schedule(opt, cfg, steps_per_epoch=2, total_epochs=3)
    sched.step(), sched.step()  # into epoch 1: /10
    assert {g["name"]: g["lr"] for g in opt.param_groups} == pytest.approx({"decay": 0.01, "norm": 0.01,
                                                                            "bias": 0.02})
    state = sched.state_dict()
    opt2 = build_optimizer(model, cfg)
    sched2 = Schedule(opt2, cfg, steps_per_epoch=2, total_epochs=3)
    sched2.load_state_dict(state)
    assert sched2.get_last_lr() == pytest.approx(sched.get_last_lr())


def test_adamw_and_lr_override():
    cfg = OptimConfig(name="adamw", lr=5e-5, betas=[0.9, 0.98], weight_decay=0.2)
    opt = build_optimizer(torch.nn.Linear(3, 2), cfg, lr=1e-3)
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3) and opt.param_groups[0]["betas"] == (0.9, 0.98)


def test_linear_lr_scaling():
    cfg = OptimConfig(lr=0.01, scale_lr_with_batch=True, base_batch_size=64)
    assert scaled_lr(cfg, 128) == pytest.approx(0.02)
    cfg.scale_lr_with_batch = False
    assert scaled_lr(cfg, 128) == pytest.approx(0.01)


def test_lr_mult_by_name_gives_the_new_head_the_release_recipe():
    """`optim.lr_mult: {fc: 5}` with bias_lr_mult 2: fc.weight at 5x, fc.bias at 10x (the TSM release's
    lr5_weight / lr10_bias), everything else unchanged; the ratio survives the step decay."""
    from actionlab.engine.optim import describe_lr_groups

    model = tiny_tsn()
    cfg = OptimConfig(lr=0.01, bias_lr_mult=2.0, no_bias_decay=True, lr_mult={"fc": 5.0}, milestones=[1])
    opt = build_optimizer(model, cfg)
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    decay_of = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert lr_of[id(model.fc.weight)] == pytest.approx(5 * 0.01)
    assert lr_of[id(model.fc.bias)] == pytest.approx(10 * 0.01)
    assert decay_of[id(model.fc.bias)] == 0.0 and decay_of[id(model.fc.weight)] == cfg.weight_decay
    others = {round(lr_of[id(p)], 9) for n, p in model.named_parameters() if not n.startswith("fc.")}
    assert others == {0.01}  # the backbone (no conv biases) at the base lr: unchanged
    sched = Schedule(opt, cfg, steps_per_epoch=2, total_epochs=3)
    for _ in range(2):
        sched.step()  # into epoch 1: /10
    lr_now = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert lr_now[id(model.fc.bias)] == pytest.approx(10 * 0.001)
    (line,) = describe_lr_groups({"main": opt}, cfg)
    assert "optim.lr_mult fc: x5" in line and "fc.bias 0.1 (1 tensors)" in line and "fc.decay 0.05" in line


def test_lr_mult_globs_and_unknown_keys():
    from actionlab.engine.optim import describe_lr_groups
    from actionlab.errors import ConfigError

    model = tiny_tsn()
    cfg = OptimConfig(lr=0.1, lr_mult={"backbone.layer4.*.weight": 0.5})
    opt = build_optimizer(model, cfg)
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        if name.startswith("backbone.layer4.") and name.endswith(".weight") and "bn" not in name:
            assert lr_of[id(p)] == pytest.approx(0.05), name
    assert lr_of[id(model.fc.weight)] == pytest.approx(0.1)
    typo = OptimConfig(lr=0.1, lr_mult={"new_fc": 5.0})
    with pytest.raises(ConfigError, match="'new_fc' names no trainable parameter"):
        describe_lr_groups({"main": build_optimizer(model, typo)}, typo)


def test_lr_mult_values_are_range_checked():
    from actionlab.config import load_config
    from actionlab.errors import ConfigError

    with pytest.raises(ConfigError, match="optim.lr_mult' must hold values >= 0"):
        load_config(None, ["optim.lr_mult.fc=-1"])
    assert load_config(None, ["optim.lr_mult.fc=5"]).optim.lr_mult == {"fc": 5}
