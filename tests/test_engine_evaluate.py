import pytest
import torch

from actionlab.engine.evaluate import evaluate, video_scores
from actionlab.engine.loader import eval_loader
from tests._engine_toys import ToyVideos, tiny_tsn

pytestmark = pytest.mark.usefixtures("one_thread")


def _model():
    torch.manual_seed(0)
    return tiny_tsn(num_classes=5).eval()


def test_views_per_forward_cap_does_not_change_scores():
    model = _model()
    clip = torch.randn(3, 6, 3, 4, 32, 32)  # 3 videos x 6 views
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    with torch.no_grad():
        capped = video_scores(model, clip, max_views_per_forward=4)
        assert calls == [4, 4, 4, 4, 2]  # 18 views, at most 4 per forward
        whole = video_scores(model, clip, max_views_per_forward=18)
    torch.testing.assert_close(capped, whole)


def test_probability_and_logit_averaging():
    model = _model()
    clip = torch.randn(2, 3, 3, 4, 32, 32)
    with torch.no_grad():
        logits = model(clip.flatten(0, 1)).logits.view(2, 3, -1)
        prob = video_scores(model, clip, average="prob")
        logit = video_scores(model, clip, average="logit")
        multi = video_scores(model, clip, average="prob", multi_label=True)
    torch.testing.assert_close(prob, logits.softmax(-1).mean(1))
    torch.testing.assert_close(logit, logits.mean(1))
    torch.testing.assert_close(multi, logits.sigmoid().mean(1))


def test_evaluate_scores_every_video_once_in_index_order():
    model = _model()
    data = ToyVideos(7, num_classes=5, views=2, train=False)
    result = evaluate(model, eval_loader(data, batch_size=3, num_workers=0), torch.device("cpu"), (0.4,) * 3,
                      (0.2,) * 3, max_views_per_forward=3)
    assert result.indices.tolist() == list(range(7)) and result.scores.shape == (7, 5)
    assert result.labels.tolist() == data.labels.tolist()
    assert set(result.metrics) == {"top1", "top5", "mean_class_accuracy", "mAP"}
    torch.testing.assert_close(result.scores.sum(1), torch.ones(7))  # averaged probabilities


class _Peaked(torch.nn.Module):
    """Regions and actionness peaked at the top-left cell of a 4x4 grid; ATR's two blocks at 4x4 and 1x1."""

    num_classes = 3
    eval_metrics = ("pointing_game", "actionness_in_box")

    def forward(self, clip):
        from actionlab.models.recognizer import Output

        n, t = clip.shape[0], clip.shape[2]
        act = torch.full((n, t, 1, 4, 4), -10.0)
        act[..., 0, 0] = 10.0
        blocks = {"layer2.0": act, "layer4.1": torch.zeros(n, t, 1, 1, 1)}
        regions = act.softmax(-1).expand(n, t, 2, 4, 4)
        return Output(torch.zeros(n, 3), {"regions": regions, "actionness": blocks["layer4.1"],
                                          "actionness_per_block": blocks})


class _Loader:
    def __init__(self, batches):
        self.batches, self.dataset = batches, [None] * sum(len(b["index"]) for b in batches)

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


def test_evaluate_reports_pointing_and_actionness_where_the_data_have_boxes():
    """The box covers the top-left cell of 32 px clips (8 px cells): the peaked maps hit it every frame. Actionness
    is read from the largest map (4x4), not the last block's 1x1 one, where every map scores its chance."""
    t, v = 4, 2
    boxes = torch.tensor([0.0, 0.0, 8.0, 8.0]).expand(2, v, t, 4).clone()
    batch = {"clip": torch.zeros(2, v, 3, t, 32, 32, dtype=torch.uint8), "label": torch.tensor([0, 1]),
             "index": torch.tensor([0, 1]), "boxes": boxes}
    result = evaluate(_Peaked(), _Loader([batch]), torch.device("cpu"), (0.5,) * 3, (0.2,) * 3)
    m = result.metrics
    assert m["pointing_any"] == pytest.approx(1.0) and m["pointing_chance"] == pytest.approx(1 - (15 / 16) ** 2)
    assert m["pointing_too_small"] == 0.0
    assert m["actionness_in_box"] > 0.99 and m["actionness_in_box_chance"] == pytest.approx(1 / 16)
    assert m["actionness_grid"] == 4 and m["actionness_too_small"] == 0.0
    # every ATR block on its own, and the stricter centre criterion of the pointing game
    assert m["actionness_in_box[layer2.0]"] > 0.99 and m["actionness_in_box_chance[layer2.0]"] == pytest.approx(1 / 16)
    assert m["actionness_in_box[layer4.1]"] == pytest.approx(1 / 16) == m["actionness_in_box_chance[layer4.1]"]
    assert m["pointing_centre_any"] == pytest.approx(1.0)
    assert m["pointing_centre_chance"] == pytest.approx(1 - (15 / 16) ** 2)
    from actionlab.localisation import localisation_notes

    assert not any("too small" in line for line in localisation_notes(m))


def test_the_test_report_names_maps_too_small_to_mean_anything():
    from actionlab.localisation import localisation_notes

    lines = localisation_notes({"pointing_any": 1.0, "pointing_chance": 1.0, "pointing_grid": 1.0,
                                "pointing_too_small": 1.0, "actionness_in_box": 0.3, "actionness_in_box_chance": 0.3,
                                "actionness_grid": 1.0, "actionness_too_small": 1.0})
    assert len(lines) == 2 and all("too small to mean anything" in line for line in lines)


def test_within_pair_accuracy_from_the_pairs_the_data_declare(tmp_path):
    import json

    from actionlab.engine.evaluate import EvalResult
    from actionlab.engine.tester import pair_metrics
    from actionlab.errors import DataError
    from actionlab.metrics import read_class_pairs

    names = ["left", "right", "up", "down"]
    scores = torch.tensor([[0.9, 0.1, 0, 0], [0.8, 0.2, 0, 0], [0, 0, 0.4, 0.6], [0, 0, 0.3, 0.7]])
    result = EvalResult(scores, torch.tensor([0, 1, 2, 3]), torch.arange(4))
    cfg = type("C", (), {"data": type("D", (), {"root": str(tmp_path)})()})()
    assert pair_metrics(cfg, result, names) == {}  # no pairs declared
    (tmp_path / "pairs.txt").write_text("left right\nup down\n")
    assert pair_metrics(cfg, result, names) == {"within_pair": 0.5, "pairs": 2.0}
    (tmp_path / "data.yaml").write_text("pairs: [[left, right]]\n")
    assert read_class_pairs(tmp_path, names) == [(0, 1)]  # data.yaml before pairs.txt
    (tmp_path / "annotations.json").write_text(json.dumps({"pairs": [["up", "sideways"]]}))
    with pytest.raises(DataError, match="annotations.json: pair 1 names 'sideways'"):
        read_class_pairs(tmp_path, names)
