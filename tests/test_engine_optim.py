import math

import pytest
import torch

from _engine_toys import tiny_tsn
from actionlab.config import OptimConfig
from actionlab.engine.optim import Schedule, build_optimizer, lr_at, scaled_lr


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
