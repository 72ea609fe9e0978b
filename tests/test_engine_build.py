"""Model building: class names reach builders that name them (ART's text bank), and only those."""

import pytest
import torch

from actionlab.config import load_config
from actionlab.engine.build import build_model, load_for_inference
from actionlab.engine.checkpoint import FORMAT, save_checkpoint
from actionlab.engine.trainer import train
from actionlab.models.recognizer import Output, Recognizer
from actionlab.models.registry import ModelInfo, list_models, register_model
from tests._engine_toys import ToyVideos, toy_config

pytestmark = pytest.mark.usefixtures("one_thread")
ART = ["model.name=art_r18_tiny", "model.kwargs={base_width: 8}", "data.num_segments=4"]


class _NamedClasses(Recognizer):
    """The smallest recognizer whose builder takes `class_names` (as ART's do)."""

    def __init__(self, num_classes: int, class_names):
        super().__init__()
        self.num_classes, self.class_names = num_classes, class_names
        self.fc = torch.nn.Linear(3, num_classes)

    def forward(self, clip):
        return Output(self.fc(clip.mean((2, 3, 4))))


BUILT_WITH: list = []  # the class names each build of engine_test_named_classes got

if "engine_test_named_classes" not in list_models():
    @register_model(ModelInfo(num_frames=4, input_size=32), name="engine_test_named_classes")
    def _named_classes(num_classes: int, pretrained=None, num_segments: int = 4, class_names=None):
        BUILT_WITH.append(class_names)
        return _NamedClasses(num_classes, class_names)


def test_art_builder_gets_the_given_class_names_unless_model_kwargs_sets_them():
    model = build_model(load_config(None, ART), 2, class_names=["move_right", "move_left"])
    assert model.class_names == ["move_right", "move_left"]
    kept = build_model(load_config(None, ART[:1] + ["model.kwargs={base_width: 8, class_names: [a, b]}"]), 2,
                       class_names=["move_right", "move_left"])
    assert kept.class_names == ["a", "b"]


def test_builders_with_only_var_kwargs_do_not_get_class_names():
    # tsn builders forward **kwargs to TSN/ResNet, which reject class_names; TEFE's raise on unknown keys
    for name in ("tsn_r18_tiny", "tefe_r18_tiny"):
        cfg = load_config(None, [f"model.name={name}", "model.kwargs={base_width: 8}", "data.num_segments=4"])
        assert build_model(cfg, 2, class_names=["a", "b"]).num_classes == 2


def test_inference_builds_art_with_the_checkpoints_class_names(tmp_path):
    cfg = load_config(None, ART)
    model = build_model(cfg, 2)
    assert model.class_names is None
    path = save_checkpoint({"format": FORMAT, "model_name": "art_r18_tiny", "num_classes": 2,
                            "class_names": ["move_right", "move_left"], "config": cfg.to_dict(),
                            "model": model.state_dict()}, tmp_path / "art.pt")
    loaded = load_for_inference(path)
    assert loaded.model.class_names == ["move_right", "move_left"] == loaded.class_names


def test_training_builds_the_model_with_the_datasets_class_names(tmp_path):
    cfg = toy_config(tmp_path, "model.name=engine_test_named_classes", "train.epochs=1", "train.eval_every=0")
    BUILT_WITH.clear()
    result = train(cfg, train_set=ToyVideos(4))
    assert BUILT_WITH == [ToyVideos().class_names]
    ckpt = torch.load(result.run_dir / "checkpoints/last.pt", weights_only=True)
    assert ckpt["class_names"] == ToyVideos().class_names
    assert load_for_inference(result.run_dir / "checkpoints/last.pt").model.class_names == ToyVideos().class_names
