"""The comparison table, CSV, plots and claim checks of finished runs (`actionlab bench accuracy`, `actionlab report`).

A finished run is a training run directory (config.yaml, metrics.jsonl, checkpoints/, test_<split>_<views>/).
`actionlab bench accuracy` also writes `bench_row.json` into each run directory: everything the table needs
(top-1, mean class accuracy, within-pair accuracy, temporal fidelity, actionness-in-box, pointing game,
GMACs, params, clips/s). A run without it (e.g. a run on a real dataset) gives what its test metrics say.

    rows = load_rows([Path("runs/bench-accuracy-...")])   # a bench directory, or run directories
    paths = write_report(rows, out_dir)                     # results.md / .csv / .json + plots/*.png

Every number comes from the runs' files; nothing is typed in.  `check_claims` reads the papers' claims
off the aggregated numbers and says 'holds', 'does not hold' or 'cannot tell' for each by one rule, `verdict`
(a difference must exceed two standard errors over seeds to count; one seed: cannot tell), with the numbers.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

ROW_FILE = "bench_row.json"

# (key in a row, column title, format); aggregated as mean +- std over seeds
METRICS: list[tuple[str, str, str]] = [
    ("top1", "top-1", ".3f"),
    ("mean_class_accuracy", "mean class acc", ".3f"),
    ("within_pair", "within-pair", ".3f"),
    ("fidelity_auc", "fidelity AUC", ".3f"),
    ("fidelity_mass", "fidelity mass", ".3f"),
    ("fidelity_chance", "fidelity mass chance", ".3f"),
    ("pointing_any", "pointing", ".3f"),
    ("pointing_chance", "pointing chance", ".3f"),
    ("actionness_in_box", "actionness in box", ".3f"),
    ("actionness_in_box_chance", "in-box chance", ".3f"),
    ("backbone_top1", "its backbone's top-1 (ART Eq. 10)", ".3f"),
    ("gmacs", "GMACs", ".4f"),
    ("params_m", "params (M)", ".3f"),
    ("test_clips_per_s", "CPU clips/s", ".1f"),
]

# within-pair accuracy "near chance" (0.5) and "far above" it
NEAR_CHANCE = 0.1
FAR_ABOVE = 0.75
# accuracies both this close to 1: the benchmark's data has no room left to order two models (a data limit,
# not a budget one); said so in the claim's note
CEILING = 0.95
CEILING_KEYS = ("top1", "within_pair", "mean_class_accuracy")
# top-1 on videos whose cue says nothing (4x chance of 8 classes) both models must exceed before where their
# attention sits is read as fidelity: attention "on the action" means something only where the model can use it
RECOGNISED = 0.5


# ---------------------------------------------------------------------------- loading


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _row_from_plain_run(run_dir: Path) -> dict[str, Any] | None:
    """A run without bench_row.json: its name, model, seed and its (first) test split's metrics."""
    import yaml

    tests = sorted(run_dir.glob("test_*/metrics.json"))
    if not tests:
        return None
    metrics = json.loads(tests[0].read_text()).get("metrics", {})
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").is_file() else {}
    cfg = cfg or {}
    return {
        "recipe": cfg.get("name") or run_dir.name,
        "model": (cfg.get("model") or {}).get("name", "?"),
        "baseline": None,
        "variant": Path(str((cfg.get("data") or {}).get("root", "-"))).name or "-",
        "seed": (cfg.get("train") or {}).get("seed", 0),
        "run_dir": str(run_dir),
        **{k: v for k, v in metrics.items() if _number(v) is not None},
    }


def find_run_dirs(path: Path) -> list[Path]:
    """Run directories at or under `path`: those holding bench_row.json, or else metrics.jsonl."""
    if not path.exists():
        raise ConfigError(f"{path}: no such run directory")
    if (path / ROW_FILE).is_file() or (path / "metrics.jsonl").is_file():
        return [path]
    found = sorted({p.parent for p in path.rglob(ROW_FILE)})
    return found or sorted({p.parent for p in path.rglob("metrics.jsonl")})


def _demo_rows(path: Path) -> list[dict[str, Any]] | None:
    """The rows an `actionlab demo` directory lists in its results.json (None when `path` is no demo directory).

    Each row names its run directory; a demo directory that was moved is looked up under its own runs/.
    """
    summary = path / "results.json"
    if not summary.is_file():
        return None
    try:
        data = json.loads(summary.read_text())
    except json.JSONDecodeError:
        return None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and "recipe" in r for r in rows):
        return None
    seed = (data.get("args") or {}).get("seed", 0)
    out = []
    for row in rows:
        run_dir = Path(str(row.get("run_dir", "")))
        if not run_dir.is_dir() and (path / "runs" / run_dir.name).is_dir():
            run_dir = path / "runs" / run_dir.name
        out.append({"seed": seed, **row, "run_dir": str(run_dir)})
    return out


def _plain_run_cost(run_dir: Path, row: dict[str, Any]) -> dict[str, float]:
    """GMACs and parameters of a plain run's model, measured from its saved config and checkpoint."""
    try:
        import torch

        from .config import load_config
        from .engine.experiment import model_cost

        test = json.loads(sorted(run_dir.glob("test_*/metrics.json"))[0].read_text())
        ckpt = torch.load(test["checkpoint"], map_location="cpu", weights_only=True, mmap=True)
        return model_cost(load_config(str(run_dir / "config.yaml")), int(ckpt["num_classes"]))
    except Exception:  # noqa: BLE001 - a report without the cost column beats no report
        return {}


def load_rows(paths: list[Path]) -> list[dict[str, Any]]:
    """One row per finished run under `paths`: `bench accuracy` / `bench art` directories (bench_row.json in each
    run), `actionlab demo` directories (their results.json), tested training run directories, or saved reports
    (a results.json / art_ablations.json file)."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{path}: no such run directory")
        if path.is_file():  # the rows a report saved (results.json, art_ablations.json): no run directory needed
            rows += rows_from_file(path)
            continue
        demo = _demo_rows(path) if not any(path.rglob(ROW_FILE)) else None
        if demo is not None:
            rows += demo
            continue
        run_dirs = find_run_dirs(path)
        if not run_dirs:
            raise ConfigError(f"{path}: no finished run in it (no {ROW_FILE}, no demo results.json, no metrics.jsonl)")
        for run_dir in run_dirs:
            row_file = run_dir / ROW_FILE
            row = json.loads(row_file.read_text()) if row_file.is_file() else _row_from_plain_run(run_dir)
            if row is None:
                continue
            if not row_file.is_file() and "gmacs" not in row:
                row.update(_plain_run_cost(run_dir, row))
            row["run_dir"] = str(run_dir)
            rows.append(row)
    if not rows:
        raise ConfigError(f"no tested run in {', '.join(str(p) for p in paths)} (run `actionlab test` first)")
    return _unique(rows)


def rows_from_file(path: Path) -> list[dict[str, Any]]:
    """The rows of a saved report: `results.json` ({"rows": [...]}, what `write_report` writes) or a JSON list
    of rows (`bench art`'s art_ablations.json)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not a saved report ({e})") from None
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "recipe" in r for r in rows):
        raise ConfigError(f"{path}: not a saved report (expected a list of rows with 'recipe', or {{\"rows\": ...}})")
    return rows


def _unique(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run (the same run reached through two inputs - a bench directory and a saved report of
    it - counts once): keyed by recipe, variant, seed and the run directory's name."""
    seen: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (str(row.get("recipe")), str(row.get("variant")), str(row.get("seed")),
               Path(str(row.get("run_dir", ""))).name)
        seen.setdefault(key, row)
    return list(seen.values())


def training_history(run_dir: str | Path) -> list[dict[str, Any]]:
    jsonl = Path(run_dir) / "metrics.jsonl"
    if not jsonl.is_file():
        return []
    return [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------------- aggregation


@dataclass
class Stat:
    mean: float
    std: float
    n: int

    def format(self, spec: str) -> str:
        if self.n == 0:
            return "-"
        return format(self.mean, spec) if self.n == 1 else f"{format(self.mean, spec)} ± {format(self.std, spec)}"


def summarize(values: Sequence[float | None]) -> Stat:
    """Mean and sample standard deviation of the finite values (n counts them)."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return Stat(math.nan, math.nan, 0)
    return Stat(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals))


@dataclass
class Group:
    """All seeds of one recipe on one variant."""

    recipe: str
    variant: str
    model: str
    baseline: str | None
    seeds: list[Any]
    stats: dict[str, Stat]
    rows: list[dict[str, Any]]

    def mean(self, key: str) -> float:
        stat = self.stats.get(key)
        return stat.mean if stat and stat.n else math.nan


def aggregate(rows: list[dict[str, Any]]) -> list[Group]:
    """Rows grouped by (recipe, variant) in first-seen order, each metric as mean +- std over seeds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((str(row["recipe"]), str(row.get("variant", "-"))), []).append(row)
    out = []
    for (recipe, variant), members in groups.items():
        stats = {key: summarize([_number(r.get(key)) for r in members]) for key, _, _ in METRICS}
        out.append(Group(recipe, variant, str(members[0].get("model", "?")), members[0].get("baseline"),
                         [r.get("seed") for r in members], stats, members))
    return out


def table_rows(groups: list[Group]) -> list[dict[str, str]]:
    return [{"method": g.recipe, "variant": g.variant, "model": g.model, "vs": g.baseline or "-",
             "seeds": str(len(g.rows)), **{title: g.stats[key].format(spec) for key, title, spec in METRICS}}
            for g in groups]


def markdown_table(groups: list[Group]) -> str:
    """A Markdown table; columns no group has a value for are left out."""
    rows = table_rows(groups)
    columns = [c for c in rows[0] if any(r[c] != "-" for r in rows) or c in ("method", "variant", "vs")]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(r[c] for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_csv(groups: list[Group], path: Path) -> Path:
    """One line per (method, variant): mean and std of every metric as numbers (empty when absent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "variant", "model", "baseline", "seeds",
                         *[f"{key}_{part}" for key, _, _ in METRICS for part in ("mean", "std")]])
        for g in groups:
            values = []
            for key, _, _ in METRICS:
                s = g.stats[key]
                values += ["", ""] if s.n == 0 else [f"{s.mean:.6g}", f"{s.std:.6g}"]
            writer.writerow([g.recipe, g.variant, g.model, g.baseline or "", len(g.rows), *values])
    return path


# ---------------------------------------------------------------------------- claims


@dataclass
class Claim:
    paper: str
    text: str
    holds: bool | None  # True / False: shown either way; None: cannot tell, or not checked (a run is missing)
    numbers: str
    method: str = ""  # the recipe the claim is about: without a run of it the claim is left out
    checked: bool = True  # False: a run needed to check it (its baseline) did not run
    measured_by: str = ""  # the command that measures it, where not `bench accuracy` (bench art, bench tfe factors)
    seeds: int = 3  # the seeds its runs had (at least 3): the command's --seeds

    @property
    def verdict(self) -> str:
        if not self.checked:
            return "not checked"
        return {True: "holds", False: "does not hold", None: "cannot tell"}[self.holds]

    @property
    def command(self) -> str:
        """The command that measures this claim over seeds (every metric a claim reads)."""
        return self.measured_by or f"actionlab bench accuracy --methods {self.method} --seeds {self.seeds}"

    def line(self) -> str:
        where = f". Measured over seeds by `{self.command}`." if self.holds is None and self.method else ""
        return f"- **{self.verdict}** — {self.paper}: {self.text}. {self.numbers}{where}"


SIGMAS = 2.0  # the README's rule: a verdict needs the difference to exceed two standard errors over seeds


def verdict(value: Stat, reference: Stat | float, test: str = "above", margin: float = 0.0,
            sigmas: float = SIGMAS) -> tuple[bool | None, str]:
    """The one place the verdict rule is written: (True / False / None = cannot tell, note for the numbers).

    The standard error of the difference is that of the means over seeds (sample std / sqrt(n) of each
    measured side; a `reference` given as a number - a chance level, a threshold - has none).  A side with
    one seed has no spread to judge by: cannot tell.

    test "above": is `value` above `reference`?  True when the difference exceeds `sigmas` standard errors,
      False when it is that far below, else None.
    test "near": is `value` within `margin` of `reference` (e.g. at chance)?  True when |difference| plus
      `sigmas` standard errors stays within the margin, False when |difference| minus them exceeds it.
    """
    ref_mean = reference.mean if isinstance(reference, Stat) else float(reference)
    sides = [value] + ([reference] if isinstance(reference, Stat) else [])
    if any(s.n < 2 for s in sides):
        return None, " (one seed: no spread over seeds to judge the difference by)"
    se = math.sqrt(sum(s.std**2 / s.n for s in sides))
    diff = value.mean - ref_mean
    if test == "near":
        if abs(diff) + sigmas * se <= margin:
            return True, ""
        if abs(diff) - sigmas * se > margin:
            return False, ""
        return None, (f" (|difference| {abs(diff):.3f}, {sigmas:g} standard errors {sigmas * se:.3f}: "
                      f"cannot be placed inside or outside {margin:g})")
    if test != "above":
        raise ValueError(f"test must be 'above' or 'near', got {test!r}")
    if diff > sigmas * se:
        return True, ""
    if diff < -sigmas * se:
        return False, ""
    return None, f" (difference {diff:+.3f} within {sigmas:g} standard errors, {sigmas * se:.3f})"


def significance(a: Stat, b: Stat, sigmas: float = SIGMAS) -> tuple[bool | None, str]:
    """Is a's mean above b's, by the rule of `verdict`?"""
    return verdict(a, b, "above", sigmas=sigmas)


def _find(groups: list[Group], recipe: str, variant: str | None = None) -> Group | None:
    for g in groups:
        if g.recipe == recipe and (variant is None or g.variant == variant):
            return g
    return None


def _fmt(g: Group, key: str) -> str:
    return f"{g.recipe} {g.stats[key].format('.3f')}"


def _compare(paper: str, text: str, groups: list[Group], better: str, worse: str, key: str,
             variant: str | None = None) -> Claim:
    a, b = _find(groups, better, variant), _find(groups, worse, variant)
    if a is None or b is None or not a.stats[key].n or not b.stats[key].n:
        missing = [n for n, g in ((better, a), (worse, b)) if g is None or not g.stats[key].n]
        where = f" on '{variant}'" if variant else ""
        return Claim(paper, text, None, f"(no {key} of {' and '.join(missing)}{where} in these runs)", better,
                     checked=False)
    holds, note = verdict(a.stats[key], b.stats[key], "above")
    if holds is None and key in CEILING_KEYS and min(a.stats[key].mean, b.stats[key].mean) >= CEILING:
        note += f"; both at the ceiling (>= {CEILING:g}): this data cannot order them"
    return Claim(paper, text, holds, f"{key}: {_fmt(a, key)} vs {_fmt(b, key)}{note}", better,
                 seeds=max(3, a.stats[key].n, b.stats[key].n))


def _tsn_near_chance(tsn: Group | None) -> Claim:
    """TSN at chance (0.5) inside the time-reversed pairs: overall within NEAR_CHANCE, every pair within
    NEAR_CHANCE + 0.1, each by `verdict`'s "near" test (holds only when every part holds)."""
    text = (f"near chance inside each time-reversed pair (|within-pair - 0.5| <= {NEAR_CHANCE} overall, "
            f"<= {NEAR_CHANCE + 0.1:g} for every pair)")
    if tsn is None or not tsn.stats["within_pair"].n:
        return Claim("TSN", text, None, "(no within-pair accuracy of tsn on 'order' in these runs)", "tsn",
                     checked=False)
    pair_values: dict[str, list[float]] = {}
    for row in tsn.rows:
        for pair, value in (row.get("within_pair_by_pair") or {}).items():
            if _number(value) is not None:
                pair_values.setdefault(pair, []).append(float(value))
    per_pair = {pair: summarize(values) for pair, values in pair_values.items()}
    parts = [verdict(tsn.stats["within_pair"], 0.5, "near", NEAR_CHANCE)]
    parts += [verdict(stat, 0.5, "near", NEAR_CHANCE + 0.1) for stat in per_pair.values()]
    holds = False if any(h is False for h, _ in parts) else True if all(h for h, _ in parts) else None
    notes = "".join(dict.fromkeys(n for h, n in parts if h is None and n))
    pairs_text = ", ".join(f"{p} {v.format('.3f')}" for p, v in per_pair.items())
    return Claim("TSN", text, holds, _fmt(tsn, "within_pair") + (f"; by pair: {pairs_text}" if pairs_text else "")
                 + (notes if holds is None else ""), "tsn")


# (paper, claim, better recipe, worse recipe, metric, variant): the claims that compare two methods
COMPARISONS: list[tuple[str, str, str, str, str, str]] = [
    ("TSM", "tells time-reversed pairs apart better than TSN", "tsm", "tsn", "within_pair", "order"),
    ("TEFE", "TEFE beats TSN (top-1)", "tefe", "tsn", "top1", "order"),
    ("TEFE", "TE alone beats TSN (top-1)", "tefe_te_only", "tsn", "top1", "order"),
    ("TEFE", "FE alone beats TSN (top-1)", "tefe_fe_only", "tsn", "top1", "order"),
    ("TEFE", "TE and FE together beat TE alone (top-1)", "tefe", "tefe_te_only", "top1", "order"),
    ("TEFE", "TE and FE together beat FE alone (top-1)", "tefe", "tefe_fe_only", "top1", "order"),
    ("ATR", "ATR on TSN beats TSN (top-1)", "atr", "tsn", "top1", "order"),
    ("ATR", "ATR beats ATR_sim (top-1)", "atr", "atr_sim", "top1", "order"),
    ("ATR", "ATR on TSM beats TSM (top-1)", "tsm_atr", "tsm", "top1", "order"),
    ("TFE", "higher temporal fidelity (ranking AUC of attention on the action frames) than the vanilla attention "
     "model", "tfe", "vanilla_attention", "fidelity_auc", "distractor"),
    ("TFE", "higher top-1 than the vanilla attention model when the distractor cue is random (test split)", "tfe",
     "vanilla_attention", "top1", "distractor"),
    ("ART", "higher top-1 than its backbone on the fine-grained variant", "art", "art_backbone", "top1",
     "finegrained"),
]

# `actionlab bench art`: one part of ART changed at a time (Tables IV-VI, Fig. 5 of the paper); listed only
# where both runs are there
ART_ABLATIONS: list[tuple[str, str, str, str, str, str]] = [
    ("ART", "its head on the trained backbone, frozen, beats the backbone alone", "art_frozen", "art_backbone",
     "top1", "finegrained"),
    ("ART", "the MTC loss helps (gamma1 = 5 beats gamma1 = 0)", "art", "art_gamma1_0", "top1", "finegrained"),
    ("ART", "gamma1 = 5 beats gamma1 = 1", "art", "art_gamma1_1", "top1", "finegrained"),
    ("ART", "the text constraint helps (class-name text beats random vectors)", "art", "art_random_text", "top1",
     "finegrained"),
    ("ART", "text-seeded queries beat learned queries", "art", "art_learned_queries", "top1", "finegrained"),
    ("ART", "K = 2 tracklets beat K = 4", "art", "art_k4", "top1", "finegrained"),
    ("ART", "MTC on the attention read-out (mtc_on: readout) beats the paper's form on R", "art_mtc_readout", "art",
     "top1", "finegrained"),
    ("ART", "MTC on R with its gradient only through the read-out (mtc_on: responses_via_readout) beats the "
     "paper's form", "art_mtc_via_readout", "art", "top1", "finegrained"),
]

# (paper, claim, recipe, metric, the same runs' reference metric, variant): a measure above its own reference
ABOVE_OWN: list[tuple[str, str, str, str, str, str]] = [
    ("ATR", "actionness concentrates on the moving object (share of the largest map inside its box above a "
     "uniform map's)", "atr", "actionness_in_box", "actionness_in_box_chance", "order"),
    ("ATR (on TSM)", "actionness concentrates on the moving object (share of the largest map inside its box above "
     "a uniform map's)", "tsm_atr", "actionness_in_box", "actionness_in_box_chance", "order"),
    ("ART", "tracklets point at the moving part (pointing game above its chance)", "art", "pointing_any",
     "pointing_chance", "finegrained"),
    ("ART", "the final prediction (Eq. 11) beats its own backbone's (Eq. 10, the same model)", "art", "top1",
     "backbone_top1", "finegrained"),
    ("ART (mtc_on: readout)", "with the MTC terms on the read-out, the tracklets point at the moving part "
     "(pointing game above its chance)", "art_mtc_readout", "pointing_any", "pointing_chance", "finegrained"),
    ("ART (mtc_on: responses_via_readout)", "with the MTC gradient only through the read-out, the tracklets "
     "point at the moving part (pointing game above its chance)", "art_mtc_via_readout", "pointing_any",
     "pointing_chance", "finegrained"),
]


def _above_own(paper: str, text: str, groups: list[Group], recipe: str, key: str, reference: str,
               variant: str) -> Claim:
    """`key` of a recipe's runs above `reference` of the same runs (a chance level, another readout)."""
    g = _find(groups, recipe, variant)
    if g is None or not g.stats[key].n or not g.stats[reference].n:
        return Claim(paper, text, None, f"(no {key} / {reference} of {recipe} on '{variant}' in these runs)", recipe,
                     checked=False)
    holds, note = verdict(g.stats[key], g.stats[reference], "above")
    return Claim(paper, text, holds, f"{recipe} {key} {g.stats[key].format('.3f')} vs {reference} "
                 f"{g.stats[reference].format('.3f')}{note}", recipe, seeds=max(3, g.stats[key].n))


def _fidelity_needs_recognition(claim: Claim, groups: list[Group], variant: str) -> Claim:
    """A fidelity verdict stands only where both models recognise the action on cue-random test videos (top-1
    above RECOGNISED by the verdict rule); else 'cannot tell', saying why: which frames a model attends says
    nothing about fidelity when it cannot use the action (benchmarks/tfe.md, `bench tfe factors`)."""
    if not claim.checked:
        return claim
    unseen = []
    for name in ("tfe", "vanilla_attention"):
        g = _find(groups, name, variant)
        if g is not None and verdict(g.stats["top1"], RECOGNISED, "above")[0] is not True:
            unseen.append(f"{name} {g.stats['top1'].format('.3f')}")
    if not unseen:
        return claim
    claim.holds = None
    claim.numbers += (f"; not read as fidelity: top-1 on cue-random videos {', '.join(unseen)} is not above "
                      f"{RECOGNISED:g}, the model does not recognise the action, so where its attention sits "
                      "measures nothing it uses")
    return claim


def check_claims(groups: list[Group]) -> list[Claim]:
    """Each paper's claim on the built-in benchmark, checked from the aggregated numbers (means over seeds).

    Only claims about methods that were run are listed; one whose baseline did not run says 'not checked'.
    """
    claims: list[Claim] = []
    claims.append(_tsn_near_chance(_find(groups, "tsn", "order")))
    for name, paper in [("tsm", "TSM"), ("tefe", "TEFE"), ("atr", "ATR"), ("tsm_atr", "ATR (on TSM)")]:
        g = _find(groups, name, "order")
        if g is None or not g.stats["within_pair"].n:
            claims.append(Claim(paper, f"{name} far above chance inside the pairs", None,
                                f"(no within-pair accuracy of {name} on 'order' in these runs)", name, checked=False))
            continue
        holds, note = verdict(g.stats["within_pair"], FAR_ABOVE, "above")
        claims.append(Claim(paper, f"{name} far above chance inside the pairs (within-pair above {FAR_ABOVE})",
                            holds, _fmt(g, "within_pair") + note, name))
    for paper, text, better, worse, key, variant in COMPARISONS:
        claim = _compare(paper, text, groups, better, worse, key, variant)
        claims.append(_fidelity_needs_recognition(claim, groups, variant) if key == "fidelity_auc" else claim)
    claims += [_above_own(paper, text, groups, recipe, key, reference, variant)
               for paper, text, recipe, key, reference, variant in ABOVE_OWN]
    for paper, text, better, worse, key, variant in ART_ABLATIONS:
        claim = _compare(paper, text, groups, better, worse, key, variant)
        if claim.checked:
            ablation = better if better != "art" else worse
            claim.measured_by = f"actionlab bench art --ablations {ablation} --seeds {claim.seeds}"
            claims.append(claim)
    ran = {g.recipe for g in groups}
    return [c for c in claims if c.method in ran]


# ---------------------------------------------------------------------------- plots


def _pyplot(plot: str) -> Any:
    """matplotlib.pyplot (no display needed) for drawing `plot`, or None after a logged one-line notice that
    `plot` is not drawn and the extra that brings matplotlib (`viz`)."""
    from .errors import optional

    matplotlib = optional("matplotlib", "viz", plot)
    if matplotlib is None:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(i: int, n: int) -> Any:
    """Colour of the i-th of n methods: matplotlib's 10 default colours, or 20 when there are more methods."""
    if n <= 10:
        return f"C{i % 10}"
    import matplotlib

    return matplotlib.colormaps["tab20"](i % 20)


# (history key, panel title): the classification loss compares every method; the total loss of a method with
# auxiliary terms (ART's MTC / semantic losses, TFE's phases) is on its own axis: its scale is another one.
CURVE_PANELS: list[tuple[str, str]] = [
    ("train_cls", "train classification loss"),
    ("train_total", "train total loss incl. auxiliary terms (their methods only)"),
    ("val_top1", "validation top-1"),
]


def curve_value(entry: dict[str, Any], key: str) -> float | None:
    """A panel's value in one metrics.jsonl entry: the classification loss (the total loss of a run that logs no
    separate classification term), the total loss only where auxiliary terms make it differ, or the key itself."""
    if key == "train_cls":
        return _number(entry.get("train_cls", entry.get("train_loss")))
    if key == "train_total":
        total, cls = _number(entry.get("train_loss")), _number(entry.get("train_cls"))
        return total if total is not None and cls is not None and abs(total - cls) > 1e-9 else None
    return _number(entry.get(key))


def curve_panels(groups: list[Group]) -> list[tuple[str, str]]:
    """(panel key, title) of the panels some run has values for."""
    histories = [training_history(r["run_dir"]) for g in groups for r in g.rows]
    return [(key, title) for key, title in CURVE_PANELS
            if any(curve_value(h, key) is not None for hist in histories for h in hist)]


def _epoch_axis(ax: Any, epochs: list[float]) -> None:
    """Whole epochs on the x axis: every epoch when there are few (one epoch is one tick, not 0.96 ... 1.04)."""
    from matplotlib.ticker import MaxNLocator

    if not epochs:
        return
    lo, hi = min(epochs), max(epochs)
    ax.set_xlim(lo - 0.5, hi + 0.5)
    if hi - lo <= 12:
        ax.set_xticks(sorted({int(round(e)) for e in epochs}))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_training_curves(groups: list[Group], path: Path) -> Path | None:
    """Per epoch: the classification loss of every run, the total loss of runs with auxiliary terms (its own
    panel), validation top-1.  One column per benchmark variant, each with its methods' legend under it; one
    row per panel that has data; None when no run has a history."""
    panels = curve_panels(groups)
    plt = _pyplot(f"the training-curves plot ({path.name})") if panels else None
    if plt is None:
        return None
    variants = list(dict.fromkeys(g.variant for g in groups))
    fig, axes = plt.subplots(len(panels), len(variants), figsize=(5 * len(variants), 3.2 * len(panels) + 0.8),
                             squeeze=False)
    for col, variant in enumerate(variants):
        epochs: list[float] = []
        handles = []
        for g in (g for g in groups if g.variant == variant):
            color = _color(groups.index(g), len(groups))
            handles.append(plt.Line2D([], [], color=color, marker=".", label=g.recipe))
            for row in g.rows:
                history = training_history(row["run_dir"])
                for r, (key, _) in enumerate(panels):
                    points = [(h["epoch"], v) for h in history if (v := curve_value(h, key)) is not None]
                    if points:
                        axes[r][col].plot(*zip(*points), marker=".", color=color)
                        epochs += [e for e, _ in points]
        for r, (key, title) in enumerate(panels):
            ax = axes[r][col]
            ax.set_title(f"'{variant}': {title}", fontsize=9)
            ax.grid(alpha=0.3)
            if key.startswith("val_"):
                ax.set_ylim(0, 1.02)
            if ax.has_data():
                _epoch_axis(ax, epochs)
            else:  # this variant's runs logged no such values: say so instead of an empty frame
                ax.text(0.5, 0.5, "not logged by these runs" if key != "train_total" else
                        "no method here has auxiliary loss terms", ha="center", va="center", transform=ax.transAxes,
                        color="gray")
                ax.set_xticks([])
                ax.set_yticks([])
        axes[-1][col].set_xlabel("epoch")
        # the legend under the column, never over a curve or a point
        axes[-1][col].legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.22),
                             ncol=min(3, len(handles)), fontsize=8, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _place_labels(ax: Any, points: list[tuple[float, float, str, str, float]], fontsize: float = 8) -> list[Any]:
    """Label each point without overlapping another label or a marker: try offsets around the point,
    nearest first, and keep the first whose box is free (a leader line when it ended up far away)."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    taken = []  # boxes of the markers and of the labels placed so far, in pixels
    for x, y, _, _, err in points:
        px, py = to_px((x, y))
        lo, hi = to_px((x, y - err))[1], to_px((x, y + err))[1]
        taken.append((px - 5, min(py - 5, lo), px + 5, max(py + 5, hi)))  # the marker and its error bar
    offsets = [(dx * r, dy * r) for r in (1, 2, 3, 4, 6) for dx, dy in
               ((8, 4), (8, -14), (-8, 4), (-8, -14), (0, 12), (0, -20), (16, -5), (-16, -5))]
    texts = []
    for x, y, label, color, _ in sorted(points, key=lambda p: (p[0], -p[1])):
        px, py = to_px((x, y))
        for dx, dy in offsets:
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            text = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset pixels", fontsize=fontsize,
                               ha=ha, color=color)
            bb = text.get_window_extent(renderer)
            box = (bb.x0 - 1, bb.y0 - 1, bb.x1 + 1, bb.y1 + 1)
            inside = ax.get_window_extent(renderer)
            free = all(box[2] < t[0] or box[0] > t[2] or box[3] < t[1] or box[1] > t[3] for t in taken)
            if free and inside.x0 <= box[0] and box[2] <= inside.x1 and inside.y0 <= box[1] and box[3] <= inside.y1:
                if abs(dx) + abs(dy) > 30:
                    text.remove()
                    text = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset pixels",
                                       fontsize=fontsize, ha=ha, color=color,
                                       arrowprops={"arrowstyle": "-", "color": color, "lw": 0.5})
                taken.append(box)
                break
            text.remove()
        else:  # no free place: the nearest one (overlap is then unavoidable)
            text = ax.annotate(label, (x, y), xytext=offsets[0], textcoords="offset pixels", fontsize=fontsize,
                               color=color)
            bb = text.get_window_extent(renderer)
            taken.append((bb.x0, bb.y0, bb.x1, bb.y1))
        texts.append(text)
    return texts


def accuracy_vs_gmacs_figure(groups: list[Group], plot: str = "the accuracy-vs-GMACs plot") -> Any:
    """Test top-1 (mean, with the seeds' std as error bars) against GMACs per clip, one marker per variant,
    one colour and a non-overlapping label per method; the y axis starts at 0.  None when no run has both
    numbers (no empty plot) or matplotlib is missing (a logged notice names `plot`)."""
    shown = [g for g in groups if g.stats["gmacs"].n and g.stats["top1"].n]
    plt = _pyplot(plot) if shown else None
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(8, 5.5))
    variants = list(dict.fromkeys(g.variant for g in shown))
    markers = dict(zip(variants, "os^Dv<>p*h"))
    points = []
    for g in shown:
        color = _color(groups.index(g), len(groups))
        ax.errorbar(g.mean("gmacs"), g.mean("top1"), yerr=g.stats["top1"].std or None, fmt=markers.get(g.variant, "o"),
                    capsize=3, color=color, markersize=7)
        # dark labels (light colours are unreadable); the error bar is kept free of labels too
        points.append((g.mean("gmacs"), g.mean("top1"), g.recipe, "0.15", g.stats["top1"].std or 0.0))
    xs = [p[0] for p in points]
    span = max(xs) - min(xs)
    pad = span * 0.15 if span > 0 else max(xs) * 0.1 or 0.01
    ax.set_xlim(min(xs) - pad, max(xs) + pad * 2)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("GMACs per clip")
    ax.set_ylabel("test top-1")
    ax.set_title("accuracy vs cost (mean over seeds; bars: std)")
    ax.grid(alpha=0.3)
    if len(variants) > 1 or variants != ["-"]:  # under the axes: a legend inside could hide a method's point
        for v in variants:
            ax.plot([], [], markers[v], color="gray", label=f"'{v}' benchmark")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(variants), frameon=False)
    fig.tight_layout()
    _place_labels(ax, points)
    return fig


def plot_accuracy_vs_gmacs(groups: list[Group], path: Path) -> Path | None:
    """`accuracy_vs_gmacs_figure` saved to `path` (None: nothing to plot)."""
    fig = accuracy_vs_gmacs_figure(groups, f"the accuracy-vs-GMACs plot ({path.name})")
    if fig is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")  # the legend sits under the axes
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


# ---------------------------------------------------------------------------- all of it


def report_markdown(groups: list[Group], claims: list[Claim], header: str = "") -> str:
    parts = [header.strip()] if header.strip() else []
    parts.append("## Results (test split, 1 view; mean ± std over seeds)\n\n" + markdown_table(groups))
    notes = {
        "within_pair": "Within-pair: how often the true class outscores its time-reversed twin (chance 0.5).",
        "fidelity_auc": "Fidelity AUC: P(attention on an action frame > on a non-action frame), chance 0.5; fidelity "
                        "mass: share of attention on the action frames (chance = its column).",
        "pointing_any": "Pointing: share of frames where some tracklet's peak cell overlaps the moving part's box.",
        "actionness_in_box": "Actionness in box: share of the largest ATR map's actionness inside the box.",
        "test_clips_per_s": "CPU clips/s: test throughput incl. decoding, with the run's torch threads.",
    }
    shown = [text for key, text in notes.items() if any(g.stats[key].n for g in groups)]
    if shown:
        parts.append(" ".join(shown))
    parts.append("## Claims\n\n" + ("\n".join(c.line() for c in claims) if claims else
                                    "No paper claim is about the methods in these runs."))
    return "\n\n".join(parts) + "\n"


def write_report(rows: list[dict[str, Any]], out_dir: Path, header: str = "") -> dict[str, Path]:
    """results.md, results.csv, results.json, plots/training_curves.png, plots/accuracy_vs_gmacs.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = aggregate(rows)
    claims = check_claims(groups)
    paths = {"markdown": out_dir / "results.md", "csv": out_dir / "results.csv", "json": out_dir / "results.json"}
    paths["markdown"].write_text(report_markdown(groups, claims, header), encoding="utf-8")
    write_csv(groups, paths["csv"])
    paths["json"].write_text(json.dumps({"rows": rows, "claims": [c.__dict__ for c in claims]}, indent=1,
                                        default=str) + "\n", encoding="utf-8")
    curves = plot_training_curves(groups, out_dir / "plots" / "training_curves.png")
    cost = plot_accuracy_vs_gmacs(groups, out_dir / "plots" / "accuracy_vs_gmacs.png")
    if curves:
        paths["training_curves"] = curves
    if cost:
        paths["accuracy_vs_gmacs"] = cost
    return paths
