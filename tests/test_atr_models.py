"""ATR-nets (models/atr.py): insertion into the ResNet slots, extras, box mass, explain overlays."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from actionlab.errors import ConfigError, ModelError
from actionlab.localisation import actionness_box_mass, box_area_fraction, box_cell_coverage
from actionlab.models.atr import ATR_SIM, atr_blocks, enable_actionness_extras, insert_atr
from actionlab.models.backbones.resnet import ResNet
from actionlab.models.temporal.atr import ATRBlock
from actionlab.models.temporal.shift import insert_shift
from actionlab.models.tsn import TSN

T, SIZE = 4, 32


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_tsn(arch: str = "resnet50", shift: bool = False, atr: dict | None = None, **placement) -> TSN:
    torch.manual_seed(0)
    backbone = ResNet(arch, base_width=8)
    if shift:
        insert_shift(backbone, T)
    if atr is not None:
        insert_atr(backbone, T, **placement, **atr)
    model = TSN(backbone, num_classes=5, num_segments=T, dropout=0.0)
    return enable_actionness_extras(model) if atr is not None else model


def clip(n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, T, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def test_default_placement_is_every_block_of_the_last_three_stages():
    backbone = ResNet("resnet50", base_width=8)
    names = insert_atr(backbone, T)
    assert names == [f"layer2.{i}" for i in range(4)] + [f"layer3.{i}" for i in range(6)] + \
        [f"layer4.{i}" for i in range(3)]
    assert isinstance(backbone.layer4[2].before_add, ATRBlock)
    assert backbone.layer4[2].before_add.reasoner.reasoners[0].transform.net.in_features == 64 * 4
    assert isinstance(backbone.layer1[0].before_add, torch.nn.Identity)


def test_placement_by_stage_or_block_name_and_errors():
    backbone = ResNet("resnet18", base_width=8)
    assert insert_atr(backbone, T, stages=(5,)) == ["layer4.0", "layer4.1"]
    assert insert_atr(ResNet("resnet18", base_width=8), T, stages=None, blocks_named=["layer4.1"]) == ["layer4.1"]
    with pytest.raises(ModelError, match="already filled"):
        insert_atr(backbone, T, stages=(5,))
    with pytest.raises(ModelError, match="unknown ATR option"):
        insert_atr(ResNet("resnet18", base_width=8), T, ratio=4)
    with pytest.raises(ModelError, match="not in this backbone"):
        insert_atr(ResNet("resnet18", base_width=8), T, blocks_named=["layer9.0"])
    with pytest.raises(ModelError, match="2..5"):
        insert_atr(ResNet("resnet18", base_width=8), T, stages=(6,))


def test_atr_net_forward_reports_actionness_per_block():
    model = tiny_tsn(atr={})
    out = model(clip())
    per_block = out.extras["actionness_per_block"]
    assert list(per_block) == [name for name, _ in atr_blocks(model)] and len(per_block) == 13
    assert per_block["layer2.0"].shape == (2, T, 1, 4, 4) and per_block["layer4.2"].shape == (2, T, 1, 1, 1)
    assert out.extras["actionness"] is per_block["layer4.2"]
    assert all(block.actionness is None for _, block in atr_blocks(model))  # released after collection
    assert model.explain_kind == "actionness"
    out.logits.sum().backward()
    assert model.backbone.layer3[0].before_add.locator.condense.weight.grad is not None


def test_atr_sim_and_scaling_form_start_as_their_base_network():
    x = clip()
    for shift in (False, True):  # TSN and TSM bases
        base = tiny_tsn(shift=shift).eval()
        for options in (ATR_SIM, {"distribution": "scale"}):
            model = tiny_tsn(shift=shift, atr=options).eval()
            missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
            assert not unexpected and all(".before_add." in k for k in missing)
            with torch.no_grad():
                assert torch.allclose(model(x).logits, base(x).logits, atol=1e-6)
    assert "actionness" not in tiny_tsn(atr=ATR_SIM)(x).extras


def test_adding_form_changes_the_base_network():
    x = clip()
    base = tiny_tsn().eval()
    model = tiny_tsn(atr={}).eval()
    model.load_state_dict(base.state_dict(), strict=False)
    with torch.no_grad():
        assert not torch.allclose(model(x).logits, base(x).logits)


def test_atr_on_tsm_and_basic_blocks_trains():
    for arch, shift in (("resnet50", True), ("resnet18", False)):
        model = tiny_tsn(arch, shift=shift, atr={"reasoner_reduction": 4})
        out = model(clip())
        model.loss(out, torch.tensor([0, 3]))["loss"].backward()
        grads = [p.grad for _, b in atr_blocks(model) for p in b.parameters()]
        assert all(g is not None for g in grads)


def test_deepcopy_keeps_the_extras_of_the_copy():
    model = tiny_tsn(atr={}, stages=(5,))
    twin = copy.deepcopy(model)
    out = twin(clip())
    assert set(out.extras["actionness_per_block"]) == {"layer4.0", "layer4.1", "layer4.2"}


def test_box_coverage_and_mass():
    boxes = torch.tensor([[[0.0, 0.0, 32.0, 32.0], [16.0, 0.0, 48.0, 64.0], [float("nan")] * 4]])  # [1, 3, 4]
    cov = box_cell_coverage(boxes, (2, 2), (64, 64))
    assert torch.equal(cov[0, 0], torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert torch.equal(cov[0, 1], torch.tensor([[0.5, 0.5], [0.5, 0.5]]))
    assert cov[0, 2].isnan().all()
    peaked = torch.full((1, 3, 1, 2, 2), -30.0)
    peaked[..., 0, 0] = 30.0
    mass = actionness_box_mass(peaked, boxes, (64, 64))
    assert mass[0, 0] == pytest.approx(1.0) and mass[0, 1] == pytest.approx(0.5) and math.isnan(mass[0, 2])
    uniform = actionness_box_mass(torch.zeros(1, 3, 1, 2, 2), boxes, (64, 64))
    chance = box_area_fraction(boxes, (2, 2), (64, 64))
    assert torch.allclose(uniform[:, :2], chance[:, :2]) and chance[0, 0] == pytest.approx(0.25)
    with pytest.raises(ModelError):
        actionness_box_mass(peaked, boxes[:, :2], (64, 64))


def test_render_writes_one_overlay_per_block(tmp_path):
    pytest.importorskip("matplotlib")
    from actionlab.explain import actionness

    model = tiny_tsn(atr={}, stages=(5,))
    frames = torch.randint(0, 255, (T, SIZE, SIZE, 3), dtype=torch.uint8)
    boxes = torch.tensor([[4.0, 4.0, 20.0, 20.0]] * T)
    paths = actionness.render(model, clip(1), frames, tmp_path, [f"c{i}" for i in range(5)], boxes=boxes)
    assert [p.name for p in paths] == ["actionness_layer4.2.png"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    paths = actionness.render(model, clip(1), None, tmp_path / "all", None, block="all", value="softmax")
    assert len(paths) == 3 and all(p.stat().st_size > 1000 for p in paths)
    with torch.no_grad():
        extras = model(clip(1)).extras
    mean = actionness.select_maps(extras, "mean", (SIZE, SIZE))["mean"]
    assert mean.shape == (T, SIZE, SIZE) and 0 <= mean.min() and mean.max() <= 1
    with pytest.raises(ModelError, match="block"):
        actionness.render(model, clip(1), frames, tmp_path, None, block="layer1.0")
    with pytest.raises(ConfigError, match="bloc"):
        actionness.render(model, clip(1), frames, tmp_path, None, bloc="all")
    from actionlab.explain import resolve_kind

    assert resolve_kind(model) == "actionness"
    with pytest.raises(ModelError, match="no actionness"):
        actionness.render(tiny_tsn(atr=ATR_SIM), clip(1), frames, tmp_path, None)


@pytest.mark.parametrize("base", ["tsn_r18_tiny", "tsm_r50_tiny", "slowonly_r50_tiny"])
def test_registered_tiny_atr_nets_are_their_base_plus_blocks(base):
    from actionlab.models.registry import create_model

    kind, arch = base.split("_")[:2]
    model = create_model(f"{kind}_atr_{arch}_tiny", num_classes=5, num_segments=T)
    reference = create_model(base, num_classes=5, num_segments=T)
    extra = set(model.state_dict()) - set(reference.state_dict())
    assert set(reference.state_dict()) <= set(model.state_dict()) and all(".before_add." in k for k in extra)
    names = [name for name, _ in atr_blocks(model)]
    assert names[0] == "layer2.0" and names[-1].startswith("layer4.")
    assert type(model.backbone.layer3[0].conv1) is type(reference.backbone.layer3[0].conv1)  # SlowOnly's conv kept
    out = model(torch.randn(2, 3, T, SIZE, SIZE))
    assert out.extras["actionness"].shape[:3] == (2, T, 1)
    model.loss(out, torch.tensor([1, 2]))["loss"].backward()
    assert model.backbone.layer4[0].before_add.norm.weight.grad is not None


def test_registered_variants_and_whole_checkpoints(tmp_path):
    from actionlab.models.registry import create_model, list_models

    for name in ("tsn_atr_r50", "tsm_atr_r50", "slowonly_atr_r50", "tsn_atr_sim_r50", "tsn_atr_graph_r50"):
        assert name in list_models()
    graph = create_model("tsn_atr_graph_r18_tiny", num_classes=5, num_segments=T)
    assert graph.backbone.layer4[0].before_add.reasoner.reasoners[0].__class__.__name__ == "GraphReasoner"
    sim = create_model("tsn_atr_sim_r18_tiny", num_classes=5, num_segments=T, num_reasoners=3)
    block = sim.backbone.layer2[0].before_add
    assert block.locator is None and len(block.reasoner.norms) == 2
    model = create_model("tsn_atr_r18_tiny", num_classes=5, num_segments=T, stages=[5], dropout=0.0).eval()
    path = tmp_path / "atr.pth"
    torch.save({"model": model.state_dict()}, path)
    again = create_model("tsn_atr_r18_tiny", num_classes=5, pretrained=str(path), num_segments=T, stages=[5],
                         dropout=0.0).eval()
    x = torch.randn(1, 3, T, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(again(x).logits, model(x).logits)
    with pytest.raises(ModelError):
        create_model("tsn_atr_r18_tiny", num_classes=5, shift_div=4)  # not an option of the TSN base


def test_recipes_compare_each_atr_net_with_its_own_base():
    from actionlab.models.registry import model_info
    from actionlab.recipes import get_recipe

    for name in ("atr", "atr_sim", "tsm_atr"):
        recipe = get_recipe(name)
        assert model_info(recipe.model).extra["base"] == get_recipe(recipe.baseline).model
        assert recipe.variant == "order" and not recipe.overrides  # the baseline's budget, unchanged


def test_demo_atr_recipe_explains_with_its_deepest_map_of_at_least_4x4(tmp_path):
    """At the demo's 32 px the deepest ATR blocks are 2x2 and 1x1 (a uniform tint); `explain` takes the deepest
    block whose map is >= 4x4, as Grad-CAM picks its layer, and the demo's ATR recipe has one."""
    from actionlab.engine.build import build_model
    from actionlab.engine.experiment import recipe_config
    from actionlab.explain import actionness
    from actionlab.recipes import DEMO_CONFIG, get_recipe

    cfg = recipe_config(get_recipe("atr"), DEMO_CONFIG, tmp_path, tmp_path / "runs")
    model = build_model(cfg, 8, load_pretrained=False).eval()
    size = cfg.data.input_size
    x = torch.randn(1, 3, cfg.data.num_segments, size, size)
    with torch.no_grad():
        per_block = model(x).extras["actionness_per_block"]
    assert min(next(reversed(per_block.values())).shape[-2:]) < 4  # "last" would be meaningless
    chosen = actionness.deepest_readable_block(per_block)
    assert min(per_block[chosen].shape[-2:]) >= 4
    assert all(min(m.shape[-2:]) < 4 for n, m in per_block.items() if list(per_block).index(n) >
               list(per_block).index(chosen))  # nothing deeper is 4x4
    (path,) = actionness.render(model, x, None, tmp_path / "fig", [str(i) for i in range(8)])
    assert path.name == f"actionness_{chosen}.png"
