"""`evaluate` (and so `actionlab test`) reports temporal fidelity when the data annotate action frames."""

import torch
from torch.utils.data import DataLoader

from actionlab.engine.evaluate import evaluate
from actionlab.fidelity import temporal_fidelity
from actionlab.models.registry import create_model
from tests._engine_toys import ToyVideos


class AnnotatedToyVideos(ToyVideos):
    """ToyVideos with an action mask: the action lies on the first half of each clip's frames."""

    def __getitem__(self, i):
        item = super().__getitem__(i)
        views, frames = item["clip"].shape[0], item["clip"].shape[2]
        mask = torch.zeros(views, frames, dtype=torch.bool)
        mask[:, : frames // 2] = True
        item["action_mask"] = mask
        return item


def test_evaluate_reports_fidelity_of_the_attention_extras(one_thread):
    torch.manual_seed(0)
    model = create_model("vanilla_temporal_tiny", num_classes=4, num_segments=4).eval()
    data = AnnotatedToyVideos(n=6, frames=4, size=32, views=2, train=False)
    loader = DataLoader(data, batch_size=4)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    result = evaluate(model, loader, torch.device("cpu"), mean, std, max_views_per_forward=3)

    # The same numbers computed directly from the model's attention on every view.
    clips = torch.stack([data[i]["clip"] for i in range(len(data))]).flatten(0, 1).float() / 255
    clips = (clips - torch.tensor(mean).view(1, 3, 1, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1, 1)
    with torch.no_grad():
        attention = model(clips).extras["attention"]
    masks = torch.stack([data[i]["action_mask"] for i in range(len(data))]).flatten(0, 1)
    expected = temporal_fidelity(attention, masks)
    assert expected["fidelity_clips"] == 12
    for key in ("fidelity_mass", "fidelity_auc", "fidelity_chance", "fidelity_clips"):
        assert abs(result.metrics[key] - expected[key]) < 1e-5, key


def test_no_fidelity_without_annotations(one_thread):
    model = create_model("vanilla_temporal_tiny", num_classes=4, num_segments=4).eval()
    loader = DataLoader(ToyVideos(n=4, frames=4, size=32, train=False), batch_size=2)
    result = evaluate(model, loader, torch.device("cpu"), (0.5,) * 3, (0.25,) * 3)
    assert not any(k.startswith("fidelity") for k in result.metrics)
