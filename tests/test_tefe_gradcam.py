"""Grad-CAM on the middle frame (TEFE's Fig. 11) for CNN recognizers."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from actionlab import create_model
from actionlab.errors import ModelError
from actionlab.explain.gradcam import compute_gradcam, render, render_comparison
from actionlab.models.tsn import TSN


class _LinearBackbone(nn.Module):
    """A 1x1 conv as the whole backbone: Grad-CAM then has a closed form."""

    def __init__(self, channels: int = 6):
        super().__init__()
        self.proj = nn.Conv2d(3, channels, 1)
        self.num_features = channels

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def test_gradcam_matches_its_closed_form():
    """TSN with avg consensus: y_c = mean_t mean_hw (W_c . A_t) + b, so alpha = W_c / (T h w) for every frame
    and CAM_t = ReLU(W_c . A_t) / (T h w)."""
    torch.manual_seed(0)
    model = TSN(_LinearBackbone(), num_classes=4, num_segments=3, dropout=0.0)
    nn.init.normal_(model.fc.weight)
    clip = torch.randn(1, 3, 3, 8, 10)
    cam = compute_gradcam(model, clip, class_index=2)  # no layer4: uses the "feature_maps" extra
    a = model.backbone.proj(clip[0].transpose(0, 1))  # [T, D, h, w]
    expected = torch.relu(torch.einsum("d,tdhw->thw", model.fc.weight[2], a)) / (3 * 8 * 10)
    torch.testing.assert_close(cam.maps, expected.detach(), rtol=1e-4, atol=1e-6)
    assert cam.class_index == 2 and cam.num_frames == 3
    with torch.no_grad():
        assert cam.probability == pytest.approx(float(model(clip).logits.softmax(-1)[0, 2]), rel=1e-5)
    assert compute_gradcam(model, clip).class_index == int(model(clip).logits.argmax())


def test_gradcam_localises_the_evidence():
    """A class that responds to red: its map peaks where the middle frame is red."""
    model = TSN(_LinearBackbone(3), num_classes=2, num_segments=4, dropout=0.0)
    with torch.no_grad():
        model.backbone.proj.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        model.backbone.proj.bias.zero_()
        model.fc.weight.copy_(torch.tensor([[1.0, -1.0, -1.0], [-1.0, 1.0, 1.0]]))
    clip = torch.zeros(1, 3, 4, 16, 16)
    clip[0, 0, 2, 2:6, 9:13] = 1.0  # a red square in the middle frame (index T // 2 = 2)
    cam = compute_gradcam(model, clip, class_index=0)
    heat = cam.frame_map(2, (16, 16))
    assert heat.max() == 1.0 and heat[2:6, 9:13].min() > 0.5 and heat[10:, :8].max() < 0.1


def test_resnet_models_hook_the_last_stage_and_render_pngs(tmp_path):
    import matplotlib.image as mpimg

    torch.manual_seed(0)
    model = create_model("tefe_r18_tiny", num_classes=3, num_segments=4, base_width=8)
    clip = torch.randn(1, 3, 4, 32, 32)
    frames = torch.randint(0, 255, (4, 32, 32, 3), dtype=torch.uint8)
    cam = compute_gradcam(model, clip)
    # layer4 is 1x1 and layer3 2x2 at 32 px (a uniform tint): the deepest stage with a 4x4 map is taken
    assert cam.layer == "backbone.layer2" and cam.maps.shape == (4, 4, 4) and (cam.maps >= 0).all()
    assert cam.note == ""
    # Another layer by name: stage 4 keeps a 2x2 map, and says it is too coarse.
    with pytest.warns(UserWarning, match="2x2, under 4x4"):
        assert compute_gradcam(model, clip, target_layer="backbone.layer3").maps.shape == (4, 2, 2)
    assert model.training  # the mode is restored
    paths = render(model, clip, frames, tmp_path / "cam", ["a", "b", "c"], class_index="b", label="a")
    image = mpimg.imread(paths[0])
    assert image.ndim == 3 and image.shape[0] > 100
    paths = render(model, clip, frames, tmp_path / "all", ["a", "b", "c"], frame="all", prefix="x")
    assert [p.name for p in paths] == [f"x_frame{t:02d}.png" for t in (1, 2, 3, 4)]  # numbered as in the titles
    tsn = create_model("tefe_r18_tiny", num_classes=3, num_segments=4, base_width=8, te=(0, 0, 0, 0),
                       fe=(0, 0, 0, 0))
    out = render_comparison({"TSN": tsn, "TEFE": model}, clip, frames, tmp_path / "fig11.png", ["a", "b", "c"])
    assert out.is_file() and mpimg.imread(out).shape[1] > mpimg.imread(paths[0]).shape[1]


def test_gradcam_errors(tmp_path):
    model = create_model("tefe_r18_tiny", num_classes=3, num_segments=2, base_width=4)
    clip = torch.randn(1, 3, 2, 16, 16)
    with pytest.raises(ModelError, match="target_layer"):
        compute_gradcam(model, clip, target_layer="backbone.nope")
    with pytest.raises(ModelError, match="class_index"):
        compute_gradcam(model, clip, class_index=7)
    with pytest.raises(ModelError, match="one clip"):
        compute_gradcam(model, torch.randn(2, 3, 2, 16, 16))
    with pytest.raises(ModelError, match="option"):
        render(model, clip, None, tmp_path, ["a", "b", "c"], colour="red")
    with pytest.raises(ModelError, match="frame"):
        render(model, clip, None, tmp_path, ["a", "b", "c"], frame=5)
    with pytest.raises(ModelError, match=r"frames 1\.\.2"):
        render(model, clip, None, tmp_path, ["a", "b", "c"], frame=0)


def test_gradcam_shows_the_frame_with_the_strongest_map_and_names_the_file_by_it(tmp_path):
    """The large panel is the frame where the map peaks (not the middle one), and its file carries the frame
    number its title shows."""
    from actionlab.explain.gradcam import GradCAM, gradcam_figure

    maps = torch.zeros(8, 4, 4)
    maps[6, 1, 2] = 3.0  # the evidence is on the 7th frame
    maps[1, 0, 0] = 1.0
    cam = GradCAM(maps, 0, 0.9, 8, "backbone.layer2")
    assert cam.strongest_frame() == 6
    fig = gradcam_figure(cam, np.zeros((8, 32, 32, 3), np.uint8), cam.strongest_frame(), "t")
    assert "frame 7/8 (the strongest map)" in [ax.get_title() for ax in fig.axes]
    torch.manual_seed(0)
    model = create_model("tsn_r18_tiny", num_classes=3, num_segments=8, base_width=4)
    clip = torch.randn(1, 3, 8, 32, 32)
    (path,) = render(model, clip, None, tmp_path, ["a", "b", "c"])
    real = compute_gradcam(model, clip)
    assert path.name == f"gradcam_frame{real.strongest_frame() + 1:02d}.png"


def test_gradcam_picks_the_deepest_map_of_at_least_4x4_or_warns():
    torch.manual_seed(0)
    model = create_model("tsn_r18_tiny", num_classes=3, num_segments=2, base_width=4)
    big = compute_gradcam(model, torch.randn(1, 3, 2, 128, 128))  # layer4 is 4x4 at 128 px
    assert (big.layer, tuple(big.maps.shape[1:])) == ("backbone.layer4", (4, 4))
    assert compute_gradcam(model, torch.randn(1, 3, 2, 16, 16)).layer == "backbone.layer1"  # 4x4 after the stem
    with pytest.warns(UserWarning, match=r"largest map \(backbone.layer1\) is 2x2"):
        tiny = compute_gradcam(model, torch.randn(1, 3, 2, 8, 8))
    assert tiny.layer == "backbone.layer1" and "too coarse" in tiny.note


def test_gradcam_figure_has_a_colorbar_and_the_frame_strip():
    from actionlab.explain.gradcam import display_frames, gradcam_figure

    torch.manual_seed(0)
    model = create_model("tsn_r18_tiny", num_classes=3, num_segments=4, base_width=4)
    clip = torch.randn(1, 3, 4, 32, 32)
    cam = compute_gradcam(model, clip)
    images = display_frames(clip)
    fig = gradcam_figure(cam, images, 2, "Grad-CAM: a")
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and bars[0].get_ylim() == (0.0, 1.0)
    assert len(fig.axes) == 2 + 1 + 2 * 4  # frame, its map, colorbar; per frame its map and the plain frame
    strip_maps = [ax for ax in fig.axes if ax.get_title() in {"1", "2", "3", "4"}]
    assert len(strip_maps) == 4 and all(len(ax.images) == 2 for ax in strip_maps)  # the frame + its map
    # the maps share the video's scale: the frame holding the video's maximum reaches 1, the others may not
    peaks = [float(cam.video_map(t, (32, 32)).max()) for t in range(4)]
    top = int(cam.maps.flatten(1).max(1).values.argmax())
    assert peaks[top] == pytest.approx(1.0, abs=1e-3) and min(peaks) < 0.99  # not each frame scaled to itself
