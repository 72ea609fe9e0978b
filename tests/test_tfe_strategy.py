"""TFE's two-phase training (Eq. 12): disjoint parameter sets per phase, ablation objectives."""

from __future__ import annotations

import pytest
import torch

from actionlab.engine.build import build_strategy
from actionlab.errors import ConfigError
from actionlab.models.tfe import TFEModel, TFEStrategy, VanillaTemporalModel, build_frame_encoder
from actionlab.strategy import StepContext


def make_model(**kw) -> TFEModel:
    torch.manual_seed(0)
    encoder = build_frame_encoder("resnet18", base_width=8)
    return TFEModel(encoder, num_classes=4, num_segments=4, heads=4, k=[1, 2], **kw)


def sgd(module: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=0.5)


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> set[str]:
    return {n for n, p in module.named_parameters() if not torch.equal(before[n], p.detach())}


def batch():
    torch.manual_seed(3)
    return torch.randn(2, 3, 4, 32, 32), torch.tensor([1, 3])


def test_registered_names_and_parameter_partition():
    assert isinstance(build_strategy("tfe"), TFEStrategy)
    assert isinstance(build_strategy("tfe_two_phase", adversary="flipped"), TFEStrategy)
    model = make_model()
    a = {id(p) for p in model.approximator_modules().parameters()}
    d = {id(p) for p in model.disentangler_modules().parameters()}
    assert a and d and not a & d
    assert a | d == {id(p) for p in model.parameters()}  # every parameter in exactly one set
    opts = TFEStrategy().build_optimizers(model, sgd)
    assert set(opts) == {"approximators", "disentangler"}


@pytest.mark.parametrize("shared_forward", [True, False])
def test_phases_update_disjoint_parameter_sets(shared_forward):
    model = make_model()
    strategy = TFEStrategy(shared_forward=shared_forward)
    ctx = StepContext(model, strategy.build_optimizers(model, sgd))
    clip, target = batch()
    approx = {n for n, _ in model.named_parameters() if n.startswith(("approx_s.", "approx_n."))}
    parts = model.disentangle(clip) if shared_forward else None

    before = snapshot(model)
    logs = strategy.approximator_phase(ctx, clip, target, parts)
    assert changed(before, model) == approx  # phase 1: every approximator parameter, nothing of D
    assert {"cls", "nonsalient", "loss"} <= set(logs)

    before = snapshot(model)
    logs = strategy.disentangler_phase(ctx, clip, target, parts)
    moved = changed(before, model)
    assert not moved & approx  # phase 2: approximators frozen
    for name in ("blocks.0.qkv.weight", "disentangler.heads.0.w_q.weight", "disentangler.heads.1.f_n.fc2.weight",
                 "disentangler.f_ds.fc1.weight", "pos.weight", "encoder.net.conv1.weight"):
        assert name in moved, name  # temporal layer, TD (W_Q through the Gumbel mask), f_N, f_DS, pos, encoder
    assert all(p.requires_grad for p in model.parameters())  # freezing restored
    assert all(p.grad is None for p in model.parameters())  # both optimizers zeroed their sets
    assert logs["adversary"] >= torch.log(torch.tensor(4.0)).item() - 1e-4  # uniform surrogate is bounded


def test_train_step_runs_both_phases_and_encoder_option():
    model = make_model()
    strategy = build_strategy("tfe", train_encoder=False)
    ctx = StepContext(model, strategy.build_optimizers(model, sgd))
    enc0 = snapshot(model.encoder)
    clip, target = batch()
    logs = strategy.train_step(ctx, clip, target)
    assert {"cls", "nonsalient", "adversary", "disentangler"} <= set(logs)
    assert changed(enc0, model.encoder) == set()


@pytest.mark.parametrize("objective", ["eq4", "eq5"])
def test_single_phase_ablations_update_everything(objective):
    model = make_model()
    strategy = TFEStrategy(objective=objective, adversary="negative")
    opts = strategy.build_optimizers(model, sgd)
    assert set(opts) == {"main"}
    before = snapshot(model)
    clip, target = batch()
    logs = strategy.train_step(StepContext(model, opts), clip, target)
    moved = changed(before, model)
    assert "approx_s.fc.weight" in moved and "approx_n.fc.weight" in moved and "pos.weight" in moved
    if objective == "eq5":
        assert abs(logs["loss"] - (logs["cls"] + logs["nonsalient"])) < 1e-4
    else:
        assert abs(logs["loss"] - (logs["cls"] - logs["nonsalient"])) < 1e-4


def test_strategy_errors():
    with pytest.raises(ConfigError):
        TFEStrategy(objective="eq6")
    with pytest.raises(ConfigError):
        TFEStrategy(adversary="maybe")
    vanilla = VanillaTemporalModel(build_frame_encoder("resnet18", base_width=8), 4, 4, num_layers=1, heads=4)
    with pytest.raises(ConfigError):
        TFEStrategy().build_optimizers(vanilla, sgd)


@pytest.mark.parametrize("shared_forward", [True, False])
def test_train_step_order_approximators_first_and_they_never_step_the_disentangler(shared_forward):
    """Eq. 12's order within one batch: the approximator phase steps first, then the disentangler phase, which
    sees the updated approximators.  Each optimizer step is recorded with what it moved: the approximators'
    step never moves a disentangler parameter (nor the encoder), and the disentangler's never moves A_S / A_N."""
    model = make_model()
    strategy = TFEStrategy(shared_forward=shared_forward)
    opts = strategy.build_optimizers(model, sgd)
    approx = {n for n, _ in model.named_parameters() if n.startswith(("approx_s.", "approx_n."))}
    held = {name: {n for n, p in model.named_parameters() for g in opt.param_groups for q in g["params"] if p is q}
            for name, opt in opts.items()}
    assert held["approximators"] == approx and not held["disentangler"] & approx  # what each optimizer may move
    steps: list[tuple[str, set[str], set[str]]] = []
    for name, opt in opts.items():
        def recorded(*args, _name=name, _step=opt.step, **kwargs):
            with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
            before = snapshot(model)
            out = _step(*args, **kwargs)
            steps.append((_name, with_grad, changed(before, model)))
            return out

        opt.step = recorded
    clip, target = batch()
    for _ in range(2):  # two batches: the order holds on every step, not only the first
        strategy.train_step(StepContext(model, opts), clip, target)
    assert [name for name, _, _ in steps] == ["approximators", "disentangler"] * 2
    for name, with_grad, moved in steps:
        if name == "approximators":  # all of A_S, A_N; no gradient reached D or the encoder (none carried over)
            assert moved == approx and with_grad == approx
        else:
            assert moved and not moved & approx and "encoder.net.conv1.weight" in moved
            assert not with_grad & approx  # phase 2 left the approximators frozen
