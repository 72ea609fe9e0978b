"""Two CPU processes with gloo: evaluation equals a single-process run exactly; DDP training equals
single-process training with the same total batch on a model without BatchNorm and on a ResNet TSN whose
BatchNorm is frozen (train.partial_bn) - not where BN uses batch statistics, which are per process
unless train.sync_bn (GPUs only; refused on CPU/gloo, tested here)."""

import os
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from actionlab.engine.distributed import EvalSampler, TrainSampler
from actionlab.engine.evaluate import evaluate
from actionlab.engine.loader import eval_loader
from actionlab.engine.trainer import train
from actionlab.errors import ConfigError
from actionlab.models.tsn import TSN
from tests._engine_toys import PooledLinear, ToyVideos, tiny_tsn, toy_config

pytestmark = pytest.mark.usefixtures("one_thread")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _eval_set():
    return ToyVideos(11, views=2, train=False, seed=5)  # 11 videos: does not split evenly over 2 ranks


class FrozenBNTSN(TSN):
    """The tiny ResNet-18 TSN with every BatchNorm frozen by train.partial_bn (TSN's own partial BN keeps the
    first BN learning with per-process batch statistics, so DDP cannot equal one process there)."""

    def frozen_norms(self):
        return [m for m in self.backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def frozen_bn_tsn() -> FrozenBNTSN:
    from actionlab.models.backbones.resnet import ResNet

    torch.manual_seed(3)
    model = FrozenBNTSN(ResNet("resnet18", base_width=8), 4, 4, dropout=0.0, init_std=0.01)
    model.model_name = "toy_frozen_bn_tsn"
    with torch.no_grad():  # non-trivial running statistics, as a pretrained net has
        for m in model.frozen_norms():
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model


BN_RUN = ("train.partial_bn=true", "optim.lr=0.02", "optim.weight_decay=0")


def _worker(rank: int, world: int, port: int, out: str, root_dir: str) -> None:
    sys.path.insert(0, root_dir)  # the repository: the tests package
    import tests._engine_toys as toys

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    from actionlab.engine import distributed

    distributed.init_distributed(use_cuda=False)
    try:
        # exact distributed evaluation
        model = toys.tiny_tsn()
        model.load_state_dict(torch.load(Path(out) / "model.pt", weights_only=True))
        loader = eval_loader(_eval_set(), batch_size=2, num_workers=0, rank=rank, world_size=world)
        result = evaluate(model, loader, torch.device("cpu"), (0.45,) * 3, (0.225,) * 3, max_views_per_forward=3)
        # DDP training: 2 ranks x batch 2 against 1 process x batch 4
        torch.manual_seed(0)
        linear = toys.PooledLinear()
        cfg = toys.toy_config(out, "data.batch_size=2", "train.epochs=2", "optim.weight_decay=0")
        train(cfg, model=linear, train_set=toys.ToyVideos(12), run_dir=Path(out) / "ddp")
        # a real ResNet with BatchNorm, frozen by train.partial_bn
        bn_model = frozen_bn_tsn()
        train(toys.toy_config(out, "data.batch_size=2", *BN_RUN), model=bn_model, train_set=toys.ToyVideos(12),
              run_dir=Path(out) / "ddp_bn")
        # train.sync_bn on CPU / gloo: a clear refusal, not a crash inside torch
        sync_error = ""
        try:
            train(toys.toy_config(out, "data.batch_size=2", "train.sync_bn=true"), model=toys.tiny_tsn(),
                  train_set=toys.ToyVideos(12), run_dir=Path(out) / f"ddp_sync{rank}")
        except ConfigError as e:
            sync_error = str(e)
        torch.save({"scores": result.scores, "indices": result.indices, "metrics": result.metrics,
                    "weight": linear.fc.weight.detach(), "bn_state": bn_model.state_dict(), "sync_error": sync_error},
                   Path(out) / f"rank{rank}.pt")
    finally:
        distributed.cleanup()


def test_two_processes_match_one(tmp_path):
    torch.manual_seed(0)
    model = tiny_tsn()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path), str(Path(__file__).parent.parent)), nprocs=2,
                       join=True, start_method="fork")  # fork: the children need not import torch again

    single = evaluate(model, eval_loader(_eval_set(), batch_size=3, num_workers=0), torch.device("cpu"),
                      (0.45,) * 3, (0.225,) * 3, max_views_per_forward=8)
    torch.manual_seed(0)
    linear = PooledLinear()
    train(toy_config(tmp_path, "data.batch_size=4", "train.epochs=2", "optim.weight_decay=0"), model=linear,
          train_set=ToyVideos(12), run_dir=tmp_path / "single")
    bn_model = frozen_bn_tsn()
    initial = {k: v.clone() for k, v in bn_model.state_dict().items()}
    train(toy_config(tmp_path, "data.batch_size=4", *BN_RUN), model=bn_model, train_set=ToyVideos(12),
          run_dir=tmp_path / "single_bn")
    single_bn = bn_model.state_dict()
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert got["indices"].tolist() == list(range(11))  # every video once, none twice
        torch.testing.assert_close(got["scores"], single.scores)
        assert got["metrics"] == pytest.approx(single.metrics)
        torch.testing.assert_close(got["weight"], linear.fc.weight.detach(), rtol=1e-5, atol=1e-6)
        changed = 0
        for k, v in single_bn.items():  # every tensor of the BN model: weights, and BN statistics left frozen
            torch.testing.assert_close(got["bn_state"][k], v, rtol=1e-4, atol=1e-5, msg=f"{k} differs")
            changed += not torch.equal(v, initial[k])
        assert changed > 20  # the convolutions and the classifier did train
        assert "'train.sync_bn': SyncBatchNorm needs CUDA GPUs (NCCL) and is unavailable on cpu / gloo" \
            in got["sync_error"]
    assert (tmp_path / "ddp/checkpoints/last.pt").is_file() and not (tmp_path / "ddp-2").exists()


def test_samplers_shard_without_loss():
    shards = [list(EvalSampler(11, r, 3)) for r in range(3)]
    assert sorted(i for s in shards for i in s) == list(range(11))
    train_shards = []
    for r in range(3):
        s = TrainSampler(11, r, 3, seed=4)
        s.set_epoch(2)
        train_shards.append(list(s))
    assert len({len(s) for s in train_shards}) == 1  # padded to equal length (DDP steps in lockstep)
    assert set(i for s in train_shards for i in s) == set(range(11))
    s = TrainSampler(11, 1, 3, seed=4)
    s.set_epoch(2, start=2)
    assert list(s) == train_shards[1][2:] and len(s) == len(train_shards[1]) - 2
    s.set_epoch(3)
    assert list(s) != train_shards[1]  # a new shuffle each epoch
