"""The explore sweep's report: mean ± sd per explore setting, the recommendation, and the figure.

The recommendation is the explore fraction with the best mean **validation** score over its
seeds; the test score is reported next to it and never used to choose (means within 1e-9 tie,
and ties go to the smaller fraction). It is drawn only from a balanced grid: at least two explore
settings, each finished on the same seeds (so the means compare the same initialisations). The
margin over the runner-up is paired by seed; the choice is called not clear-cut when that margin
is under two standard errors of the paired differences, or rests on one seed. Files written into
the sweep directory, all rewritten from the finished runs: ``results.json`` (every run and the
summary), ``results.md`` (the table), ``explore_sweep.png`` (strip plots of validation score,
test score and sharpness per explore setting, each run a dot, mean ± sd as a bar) and
``recommended.json`` (what ``knee-nlp reproduce --explore-from`` takes: the choice with the
sweep's settings; removed while the grid is unbalanced).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from knee_nlp.atomic import atomic_file, write_text_atomic

METRICS = ("validation", "test", "sharpness")
RECOMMENDATION = "recommended.json"
#: validation means closer than this are a tie (the smaller explore fraction wins)
TIE = 1e-9


def ratio_label(explore_ratio: float) -> str:
    """An explore ratio as a short, unique label: ``0.25``; all digits where ``:g`` would round.

    >>> ratio_label(0.25), ratio_label(0.1234561)
    ('0.25', '0.1234561')
    """
    short = f"{explore_ratio:g}"
    return short if float(short) == explore_ratio else repr(float(explore_ratio))


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (``None`` for one value) and count."""
    values = list(values)
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values)}


def summarize(runs: Sequence[dict[str, Any]]) -> dict[float, dict[str, Any]]:
    """Per explore ratio (ascending): ``validation``/``test``/``sharpness`` spreads and the seeds."""
    groups: dict[float, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(float(run["explore_ratio"]), []).append(run)
    return {
        ratio: {**{metric: spread([run[metric] for run in members]) for metric in METRICS},
                "seeds": sorted(run["seed"] for run in members)}
        for ratio, members in sorted(groups.items())
    }


def balance_problem(summary: dict[float, dict[str, Any]]) -> str | None:
    """Why no recommendation can be drawn from ``summary`` yet (``None``: the grid is balanced)."""
    if len(summary) < 2:
        return "fewer than two explore settings have finished: nothing was compared yet"
    seeds = {ratio: tuple(row["seeds"]) for ratio, row in summary.items()}
    if len(set(seeds.values())) > 1:
        listed = "; ".join(f"{ratio_label(ratio)}: {', '.join(map(str, s))}" for ratio, s in seeds.items())
        return f"the explore settings have finished on different seeds ({listed})"
    return None


def _paired_margin(runs: Sequence[dict[str, Any]], best: float, other: float) -> dict[str, Any]:
    """Mean, standard error and count of the per-seed validation differences ``best - other``."""
    by_seed = {(float(run["explore_ratio"]), run["seed"]): run["validation"] for run in runs}
    seeds = sorted(seed for ratio, seed in by_seed if ratio == best)
    differences = [by_seed[(best, seed)] - by_seed[(other, seed)] for seed in seeds]
    se = statistics.stdev(differences) / math.sqrt(len(differences)) if len(differences) > 1 else None
    return {"mean": statistics.fmean(differences), "se": se, "n": len(differences)}


def recommend(summary: dict[float, dict[str, Any]], runs: Sequence[dict[str, Any]],
              score_name: str) -> dict[str, Any] | None:
    """The explore ratio with the best mean validation score (ties: the smaller ratio), or
    ``None`` while the grid is unbalanced (see :func:`balance_problem`)."""
    if balance_problem(summary):
        return None
    ranked = sorted(summary, key=lambda ratio: (-round(summary[ratio]["validation"]["mean"] / TIE), ratio))
    best, runner_up = ranked[0], ranked[1]
    row = summary[best]
    margin = _paired_margin(runs, best, runner_up)
    record = {
        "explore_ratio": best,
        "chosen_on": f"validation {score_name}, mean over seeds (highest wins; the test score is "
                     f"reported only and was not used to choose)",
        "validation": row["validation"],
        "test": row["test"],
        "sharpness": row["sharpness"],
        "seeds": row["seeds"],
        "candidates": {ratio_label(ratio): {"validation_mean": summary[ratio]["validation"]["mean"],
                                            "validation_sd": summary[ratio]["validation"]["sd"],
                                            "n": summary[ratio]["validation"]["n"]} for ratio in summary},
        "runner_up": {"explore_ratio": runner_up, "validation_margin_paired": margin},
        "notes": [],
    }
    if margin["se"] is None:
        record["notes"].append("one seed per setting: no spread to judge the margin by; run more seeds")
    elif margin["mean"] < 2 * margin["se"]:
        record["notes"].append(
            f"the margin over explore {runner_up:g} ({margin['mean']:.4g}, paired by seed) is under two "
            f"standard errors ({2 * margin['se']:.4g}): the choice is not clear-cut")
    return record


def _cell(stats: dict[str, Any], percent: bool) -> str:
    scale, unit = (100.0, "%") if percent else (1.0, "")
    mean = f"{scale * stats['mean']:.2f}{unit}"
    return mean if stats["sd"] is None else f"{mean} ± {scale * stats['sd']:.2f}"


def _sharpness_cell(stats: dict[str, Any]) -> str:
    return f"{stats['mean']:.4g}" if stats["sd"] is None else f"{stats['mean']:.4g} ± {stats['sd']:.2g}"


def markdown(manifest: dict[str, Any], runs: Sequence[dict[str, Any]], summary: dict[float, dict[str, Any]],
             recommendation: dict[str, Any] | None) -> str:
    """The report as Markdown: data, sharpness settings, the mean ± sd table and every run."""
    backend = manifest["backend"]
    percent = backend["score_format"] == "percent"
    score = backend["score_name"]
    sharp = manifest["settings"]["sharpness"]
    lines = [f"# Explore sweep: {backend['name']}", ""]
    for name, text in manifest.get("data", {}).items():
        lines.append(f"- {name}: {text}")
    lines.append(f"- sharpness: Keskar eps-sharpness, eps {sharp['eps']:g}, {sharp['steps']} ascent steps "
                 f"(lr {sharp['lr']:g}), {sharp['batches']} fixed training batches (seed {sharp['seed']})")
    if sharp["steps"] < 1000:
        lines.append(f"- NOTE: {sharp['steps']} sharpness steps, fewer than the tool's default 1000 "
                     f"(chosen for CPU time; see the README for the convergence check)")
    lines += ["", f"| explore ratio | runs | seeds | validation {score} | test {score} | sharpness |",
              "|---|---|---|---|---|---|"]
    for ratio, row in summary.items():
        mark = " (recommended)" if recommendation and recommendation["explore_ratio"] == ratio else ""
        lines.append(f"| {ratio_label(ratio)}{mark} | {row['validation']['n']} | {', '.join(map(str, row['seeds']))} | "
                     f"{_cell(row['validation'], percent)} | {_cell(row['test'], percent)} | "
                     f"{_sharpness_cell(row['sharpness'])} |")
    lines.append("")
    if recommendation:
        lines.append(f"**Recommended explore ratio: {recommendation['explore_ratio']:g}** "
                     f"(best mean validation {score}: {_cell(recommendation['validation'], percent)} "
                     f"over {recommendation['validation']['n']} seed(s); chosen on validation, never on test).")
        lines += [f"- {note}" for note in recommendation["notes"]]
    elif summary:
        lines.append(f"No recommendation yet: {balance_problem(summary)}.")
    else:
        lines.append("No finished runs yet.")
    lines += ["", "Mean ± sample sd over seeds. Every run:", "",
              f"| run | explore ratio | seed | validation | test | sharpness | sharpness best step |",
              "|---|---|---|---|---|---|---|"]
    scale = 100.0 if percent else 1.0
    for run in runs:
        lines.append(f"| {run['run']} | {run['explore_ratio']:g} | {run['seed']} | {scale * run['validation']:.2f} | "
                     f"{scale * run['test']:.2f} | {run['sharpness']:.4g} | "
                     f"{run['sharpness_detail'].get('best_step')} / {run['sharpness_detail'].get('steps')} |")
    return "\n".join(lines) + "\n"


def figure(manifest: dict[str, Any], summary: dict[float, dict[str, Any]], runs: Sequence[dict[str, Any]],
           path: Path, recommended: float | None) -> Path:
    """Strip plots (one dot per run, mean ± sd bar) of validation, test and sharpness per setting."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    backend = manifest["backend"]
    scale = 100.0 if backend["score_format"] == "percent" else 1.0
    unit = " (%)" if scale == 100.0 else ""
    ratios = list(summary)
    fig = Figure(figsize=(12, 4), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    titles = {"validation": f"validation {backend['score_name']}{unit}",
              "test": f"test {backend['score_name']}{unit}",
              "sharpness": f"sharpness (eps {manifest['settings']['sharpness']['eps']:g})"}
    for ax, metric in zip(axes, METRICS):
        factor = 1.0 if metric == "sharpness" else scale
        for index, ratio in enumerate(ratios):
            values = [factor * run[metric] for run in runs if float(run["explore_ratio"]) == ratio]
            offsets = [0.0] if len(values) == 1 else [-0.15 + 0.3 * i / (len(values) - 1) for i in range(len(values))]
            color = "tab:red" if ratio == recommended else "tab:blue"
            ax.scatter([index + o for o in offsets], values, s=22, alpha=0.75, color=color, zorder=3)
            stats = summary[ratio][metric]
            ax.errorbar([index + 0.3], [factor * stats["mean"]], yerr=[factor * (stats["sd"] or 0.0)],
                        fmt="D", color="black", markersize=4, capsize=3, zorder=4)
        ax.set_xticks(range(len(ratios)), [ratio_label(r) for r in ratios])
        ax.set(xlabel="explore ratio", title=titles[metric])
        ax.grid(alpha=0.3)
    fig.suptitle(f"Explore sweep ({backend['name']}): dots = runs, diamonds = mean ± sd"
                 + (f"; red = recommended on validation ({recommended:g})" if recommended is not None else ""),
                 fontsize=9)
    fig.tight_layout()
    with atomic_file(path) as work:
        fig.savefig(work, format="png")
    return path


def write_report(sweep_dir: Path, manifest: dict[str, Any], runs: Sequence[dict[str, Any]],
                 failures: Sequence[dict[str, Any]] = ()) -> dict[str, Any] | None:
    """(Re)write results.json, results.md, explore_sweep.png and recommended.json (removed while
    the grid is unbalanced) from the finished ``runs``, listing the ``failures`` (runs whose last
    attempt failed); return the recommendation (``None`` while there is none)."""
    runs = sorted(runs, key=lambda run: (run["explore_ratio"], run["seed"]))
    summary = summarize(runs)
    recommendation = recommend(summary, runs, manifest["backend"]["score_name"])
    write_text_atomic(sweep_dir / "results.json", json.dumps(
        {"manifest": manifest, "runs": runs,
         "summary": {ratio_label(ratio): row for ratio, row in summary.items()},
         "recommendation": recommendation, "no_recommendation_because": balance_problem(summary),
         "failed_runs": list(failures)}, indent=1) + "\n")
    text = markdown(manifest, runs, summary, recommendation)
    if failures:
        text += ("\nFailed runs (not in the tables; the same command retries them):\n\n"
                 + "".join(f"- {failure['run']}: {failure['error']}\n" for failure in failures))
    write_text_atomic(sweep_dir / "results.md", text)
    if summary:
        figure(manifest, summary, runs, sweep_dir / "explore_sweep.png",
               recommendation["explore_ratio"] if recommendation else None)
    if recommendation:
        write_text_atomic(sweep_dir / RECOMMENDATION, json.dumps(
            {**recommendation, "backend": manifest["backend"]["name"], "settings": manifest["settings"],
             "sweep_dir": str(sweep_dir), "data": manifest.get("data", {})}, indent=1) + "\n")
    else:
        (sweep_dir / RECOMMENDATION).unlink(missing_ok=True)  # a stale choice must not outlive its grid
    return recommendation
