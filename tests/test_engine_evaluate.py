import pytest
import torch

from _engine_toys import ToyVideos, one_thread, tiny_tsn  # noqa: F401
from actionlab.engine.evaluate import evaluate, video_scores
from actionlab.engine.loader import eval_loader

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
