"""actionlab bench art: ART's parts, ablated one at a time on the 'finegrained' variant, each against its backbone.

    actionlab bench art [--epochs 40] [--seeds 3] [--ablations art,art_gamma1_0,...] [--out DIR]

Every ablation is the `art` recipe (`recipes/art.py`: tiny TSM with output stride 8, a d = 64 head, K = 2,
gamma1 = gamma2 = 5, the MiniLM text bank of the class names) with one change, trained with the same data,
epochs and optimizer as the backbone alone (`art_backbone`), for every seed:

  art                   the paper's form (Eqs. 1-18 as read in `models/heads/art.py`)
  art_gamma1_0          without the MTC loss (gamma1 = 0; its terms are still measured, not optimised)
  art_gamma1_1          gamma1 = 1
  art_random_text       the text bank replaced by fixed random unit vectors (text constraint without meaning)
  art_learned_queries   K learned vectors where the top-K text semantics go (no text in Eqs. 1, 2, 9)
  art_k4                K = 4 tracklets
  art_frozen            the trained `art_backbone` of the same seed, frozen (BN statistics too): only ART's
                        head trains, so its backbone cannot be what costs accuracy
  art_mtc_readout       Eqs. 5-7 measured on MCA(Q, X^) instead of R = MCA(Q, X^) + Q (`mtc_on: readout`)
  art_mtc_via_readout   Eqs. 5-7 on R, their gradient only through MCA(Q, X^) (`mtc_on: responses_via_readout`)

Each ART run also reports its own backbone's prediction (the Eq. 10 classifier on x_cls, `backbone_top1`)
beside its final prediction (Eq. 11, `top1`), and the MTC terms and total loss of its last epoch.  Runs
go through `bench accuracy`'s machinery (`--out` may be a `bench accuracy` directory: its finished
`art_backbone` / `art` runs with the same budget are reused, not rerun).  Comparisons follow the report's
rule: a difference counts only beyond two standard errors over seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# name -> (model kwargs on top of the `art` recipe's, what it tests)
ABLATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "art": ({}, "the paper's form: text queries, K = 2, gamma1 = 5, MTC on R_t"),
    "art_gamma1_0": ({"mtc_weight": 0.0}, "without MTC (gamma1 = 0)"),
    "art_gamma1_1": ({"mtc_weight": 1.0}, "gamma1 = 1"),
    "art_random_text": ({"text_bank": "random"}, "random unit vectors in place of the text bank"),
    "art_learned_queries": ({"query_source": "learned"}, "K learned queries, no text constraint"),
    "art_k4": ({"num_tracklets": 4}, "K = 4 tracklets"),
    "art_frozen": ({"freeze_backbone": True}, "trained backbone (same seed) frozen, only the head trains"),
    "art_mtc_readout": ({"mtc_on": "readout"}, "MTC on MCA(Q, X^), without Eq. 3's + Q"),
    "art_mtc_via_readout": ({"mtc_on": "responses_via_readout"},
                            "MTC on R, its gradient only through MCA(Q, X^) (not the residual + Q)"),
}
BACKBONE = "art_backbone"
MTC_KEYS = ("train_mtc_spatial", "train_mtc_temporal", "train_mtc_tracklet")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ablations", default=",".join(ABLATIONS),
                   help=f"comma-separated ablations (default: all of {', '.join(ABLATIONS)})")
    p.add_argument("--epochs", type=int, default=40, help="training epochs of every run (default 40)")
    p.add_argument("--seeds", type=int, default=3, help="training seeds per ablation (default 3)")
    p.add_argument("--videos-per-class", type=int, default=32, help="training videos per class (default 32)")
    p.add_argument("--eval-per-class", type=int, default=24, help="val and test videos per class (default 24)")
    p.add_argument("--frames", type=int, default=16, help="frames per generated video (default 16)")
    p.add_argument("--eval-every", type=int, default=2, metavar="E",
                   help="validate every E epochs: the training curves (default 2, as bench accuracy)")
    p.add_argument("--jobs", type=int, default=None, help="models trained at once (default: CPU cores, at most 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per model (default 1: the results then "
                   "do not depend on the machine's cores)")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default runs/bench-art-<time>); "
                   "a `bench accuracy` directory reuses its finished art_backbone / art runs")


def ablation_recipes(names: list[str], seed: int, runs_dir: Path) -> list[Any]:
    """The backbone recipe and one `art` recipe per ablation; `art_frozen` loads this seed's trained backbone."""
    from dataclasses import replace

    from ..recipes import get_recipe

    unknown = [n for n in names if n not in ABLATIONS]
    if unknown:
        raise ConfigError(f"unknown ablation(s) {', '.join(unknown)}; known: {', '.join(ABLATIONS)}")
    art = get_recipe("art")
    out = [get_recipe(BACKBONE)]
    for name in names:
        kwargs, what = ABLATIONS[name]
        overrides = dict(art.overrides)
        if kwargs.get("freeze_backbone"):
            overrides["model.pretrained"] = str(backbone_checkpoint(runs_dir, seed))
        out.append(replace(art, name=name, model_kwargs={**art.model_kwargs, **kwargs}, overrides=overrides,
                           description=what))
    return out


def backbone_checkpoint(runs_dir: Path, seed: int) -> Path:
    return runs_dir / f"{BACKBONE}-finegrained-s{seed}" / "checkpoints" / "last.pt"


def last_epoch(run_dir: str | Path) -> dict[str, Any]:
    """The last line of a run's metrics.jsonl ({} when there is none)."""
    from ..report import training_history

    history = training_history(run_dir)
    return history[-1] if history else {}


def run(args: argparse.Namespace) -> int:
    from ..engine.experiment import recipe_config
    from ..recipes import DEMO_CONFIG
    from . import accuracy

    names = [n.strip() for n in args.ablations.split(",") if n.strip()]
    if not names or args.seeds < 1 or args.epochs < 1:
        raise ConfigError("--ablations must name at least one ablation; --seeds and --epochs at least 1")
    out = Path(args.out or f"runs/bench-art-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    workers = max(1, min(args.jobs or min(2, cores), 2 * args.seeds))
    threads = accuracy._threads(args)
    started, load_start = time.perf_counter(), accuracy.load_average()
    data_args = argparse.Namespace(data=None, videos_per_class=args.videos_per_class, frames=args.frames,
                                   eval_per_class=args.eval_per_class)
    root = accuracy._generate_variants(data_args, ["finegrained"], out, cores)["finegrained"]
    runs_dir = out / "runs"
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    # the frozen ablation needs its seed's trained backbone: it runs in a second phase
    for frozen_phase in (False, True):
        jobs = []
        for seed in range(args.seeds):
            for recipe in ablation_recipes(names, seed, runs_dir):
                if (recipe.name == "art_frozen") != frozen_phase or (frozen_phase and recipe.name == BACKBONE):
                    continue
                if frozen_phase and not backbone_checkpoint(runs_dir, seed).is_file():
                    failed.append(f"art_frozen s{seed}: no trained {BACKBONE} checkpoint")
                    continue
                name = f"{recipe.name}-finegrained-s{seed}"
                done = accuracy._finished_row(runs_dir / name, args.epochs, None)
                if done is not None:
                    rows.append(done)
                    continue
                extra = [f"name={name}", f"train.seed={seed}", f"train.epochs={args.epochs}",
                         f"train.eval_every={args.eval_every}"]
                jobs.append((recipe, seed, recipe_config(recipe, DEMO_CONFIG, root, runs_dir, extra).to_dict()))
        print(f"bench art ({'frozen backbone' if frozen_phase else 'all but the frozen backbone'}): {len(jobs)} "
              f"run(s) to train, {len(rows)} finished; {args.epochs} epochs each, {workers} at a time "
              f"(load average {accuracy.load_average()})", flush=True)
        new, bad = accuracy._run_jobs(jobs, None, workers, threads, started)
        rows += new
        failed += bad
    if not rows:
        raise ConfigError("bench art: every run failed:\n" + "\n".join(failed))
    for row in rows:  # what the tracklets carry (a row from an earlier invocation may have it already)
        if row["recipe"] != BACKBONE and not all(k in row for k in PROBE_KEYS[:1]):
            row.update(response_probe(row["run_dir"]))
    elapsed = time.perf_counter() - started
    reproduce = (f"actionlab bench art --epochs {args.epochs} --seeds {args.seeds} --ablations {','.join(names)} "
                 f"--videos-per-class {args.videos_per_class} --eval-per-class {args.eval_per_class} "
                 f"--frames {args.frames} --eval-every {args.eval_every}"
                 + (f" --threads {threads}" if threads != 1 else ""))
    header = (f"# actionlab bench art\n\nART's ablations on the 'finegrained' variant ({args.videos_per_class} "
              f"training videos a class, {args.eval_per_class} val/test videos a class), {args.epochs} epochs "
              f"each, seeds 0-{args.seeds - 1}; load average {load_start} at the start, "
              f"{accuracy.load_average()} at the end; {elapsed / 60:.1f} min."
              + (f" Failed: {'; '.join(failed)}." if failed else "")
              + f"\n\nReproduce: `{reproduce}`")
    text = ablation_report(rows, names, header)
    (out / "art_ablations.md").write_text(text, encoding="utf-8")
    (out / "art_ablations.json").write_text(json.dumps(rows, indent=1, default=str) + "\n", encoding="utf-8")
    plot_mtc_terms(rows, out / "plots" / "art_mtc_terms.png")
    print("\n" + text)
    print(f"everything is in {out}")
    return 0 if not failed else 1


PROBE_KEYS = ("response_variation", "response_cos", "readout_cos", "region_peak")


def response_probe(run_dir: str | Path, videos: int = 64) -> dict[str, float]:
    """What an ART model's tracklets carry, on the first `videos` test videos (one view):

    response_variation  share of the responses' energy that changes across videos and frames (R = MCA + Q:
                        near 0 when the queries alone make R, i.e. the tracklets carry no video)
    response_cos        cosine between the K responses of a frame (what Eq. 5 minimises; -1 = opposite)
    readout_cos         cosine between the K queries' read-outs MCA(Q, X^) of a frame (1 = they read the same)
    region_peak         the region maps' mean peak share (a uniform map's is 1 / (h w))
    """
    import torch

    from ..config import load_config
    from ..data import build_dataset
    from ..data.transforms import normalize
    from ..engine.build import load_for_inference
    from ..engine.runtime import model_mean_std
    from ..models.recognizer import evaluating

    cfg = load_config(str(Path(run_dir) / "config.yaml"))
    dataset = build_dataset(cfg, "test", views="1x1")
    model = load_for_inference(Path(run_dir) / "checkpoints" / "last.pt", cfg, num_classes=dataset.num_classes).model
    mean, std = model_mean_std(model)
    picked = range(0, len(dataset), max(1, len(dataset) // videos))
    with evaluating(model):
        items = [dataset[i] for i in picked]
        clip = normalize(torch.stack([item["clip"][0] for item in items if item is not None]), mean, std)
        return probe_metrics(model(clip).extras["art"])


def probe_metrics(art: Any) -> dict[str, float]:
    """`response_probe`'s numbers from one ARTHeadOutput (responses, read-outs, regions of N videos)."""
    import torch.nn.functional as F

    r, readout, regions = art.responses.detach(), art.readout.detach(), art.regions.detach()
    n, t, k, d = r.shape
    flat = r.reshape(n * t, k, d)
    out = {"response_variation": float((flat - flat.mean(0)).pow(2).sum(-1).mean() / flat.pow(2).sum(-1).mean()),
           "region_peak": float(regions.flatten(3).amax(-1).mean())}
    if k > 1:
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        out["response_cos"] = float(sum(F.cosine_similarity(r[:, :, i], r[:, :, j], dim=-1).mean()
                                        for i, j in pairs) / len(pairs))
        out["readout_cos"] = float(sum(F.cosine_similarity(readout[:, :, i], readout[:, :, j], dim=-1).mean()
                                       for i, j in pairs) / len(pairs))
    return out


def _final(rows: list[dict[str, Any]], key: str) -> list[float]:
    out = []
    for r in rows:
        value = last_epoch(r["run_dir"]).get(key)
        if isinstance(value, (int, float)):
            out.append(float(value))
    return out


def _versus(g: Any, other: Any) -> str:
    """g's top-1 against other's: 'higher' / 'lower' beyond two standard errors, else 'cannot tell'."""
    from ..report import significance

    if other is None or other is g:
        return "-"
    holds, _ = significance(g.stats["top1"], other.stats["top1"])
    word = {True: "higher", False: "lower", None: "cannot tell"}[holds]
    return f"{word} ({g.mean('top1') - other.mean('top1'):+.3f})"


def ablation_report(rows: list[dict[str, Any]], names: list[str], header: str = "") -> str:
    """The ablation table (top-1, Eq. 10 top-1, pointing, last-epoch MTC terms and loss) and each ablation's
    top-1 against the backbone and against `art`, by the report's two-standard-error rule."""
    from ..report import aggregate, summarize

    groups = {g.recipe: g for g in aggregate(rows)}
    lines = ["| run | what changes | seeds | top-1 (Eq. 11) | its backbone's top-1 (Eq. 10) | pointing (chance) "
             "| MTC spatial | MTC temporal | MTC tracklet | total loss | R varies | cos(r_1, r_2) | cos(read-outs) "
             "| vs art_backbone | vs art |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base, paper = groups.get(BACKBONE), groups.get("art")
    for name in [BACKBONE, *names]:
        g = groups.get(name)
        if g is None:
            continue
        what = "the backbone alone (tsm_r18_tiny_os8)" if name == BACKBONE else ABLATIONS[name][1]
        terms = [summarize(_final(g.rows, k)).format(".3f") for k in (*MTC_KEYS, "train_loss")]

        pointing = (f"{g.stats['pointing_any'].format('.3f')} ({g.stats['pointing_chance'].format('.3f')})"
                    if g.stats["pointing_any"].n else "-")
        backbone_top1 = summarize([r.get("backbone_top1") for r in g.rows]).format(".3f")
        probe = [summarize([r.get(k) for r in g.rows]).format(".3f" if k != "response_variation" else ".4f")
                 for k in PROBE_KEYS[:3]]
        lines.append(f"| {name} | {what} | {len(g.rows)} | {g.stats['top1'].format('.3f')} | {backbone_top1} | "
                     f"{pointing} | {' | '.join(terms)} | {' | '.join(probe)} | {_versus(g, base)} | "
                     f"{_versus(g, paper)} |")
    parts = [header.strip()] if header else []
    parts.append("\n".join(lines))
    parts.append("Mean ± std over seeds (test split, 1 view). 'Its backbone's top-1' is the Eq. 10 classifier of the "
                 "same ART model; MTC terms and loss are the last epoch's means (unweighted terms; the loss is "
                 "Eq. 18's total). 'R varies': the share of the responses' energy that changes across test videos "
                 "and frames (0: the tracklets carry nothing of the video); cos(r_1, r_2): the K responses of a "
                 "frame (what Eq. 5 minimises); cos(read-outs): what the K queries read from the frame, MCA(Q, X^) "
                 "(1: the same content). 'higher' / 'lower': beyond two standard errors over seeds.")
    return "\n\n".join(parts) + "\n"


def plot_mtc_terms(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """The three MTC terms per epoch (mean over seeds) of each ART run: what the loss does during training."""
    from ..report import _pyplot, training_history

    runs: dict[str, list[list[dict[str, Any]]]] = {}
    for r in rows:
        history = training_history(r["run_dir"])
        if any(k in h for h in history for k in MTC_KEYS):
            runs.setdefault(str(r["recipe"]), []).append(history)
    plt = _pyplot(f"the MTC-terms plot ({path.name})") if runs else None
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    styles = ("-", "--", ":", "-.")  # runs that sit on the same value (+1 or -1) stay visible
    for i, (name, histories) in enumerate(runs.items()):
        for ax, key in zip(axes, MTC_KEYS):
            by_epoch: dict[int, list[float]] = {}
            for h in histories:
                for line in h:
                    if isinstance(line.get(key), (int, float)):
                        by_epoch.setdefault(int(line["epoch"]), []).append(float(line[key]))
            if by_epoch:
                xs = sorted(by_epoch)
                ax.plot(xs, [sum(by_epoch[x]) / len(by_epoch[x]) for x in xs], color=f"C{i % 10}", label=name,
                        linestyle=styles[i % len(styles)], linewidth=1.6)
    for ax, key in zip(axes, MTC_KEYS):
        ax.set_title(key.removeprefix("train_").replace("_", " ") + " (mean over seeds)", fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()  # under the panels, never over a curve
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
