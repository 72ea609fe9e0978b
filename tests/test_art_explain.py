"""ART explain: pointing game, tracklet figure, bank t-SNE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from actionlab.errors import ModelError
from actionlab.explain.tracklets import (
    evaluate_pointing,
    mean_interclass_cosine,
    pca_2d,
    render,
    tsne,
)
from actionlab.localisation import peak_points, pointing_game
from actionlab.models.registry import create_model


def one_hot_maps(cells: list[list[tuple[int, int]]], h: int = 2, w: int = 2) -> torch.Tensor:
    """regions [1, T, K, h, w] whose peak of tracklet k at frame t is cells[t][k] = (row, col)."""
    t, k = len(cells), len(cells[0])
    maps = torch.full((1, t, k, h, w), 0.1)
    for i, row in enumerate(cells):
        for j, (r, c) in enumerate(row):
            maps[0, i, j, r, c] = 1.0
    return maps


def test_peak_points_are_cell_centres_in_clip_pixels():
    maps = one_hot_maps([[(0, 1), (1, 0)]])
    pts = peak_points(maps, (64, 64))
    assert pts[0, 0, 0].tolist() == [48.0, 16.0]  # (x, y) of the top-right cell's centre
    assert pts[0, 0, 1].tolist() == [16.0, 48.0]


def test_pointing_game_by_hand():
    # box = the top-left quarter of a 64 x 64 clip; tracklet 0 points there in 2 of 3 frames, tracklet 1 never
    maps = one_hot_maps([[(0, 0), (1, 1)], [(0, 0), (1, 0)], [(1, 1), (0, 1)]])
    boxes = torch.tensor([[[0.0, 0.0, 31.0, 31.0]] * 3])
    score = pointing_game(maps, boxes, (64, 64))
    assert score.per_tracklet == pytest.approx([2 / 3, 0.0])
    assert score.any_tracklet == pytest.approx(2 / 3)
    assert score.chance == pytest.approx(0.25)  # one of the four cells has its centre in the box
    assert score.frames == 3
    # "any of the K=2 tracklets" is compared with the chance of the same statistic: 1 - (1 - 1/4)^2
    assert score.chance_any == pytest.approx(1 - 0.75**2) and score.grid == (2, 2) and score.too_small
    boxes[0, 0] = float("nan")  # unknown box: the frame does not count
    assert pointing_game(maps, boxes, (64, 64)).per_tracklet == pytest.approx([0.5, 0.0])
    # a small box across the middle holds no cell centre, yet overlaps every cell
    small = torch.tensor([[[20.0, 20.0, 40.0, 40.0]] * 3])
    assert pointing_game(maps, small, (64, 64)).chance == 0.0
    cell = pointing_game(maps, small, (64, 64), criterion="cell")
    assert cell.chance == 1.0 and cell.per_tracklet == [1.0, 1.0]
    corner = torch.tensor([[[0.0, 0.0, 10.0, 10.0]] * 3])
    assert pointing_game(maps, corner, (64, 64), criterion="cell").per_tracklet == pytest.approx([2 / 3, 0.0])
    with pytest.raises(ModelError, match="no frame with a known box"):
        pointing_game(maps, torch.full((1, 3, 4), float("nan")), (64, 64))


def test_evaluate_pointing_runs_the_model_on_contract_batches():
    model = create_model("art_r18_tiny", num_classes=3)
    batch = {"clip": torch.randint(0, 255, (2, 1, 3, 4, 64, 64), dtype=torch.uint8),
             "boxes": torch.tensor([0.0, 0.0, 64.0, 64.0]).expand(2, 1, 4, 4).clone()}
    score = evaluate_pointing(model, [batch, batch], max_batches=1)
    assert score.frames == 8 and score.per_tracklet == [1.0, 1.0]  # a box over the whole frame: always hit
    assert score.chance == 1.0


def test_tsne_separates_clusters_and_pca_is_deterministic():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (4, 20))
    x = np.concatenate([c + rng.normal(0, 0.3, (12, 20)) for c in centres])
    labels = np.repeat(np.arange(4), 12)
    y = tsne(x, perplexity=8, iterations=250)
    d = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).mean() > 0.95  # nearest neighbours stay in their cluster
    assert np.allclose(pca_2d(x), pca_2d(x)) and pca_2d(x).shape == (48, 2)


def test_mean_interclass_cosine():
    same = torch.nn.functional.normalize(torch.ones(2, 3, 4), dim=-1)
    assert mean_interclass_cosine(same) == pytest.approx(1.0)
    eye = torch.eye(3)[None].expand(2, 3, 3)
    assert mean_interclass_cosine(eye) == pytest.approx(0.0)
    assert math.isnan(mean_interclass_cosine(torch.ones(1, 1, 4)))


def test_render_writes_the_tracklet_figure_and_the_bank_tsne(tmp_path):
    pytest.importorskip("matplotlib")
    model = create_model("art_r18_tiny", num_classes=3)
    assert model.explain_kind == "tracklets"
    clip = torch.randn(1, 3, 4, 64, 64)
    frames = torch.randint(0, 255, (4, 64, 64, 3), dtype=torch.uint8)
    paths = render(model, clip, frames, tmp_path, ["a", "b", "c"], boxes=torch.tensor([[0, 0, 20, 20.0]] * 4),
                   tsne_method="pca")
    assert [p.name for p in paths] == ["tracklets.png", "bank_tsne.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert model.training  # render restores the mode it found
    only = render(model, clip, None, tmp_path / "b", None, tsne="false")
    assert [p.name for p in only] == ["tracklets.png"]
    with pytest.raises(ModelError, match="region responses"):
        render(create_model("tea_tiny", num_classes=3), clip, None, tmp_path / "c", None)


def test_render_says_when_the_region_maps_are_too_small(tmp_path, caplog):
    """At 64 px the tiny ResNet's last map is 2x2: explain says the regions cannot mean anything."""
    pytest.importorskip("matplotlib")
    from actionlab.localisation import too_small_note

    model = create_model("art_r18_tiny", num_classes=3)
    with caplog.at_level("WARNING"):
        render(model, torch.randn(1, 3, 4, 64, 64), None, tmp_path, None, tsne="false")
    assert "too small to mean anything" in caplog.text
    assert too_small_note((4, 4)) == "" and "2x2" in too_small_note((2, 2))


def test_tracklet_figure_explains_its_marks_and_bank_tsne_names_classes_in_a_legend():
    """Colour bar, a legend for the '+' peaks and the box, horizontal row labels; the t-SNE names every class
    once in a legend instead of labels printed over the points."""
    pytest.importorskip("matplotlib")
    from actionlab.explain.tracklets import _tracklet_figure, bank_tsne_figure

    t, k = 4, 2
    heat = torch.rand(t, k, 32, 32)
    peaks = torch.full((t, k, 2), 10.0)
    fig = _tracklet_figure(np.zeros((t, 32, 32, 3), np.uint8), heat, peaks, np.array([[0, 0, 20, 20.0]] * t), None,
                           "jet", 0.5, ["tracklet 1\nseeded by\n'a'", "tracklet 2"])
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "response / the tracklet's clip maximum" in labels  # the colour bar
    legend = [text.get_text() for lg in fig.legends for text in lg.get_texts()]
    assert any("peak" in s for s in legend) and any("box" in s for s in legend)
    rows = [txt for ax in fig.axes for txt in ax.texts if txt.get_text().startswith("tracklet")]
    assert len(rows) == k and all(txt.get_rotation() == 0 and txt.get_fontsize() >= 8 for txt in rows)
    model = create_model("art_r18_tiny", num_classes=3)
    fig = bank_tsne_figure(model, ["walk", "run", "jump"], "pca")
    entries = [text.get_text() for ax in fig.axes if ax.get_legend() for text in ax.get_legend().get_texts()]
    assert entries == ["walk", "run", "jump"]
    assert not [txt for ax in fig.axes for txt in ax.texts]  # no class name printed over the points
