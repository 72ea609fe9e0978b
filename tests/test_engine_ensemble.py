"""`test.ensemble_checkpoint`: TEFE's 8+16 ensemble, here 4+8 frames, each member on its own clips."""

import pytest
import torch

from actionlab.config import load_config
from actionlab.data.synthetic import generate
from actionlab.engine.build import build_model
from actionlab.engine.checkpoint import FORMAT, save_checkpoint
from actionlab.engine.evaluate import EvalResult
from actionlab.engine.tester import ensemble_results, evaluate_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
CLASSES = ["move_right", "move_left"]


def _config(root, frames: int, *extra: str):
    return load_config(root / "data" / "data.yaml", [
        "name=ens", "model.name=tefe_r18_tiny", "model.kwargs={base_width: 8}", f"data.num_segments={frames}",
        "data.scale_size=32", "data.input_size=32", "data.num_workers=0", "train.device=cpu",
        "test.batch_size=2", "test.views=2x1", f"train.work_dir={root / 'runs'}", *extra])


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """4 generated test videos and two untrained tiny TEFE checkpoints at 4 and 8 frames."""
    root = tmp_path_factory.mktemp("engine_ensemble")
    generate(root / "data", "order", videos_per_class=1, eval_per_class=2, size=32, frames=12, classes=CLASSES)
    paths = {}
    for frames in (4, 8):
        cfg = _config(root, frames)
        torch.manual_seed(frames)
        model = build_model(cfg, 2)
        paths[frames] = save_checkpoint({"format": FORMAT, "model_name": cfg.model.name, "num_classes": 2,
                                         "class_names": CLASSES, "config": cfg.to_dict(),
                                         "model": model.state_dict()}, root / f"tefe_{frames}f.pt")
    return root, paths


@pytest.mark.parametrize("average", ["prob", "logit"])
def test_members_are_scored_on_their_own_clip_lengths_and_averaged(members, average):
    root, paths = members
    alone = {f: evaluate_checkpoint(_config(root, f, f"test.average={average}"), paths[f], write=False).result
             for f in (4, 8)}
    cfg = _config(root, 4, f"test.average={average}", f"test.ensemble_checkpoint={paths[8]}",
                  "train.channels_last=true")
    report = evaluate_checkpoint(cfg, paths[4], out_dir=root / f"out_{average}")
    assert report.info["videos"] == 4 and report.info["ensemble"] == [str(paths[8])]
    assert report.result.indices.tolist() == [0, 1, 2, 3]
    assert not torch.allclose(alone[4].scores, alone[8].scores)
    torch.testing.assert_close(report.result.scores, (alone[4].scores + alone[8].scores) / 2)
    if average == "prob":
        torch.testing.assert_close(report.result.scores.sum(1), torch.ones(4))
    assert (report.out_dir / "metrics.json").is_file()


def test_ensemble_results_match_videos_by_index():
    a = EvalResult(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]), torch.tensor([0, 1, 0]), torch.tensor([0, 1, 2]))
    b = EvalResult(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([0, 0]), torch.tensor([2, 0]))  # 1 skipped
    out = ensemble_results([a, b], total=3)
    assert out.indices.tolist() == [0, 2] and out.labels.tolist() == [0, 0] and out.skipped == 1
    torch.testing.assert_close(out.scores, torch.tensor([[1.0, 0.0], [0.25, 0.75]]))
