import pytest
import torch.nn as nn

from actionlab.errors import ModelError
from actionlab.models import registry
from actionlab.models.registry import ModelInfo, create_model, list_models, register_model


def test_register_create_and_list():
    @register_model(ModelInfo(num_frames=4, weights="imagenet"), name="_toy_model_for_tests")
    def _toy(num_classes: int, pretrained=None, **kw):
        m = nn.Linear(3, num_classes)
        m.pretrained_source = pretrained
        return m

    m = create_model("_toy_model_for_tests", num_classes=5, pretrained=True)
    assert m.out_features == 5
    assert m.pretrained_source == "imagenet"  # pretrained=True takes the registered default
    assert create_model("_toy_model_for_tests", num_classes=2).pretrained_source is None
    assert m.model_info.num_frames == 4
    assert "_toy_model_for_tests" in list_models("_toy*")
    del registry._REGISTRY["_toy_model_for_tests"]


def test_unknown_model_suggests_names():
    registry._import_all()
    with pytest.raises(ModelError, match="unknown model 'no_such_model'"):
        create_model("no_such_model", num_classes=3)
