"""The training-strategy interface, exercised through the real loop with a toy two-phase strategy."""

import pytest
import torch

from actionlab.engine.build import build_strategy
from actionlab.engine.trainer import train
from actionlab.errors import ConfigError
from actionlab.strategy import StepContext, TrainStrategy, backward_and_step, frozen, register_strategy, unwrap
from tests._engine_toys import PooledLinear, ToyVideos, tiny_tsn, toy_config

pytestmark = pytest.mark.usefixtures("one_thread")


@register_strategy("_toy_two_phase")
class ToyTwoPhase(TrainStrategy):
    """Phase 1 updates the classifier with the backbone frozen, phase 2 the backbone with the classifier
    frozen: two optimizers over disjoint parameter sets, each stepping once per batch (TFE's shape)."""

    ddp_find_unused_parameters = True

    def __init__(self, head_lr: float = 0.1):
        self.head_lr = head_lr
        self.calls: list[str] = []
        self.grads_seen: list[tuple[bool, bool]] = []
        self.after_steps = 0
        self.optimizer_steps = {"head": 0, "backbone": 0}

    def build_optimizers(self, model, make_optimizer):
        m = unwrap(model)
        optimizers = {"head": make_optimizer(m.fc, lr=self.head_lr), "backbone": make_optimizer(m.backbone)}
        for name, opt in optimizers.items():  # count real optimizer steps
            opt.register_step_post_hook(lambda *a, name=name: self.optimizer_steps.__setitem__(
                name, self.optimizer_steps[name] + 1))
        return optimizers

    def train_step(self, ctx: StepContext, clip, target):
        m = unwrap(ctx.model)
        with frozen(m.backbone), ctx.autocast():
            head_loss = m.loss(ctx.model(clip), target)["loss"]
        backward_and_step(ctx, head_loss, ["head"])
        self.grads_seen.append((m.fc.weight.grad is None, all(p.grad is None for p in m.backbone.parameters())))
        with frozen(m.fc), ctx.autocast():
            body_loss = m.loss(ctx.model(clip), target)["loss"]
        backward_and_step(ctx, body_loss, ["backbone"])
        self.calls.append("step")
        return {"head": head_loss.item(), "body": body_loss.item()}

    def after_optimizer_step(self, model):
        self.after_steps += 1

    def state_dict(self):
        return {"after_steps": self.after_steps}

    def load_state_dict(self, state):
        self.after_steps = state.get("after_steps", 0)


def test_two_phase_strategy_steps_each_optimizer_once_per_batch(tmp_path, monkeypatch):
    made = {}
    real_build = build_strategy

    def spy(name, **kwargs):
        made["s"] = real_build(name, **kwargs)
        return made["s"]

    monkeypatch.setattr("actionlab.engine.trainer.build_strategy", spy)
    cfg = toy_config(tmp_path, "train.strategy=_toy_two_phase", "train.strategy_kwargs={head_lr: 0.2}",
                     "train.epochs=1")
    torch.manual_seed(0)
    model = tiny_tsn(dropout=0.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(cfg, model=model, train_set=ToyVideos(12), run_dir=tmp_path / "run")
    strategy = made["s"]
    assert len(strategy.calls) == 3 and strategy.after_steps == 3  # 12 videos / batch 4
    assert strategy.optimizer_steps == {"head": 3, "backbone": 3}
    # after phase 1 the head's grads were zeroed by its step and the frozen backbone had none
    assert strategy.grads_seen == [(True, True)] * 3
    ckpt = torch.load(result.last_checkpoint, weights_only=True)
    assert set(ckpt["optimizers"]) == {"head", "backbone"}
    head_lrs = [g["lr"] for g in ckpt["optimizers"]["head"]["param_groups"] if g["name"] == "decay"]
    assert head_lrs == [pytest.approx(0.2)]  # the strategy's lr override reached the optimizer
    assert ckpt["strategy"] == {"after_steps": 3}
    after = model.state_dict()
    assert not torch.equal(before["fc.weight"], after["fc.weight"])
    assert not torch.equal(before["backbone.conv1.weight"], after["backbone.conv1.weight"])


def test_gradient_accumulation_equals_the_bigger_batch(tmp_path):
    """2 micro-batches of 2 with accumulate=2 give the same update as one batch of 4 (no BN, no dropout)."""
    results = []
    for batch, acc in ((4, 1), (2, 2)):
        torch.manual_seed(0)
        model = PooledLinear()
        cfg = toy_config(tmp_path, f"data.batch_size={batch}", f"train.accumulate={acc}", "train.epochs=1",
                         "optim.weight_decay=0")
        train(cfg, model=model, train_set=ToyVideos(8), run_dir=tmp_path / f"b{batch}")
        results.append(model.fc.weight.detach().clone())
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_gradient_clipping_bounds_the_update():
    model = torch.nn.Linear(4, 1, bias=False)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    ctx = StepContext(model, {"main": opt}, clip_grad=0.5)
    before = model.weight.detach().clone()
    backward_and_step(ctx, (model(torch.full((1, 4), 100.0)) ** 2).sum(), ["main"])
    assert (model.weight.detach() - before).norm().item() == pytest.approx(0.5, rel=1e-4)


def test_unknown_strategy_and_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="unknown train.strategy 'nope'"):
        build_strategy("nope")
    with pytest.raises(ConfigError, match="takes no options"):
        build_strategy("standard", lr=1)
