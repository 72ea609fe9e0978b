import pytest
import torch.nn as nn

from actionlab.errors import ModelError
from actionlab.models import registry
from actionlab.models.recognizer import Recognizer
from actionlab.models.registry import ModelInfo, create_model, list_models, register_model


def test_register_create_and_list():
    class Toy(Recognizer):
        def __init__(self, num_classes: int, pretrained):
            super().__init__()
            self.fc = nn.Linear(3, num_classes)
            self.num_classes, self.num_segments, self.pretrained_source = num_classes, 4, pretrained

    @register_model(ModelInfo(num_frames=4, weights="imagenet"), name="_toy_model_for_tests")
    def _toy(num_classes: int, pretrained=None, **kw):
        return Toy(num_classes, pretrained)

    m = create_model("_toy_model_for_tests", num_classes=5, pretrained=True)
    assert m.fc.out_features == 5 and m.model_name == "_toy_model_for_tests"
    assert m.pretrained_source == "imagenet"  # pretrained=True takes the registered default
    assert create_model("_toy_model_for_tests", num_classes=2).pretrained_source is None
    assert m.model_info.num_frames == 4
    assert "_toy_model_for_tests" in list_models("_toy*")
    del registry._REGISTRY["_toy_model_for_tests"]


def test_unknown_model_suggests_names():
    registry._import_all()
    with pytest.raises(ModelError, match="unknown model 'no_such_model'"):
        create_model("no_such_model", num_classes=3)


def test_a_builder_must_return_a_recognizer(monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, "_not_a_recognizer",
                        registry._Entry("_not_a_recognizer", lambda num_classes, pretrained=None: nn.Linear(3, 2),
                                        ModelInfo()))
    with pytest.raises(ModelError, match="returned a Linear, not a Recognizer"):
        create_model("_not_a_recognizer", num_classes=2)
