import pytest
import torch

from actionlab.metrics import (
    average_precision,
    compute_metrics,
    confusion_matrix,
    mean_average_precision,
    mean_class_accuracy,
    pair_accuracy,
    topk_accuracy,
)


def test_topk_and_mean_class_accuracy_by_hand():
    scores = torch.tensor([[0.9, 0.05, 0.05], [0.2, 0.5, 0.3], [0.5, 0.1, 0.4], [0.3, 0.3, 0.4]])
    labels = torch.tensor([0, 2, 0, 0])
    acc = topk_accuracy(scores, labels, ks=(1, 2, 5))
    assert acc["top1"] == pytest.approx(0.5)  # videos 0 and 2
    assert acc["top2"] == pytest.approx(1.0)
    assert acc["top5"] == pytest.approx(1.0)  # k clipped to the 3 classes
    # class 0: 2 of 3 right, class 2: 0 of 1 -> (2/3 + 0) / 2; class 1 absent is not counted
    assert mean_class_accuracy(scores, labels) == pytest.approx((2 / 3 + 0) / 2)
    cm = confusion_matrix(scores.argmax(1), labels, 3)
    assert cm.tolist() == [[2, 0, 1], [0, 0, 0], [0, 1, 0]]


def test_map_matches_sklearn_and_charades_rule():
    sklearn = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(40, 6, generator=g)
    targets = (torch.rand(40, 6, generator=g) < 0.3).long()
    targets[:, 5] = 0  # a class without positives is left out of the mean
    expected = [sklearn.average_precision_score(targets[:, c].numpy(), scores[:, c].numpy()) for c in range(5)]
    assert mean_average_precision(scores, targets) == pytest.approx(sum(expected) / 5)
    assert average_precision(scores[:, 5], targets[:, 5]) != average_precision(scores[:, 5], targets[:, 5])  # NaN


def test_average_precision_by_hand():
    # ranking: pos, neg, pos -> precisions at positives 1/1 and 2/3
    assert average_precision(torch.tensor([0.9, 0.8, 0.7]), torch.tensor([1, 0, 1])) == pytest.approx((1 + 2 / 3) / 2)


def test_multi_label_hit_at_k():
    scores = torch.tensor([[0.1, 0.8, 0.3], [0.7, 0.2, 0.1]])
    targets = torch.tensor([[0, 0, 1], [1, 1, 0]], dtype=torch.float)
    acc = topk_accuracy(scores, targets, ks=(1, 2))
    assert acc == pytest.approx({"top1": 0.5, "top2": 1.0})
    metrics = compute_metrics(scores, targets)
    assert "mean_class_accuracy" not in metrics and "mAP" in metrics


def test_pair_accuracy_is_within_pair():
    # classes (0,1) and (2,3) are pairs; video 0 (class 0) ranks class 2 first but beats its twin 1
    scores = torch.tensor([[0.3, 0.1, 0.6, 0.0], [0.5, 0.4, 0.0, 0.1], [0.0, 0.0, 0.2, 0.8]])
    labels = torch.tensor([0, 1, 2])
    assert pair_accuracy(scores, labels, [(0, 1), (2, 3)]) == pytest.approx(1 / 3)
    assert topk_accuracy(scores, labels, ks=(1,))["top1"] == pytest.approx(0.0)
