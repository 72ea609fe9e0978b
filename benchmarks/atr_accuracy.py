"""ATR on the built-in benchmark: TSN vs TSN+ATR_sim vs TSN+ATR, TSM vs TSM+ATR, same budget,
and how much actionness falls on the moving object.

    python benchmarks/atr_accuracy.py                        # generates the 'order' data once
    python benchmarks/atr_accuracy.py --set train.epochs=12 --models tsn_r18_tiny,tsn_atr_r18_tiny

Every model is trained with the same config (the demo's, configs/demo.yaml: 8 epochs, SGD
lr 0.05 cosine, batch 16, 8 segments at 56 px; the engine's `train`, fixed seed), the
checkpoint of its last epoch is tested on the test split, and for each test video
every ATR block's actionness map is compared with the per-frame box of the moving
object (`actionlab.models.atr.actionness_box_mass`: the share of the spatial softmax
of M, the weights of Eq. 5, inside the box). A uniform map scores the box's area
fraction, printed as the chance level per stage.
Accuracy columns: top-1 over the 8 classes; "pair" = the predicted class is in the
right time-reversal pair (an order-blind model reaches ~100% pair / ~50% top-1).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import defaultdict
from pathlib import Path

import torch

from actionlab.config import apply_overrides, from_dict, load_config, read_yaml
from actionlab.data import build_dataset
from actionlab.data.synthetic import CLASS_TO_PAIR, generate
from actionlab.engine.build import load_for_inference
from actionlab.engine.runtime import model_mean_std, prepare_clip
from actionlab.engine.trainer import train
from actionlab.localisation import actionness_box_mass, box_area_fraction

MODELS = "tsn_r18_tiny,tsn_atr_sim_r18_tiny,tsn_atr_r18_tiny,tsm_r18_tiny,tsm_atr_r18_tiny"


def ensure_data(root: Path, videos_per_class: int, eval_per_class: int, size: int, frames: int, seed: int) -> Path:
    if not (root / "data.yaml").is_file():
        start = time.perf_counter()
        generate(root, "order", videos_per_class=videos_per_class, eval_per_class=eval_per_class, size=size,
                 frames=frames, seed=seed, workers=2)
        print(f"generated {root} in {time.perf_counter() - start:.0f} s")
    return root / "data.yaml"


@torch.no_grad()
def test_and_box_mass(checkpoint: Path, cfg) -> dict[str, float]:
    loaded = load_for_inference(checkpoint, cfg)
    model, names = loaded.model, loaded.class_names
    mean, std = model_mean_std(model)
    dataset = build_dataset(cfg, "test", views="1x1")
    correct = pair_correct = 0
    mass: dict[int, list[float]] = defaultdict(list)  # stage -> per-frame masses
    chance: list[float] = []
    for i in range(len(dataset)):
        item = dataset[i]
        clip = prepare_clip(item["clip"], torch.device("cpu"), mean, std)  # [1, C, T, H, W]
        out = model(clip)
        pred, label = int(out.logits[0].argmax()), int(item["label"])
        correct += pred == label
        pair_correct += CLASS_TO_PAIR[names[pred]][0] == CLASS_TO_PAIR[names[label]][0]
        boxes = item.get("boxes")
        if boxes is None:
            continue
        for block, maps in out.extras.get("actionness_per_block", {}).items():
            stage = int(block.split(".")[0].removeprefix("layer")) + 1
            m = actionness_box_mass(maps, boxes, tuple(clip.shape[-2:]))
            mass[stage] += [v for v in m.flatten().tolist() if not math.isnan(v)]
        c = box_area_fraction(boxes, (1, 1), tuple(clip.shape[-2:]))
        chance += [v for v in c.flatten().tolist() if not math.isnan(v)]
    n = len(dataset)
    row = {"top1": 100 * correct / n, "pair": 100 * pair_correct / n}
    for stage in sorted(mass):
        row[f"mass_s{stage}"] = sum(mass[stage]) / len(mass[stage])
    if chance:  # exact fractional cell coverage: the uniform map's mass is the box area share at any grid
        row["chance"] = sum(chance) / len(chance)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/demo.yaml", help="the training budget every model gets")
    p.add_argument("--data", default="runs/atr_bench/order", help="benchmark directory (generated if missing)")
    p.add_argument("--work-dir", default="runs/atr_bench")
    p.add_argument("--models", default=MODELS)
    p.add_argument("--seeds", default="0", help="comma-separated training seeds; the table averages them")
    p.add_argument("--videos-per-class", type=int, default=20, help="training videos per class (the demo's 20)")
    p.add_argument("--eval-per-class", type=int, default=25, help="val and test videos per class")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--video-frames", type=int, default=32)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--set", action="append", default=[], help="extra config overrides (dotted.key=value)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data_yaml = ensure_data(Path(args.data), args.videos_per_class, args.eval_per_class, args.size,
                            args.video_frames, 0)
    data_root = load_config(data_yaml).data.root
    base = read_yaml(args.config)  # read once: every model trains with the same values
    common = [f"data.root={data_root}", f"train.work_dir={args.work_dir}", "train.device=cpu", "train.amp='off'",
              "train.eval_every=0", *args.set]
    seeds = [int(x) for x in args.seeds.split(",")]
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    runs: dict[str, list[dict[str, float]]] = defaultdict(list)
    for seed in seeds:
        for name in names:
            overrides = [f"model.name={name}", f"name=atr_bench_{name}_s{seed}", f"train.seed={seed}", *common]
            cfg = from_dict(apply_overrides(base, overrides))
            if seed == seeds[0] and name == names[0]:
                print(f"config: {json.dumps(cfg.to_dict(), default=str)}")
            start = time.perf_counter()
            result = train(cfg)
            row = test_and_box_mass(result.last_checkpoint, cfg)
            row["minutes"] = (time.perf_counter() - start) / 60
            runs[name].append(row)
            print(json.dumps({"model": name, "seed": seed, **row}))
    rows = {name: {k: sum(r[k] for r in rs) / len(rs) for k in rs[0]} for name, rs in runs.items()}
    stages = sorted({int(k[-1]) for r in rows.values() for k in r if k.startswith("mass_s")})
    chance = next((r["chance"] for r in rows.values() if "chance" in r), float("nan"))
    print(f"\nmean over seeds {seeds}; in-box: share of actionness (spatial softmax of M) inside the moving "
          f"object's box, per stage; a uniform map: {chance:.3f}")
    print("| model | top-1 (%) | pair (%) | " + " | ".join(f"in-box S{s}" for s in stages) + " | min/run |")
    print("|" + "---|" * (4 + len(stages)))
    for name, r in rows.items():
        per_seed = "/".join(f"{x['top1']:.1f}" for x in runs[name])
        cells = [f"{r[f'mass_s{s}']:.3f}" if f"mass_s{s}" in r else "-" for s in stages]
        print(f"| {name} | {r['top1']:.1f} ({per_seed}) | {r['pair']:.1f} | " + " | ".join(cells)
              + f" | {r['minutes']:.1f} |")

if __name__ == "__main__":
    main()
