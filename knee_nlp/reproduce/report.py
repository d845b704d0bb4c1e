"""Write ``results.json``, ``results.md`` and the PNG plots of a reproduce run directory.

Reads ``reproduce.json`` (experiment, data, paper numbers) and every finished
``runs/*/result.json``; unfinished runs are listed as such, never silently dropped. The files are
derived from the runs, so re-writing them (``knee-nlp report``) is always safe.

Example::

    write_report(Path("runs/tiny"))    # runs/tiny/results.md, results.json, lr_50ep.png, ...
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from knee_nlp.atomic import write_text_atomic
from knee_nlp.errors import UserError
from knee_nlp.plotting import new_figure, plot_curves, save_figure
from knee_nlp.reproduce.aggregate import aggregate
from knee_nlp.reproduce.config import BASELINE_SCHEDULE, SCHEDULES
from knee_nlp.reproduce.layout import (MANIFEST, RESULT, RESULTS_JSON, RESULTS_MARKDOWN, read_state,
                                      run_directories)
from knee_nlp.reproduce.quiet import quiet


class ReportError(UserError, FileNotFoundError):
    """The directory is not a reproduce run directory, or holds no finished run."""


def load_run_dir(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """(manifest, finished results, names of unfinished runs) of a run directory."""
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise ReportError(f"{run_dir} is not a knee-nlp reproduce run directory (no {MANIFEST})")
    manifest = read_state(manifest_path)
    results, unfinished = [], []
    for directory in run_directories(run_dir):
        result = directory / RESULT
        if result.is_file():
            results.append(read_state(result))
        else:
            unfinished.append(directory.name)
    if not results:
        raise ReportError(f"{run_dir} has no finished run yet (unfinished: {unfinished})")
    return manifest, results, unfinished


def _order(schedule: str) -> int:
    return list(SCHEDULES).index(schedule)


def _budget_epochs(rows: dict) -> dict[str, float]:
    return {budget: row["epochs"] for (budget, _), row in rows.items()}


def _fmt(stat: dict | None, digits: int = 2) -> str:
    if not stat:
        return "-"
    text = f"{stat['mean']:.{digits}f}"
    return f"{text} ± {stat['std']:.{digits}f}" if stat["n"] > 1 else text


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _updates(value: int | None, budget: int) -> str:
    return "not reached" if value is None else f"{value} ({100 * value / budget:.0f}%)"


def _label(manifest: dict) -> str:
    return "SYNTHETIC data" if manifest["data"]["synthetic"] else f"data: {manifest['data']['origin']}"


def _schedule_label(schedule: str, row: dict) -> str:
    """``knee (explore 0.75)``: a Knee row names the explore fraction its runs used."""
    explore = row["lr_scheduler"].get("explore_ratio")
    return schedule if explore is None else f"{schedule} (explore {explore:g})"


def _table(manifest: dict, rows: dict, budget: str) -> list[str]:
    paper = {} if manifest["data"]["synthetic"] else manifest["paper"]["bleu"].get(budget, {})
    budget_rows = sorted(((s, r) for (b, s), r in rows.items() if b == budget),
                         key=lambda item: _order(item[0]))
    base = rows.get((budget, BASELINE_SCHEDULE))
    lines = [
        f"| schedule | test BLEU (tok.) | sacreBLEU | Δ BLEU vs {BASELINE_SCHEDULE} | final valid loss "
        f"| updates to baseline's final valid BLEU | updates to baseline's final valid loss "
        f"| paper BLEU | seeds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for schedule, row in budget_rows:
        reach = {m: ("baseline" if schedule == BASELINE_SCHEDULE else
                     _updates(row[f"updates_to_baseline_{m}"], row["max_update"]) if base and base[m]
                     else "-") for m in ("valid_bleu", "valid_loss")}
        paper_bleu = paper.get(schedule)
        lines.append(
            f"| {_schedule_label(schedule, row)} | {_fmt(row['bleu_tokenized'])} | {_fmt(row['sacrebleu'])} "
            f"| {_signed(row['delta_bleu_vs_baseline'])} | {_fmt(row['valid_loss'], 3)} "
            f"| {reach['valid_bleu']} | {reach['valid_loss']} "
            f"| {'-' if paper_bleu is None else f'{paper_bleu:.2f}'} | {len(row['seeds'])} |")
    return lines


def _markdown(manifest: dict, rows: dict, results: list[dict], unfinished: list[str]) -> str:
    budgets = sorted(_budget_epochs(rows).items(), key=lambda item: -item[1])
    first = results[0]
    lines = [f"# Knee vs {BASELINE_SCHEDULE}: {manifest['title']} ({manifest['preset']} preset, "
             f"{_label(manifest)})", ""]
    if manifest["data"]["synthetic"]:
        lines += ["> **Synthetic data.** No prepared data was found, so these runs used the "
                  "synthetic corpus built into knee-nlp. They test the pipeline, not the paper's "
                  "claims; the paper's numbers are not shown. Prepare the real data with "
                  "`knee-nlp data ...` and pass `--data-dir`.", ""]
    for budget, epochs in budgets:
        max_update = next(r["max_update"] for (b, _), r in rows.items() if b == budget)
        lines += [f"## Test BLEU, {epochs:g} epochs ({max_update} updates)", "",
                  *_table(manifest, rows, budget), ""]
    lines += [
        "Mean ± sample standard deviation over seeds. *test BLEU (tok.)* is fairseq's BLEU4 on "
        "the tokenized, BPE-removed test set (what the paper reports); *sacreBLEU* is on "
        "Moses-detokenized text. *Updates to baseline's final ...*: the first validated update "
        f"at which the schedule reached the {BASELINE_SCHEDULE} runs' mean final validation value, "
        "averaged over seeds and rounded up (percent of its own budget; each seed's update is in "
        "results.json); '-' where the configs do not validate with --eval-bleu.", "",
        "## Setup", "",
        f"- data: {manifest['data']['kind']}: {manifest['data']['origin']}; pairs "
        + ", ".join(f"{k} {v}" for k, v in manifest["data"]["pairs"].items()),
        "- budgets: epochs converted to updates by counting fairseq's own training batches "
        "(`--max-update` = `--total-num-update` = epochs x updates/epoch, `--max-epoch` = epochs): "
        + "; ".join(sorted({f"{r['budget']} = {r['epochs']:g} x {r['updates_per_epoch']} = "
                            f"{r['max_update']} updates" for r in results})),
        f"- batch: {first['batching']['gpus']} device(s) x {first['batching']['max_tokens']} "
        f"tokens x update_freq {first['batching']['update_freq']} = "
        f"{first['batching']['global_tokens']} tokens per update",
        *_checkpoint_lines(results),
        f"- sacreBLEU signature: `{first['test']['sacrebleu_signature']}`",
    ]
    errors = [r["lr_max_relative_error"] for r in rows.values()
              if r["lr_max_relative_error"] is not None]
    if errors:
        lines.append(f"- logged Knee LRs vs `knee_nlp.KneeSchedule`: max |error| / peak = "
                     f"{max(errors):.1e}")
    if not manifest["data"]["synthetic"]:
        lines.append(f"- paper: {manifest['paper']['source']}. {manifest['paper']['note']}")
    lines += _resume_lines(results)
    if unfinished:
        lines.append(f"- **unfinished runs (not in the table):** {', '.join(unfinished)}")
    lines += ["", "## Plots", ""]
    for budget, _ in budgets:
        if any(r["curves"]["lr"] for r in results if r["budget"] == budget):
            lines.append(f"![LR, {budget}](lr_{budget}.png)")
        lines.append(f"![valid loss, {budget}](valid_loss_{budget}.png)")
    lines += ["![BLEU vs budget](bleu_vs_budget.png)", ""]
    return "\n".join(lines)


def _checkpoint_lines(results: list[dict]) -> list[str]:
    """The evaluated checkpoint of each budget (every run of a budget evaluates the same epochs)."""
    evaluated = {}
    for result in results:
        evaluated.setdefault(result["budget"], f"{result['checkpoint']} (average of "
                                               f"{', '.join(result['averaged_checkpoints'])})")
    return [f"- evaluated checkpoint, {budget}: {text}" for budget, text in sorted(evaluated.items())]


def _resume_lines(results: list[dict]) -> list[str]:
    """One line per interrupted run: the checkpoints it resumed from and the damaged ones skipped."""
    lines = []
    for result in results:
        entries = result.get("resumes", [])  # absent in runs finished before it was recorded
        if not entries:
            continue
        starts = "; ".join(f"{entry['checkpoint']} ({entry['updates']} updates)"
                           + "".join(f", skipping damaged {skip['file']} ({skip['reason']})"
                                     for skip in entry["skipped"])
                           for entry in entries)
        lines.append(f"- resumed: {result['name']} from {starts}")
    if lines:
        lines.append("- a resume continues the LR trajectory and repeats the uninterrupted run's "
                     "updates (same batches, dropout and optimizer state; see the README's "
                     "Reliability section)")
    return lines


def _mean_curve(runs: list[dict], key: str) -> tuple[list[int], list[float]]:
    by_update: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        for update, value in run["curves"][key]:
            by_update[int(update)].append(value)
    updates = sorted(u for u, values in by_update.items() if len(values) == len(runs))
    return updates, [statistics.fmean(by_update[u]) for u in updates]


def _plot_bleu_vs_budget(rows: dict, path: Path, title: str) -> None:
    fig, ax = new_figure()
    for schedule in sorted({s for _, s in rows}, key=_order):
        points = sorted((r["epochs"], r["bleu_tokenized"]) for (_, s), r in rows.items()
                        if s == schedule)
        ax.errorbar([p[0] for p in points], [p[1]["mean"] for p in points],
                    yerr=[p[1]["std"] for p in points], marker="o", capsize=3, label=schedule)
    ax.set(title=title, xlabel="budget (epochs)", ylabel="test BLEU (tokenized)")
    save_figure(fig, ax, path)


def _plots(run_dir: Path, manifest: dict, rows: dict, results: list[dict]) -> list[Path]:
    data = "SYNTHETIC data" if manifest["data"]["synthetic"] else "real data"
    tag = f"{manifest['experiment']}, {manifest['preset']}, {data}"
    paths = []
    for budget in sorted({r["budget"] for r in results}):
        runs = defaultdict(list)
        for result in results:
            if result["budget"] == budget:
                runs[result["schedule"]].append(result)
        order = sorted(runs, key=_order)
        lr = {s: tuple(zip(*runs[s][0]["curves"]["lr"])) for s in order if runs[s][0]["curves"]["lr"]}
        if lr:
            paths.append(plot_curves(lr, run_dir / f"lr_{budget}.png", ylabel="learning rate (logged)",
                                     title=f"LR per schedule, {budget} ({tag})"))
        loss = {s: _mean_curve(runs[s], "valid_loss") for s in order}
        paths.append(plot_curves(loss, run_dir / f"valid_loss_{budget}.png", ylabel="validation loss",
                                 title=f"Validation loss, {budget} ({tag})"))
    path = run_dir / "bleu_vs_budget.png"
    _plot_bleu_vs_budget(rows, path, f"Test BLEU vs budget ({tag})")
    return [*paths, path]


def write_report(run_dir: Path) -> dict[str, Path]:
    """Write the report files into ``run_dir``; returns ``{"json", "markdown", "plots"...}``."""
    run_dir = Path(run_dir)
    manifest, results, unfinished = load_run_dir(run_dir)
    return write_summary(run_dir, manifest, results, unfinished)


def write_summary(output_dir: Path, manifest: dict[str, Any], results: list[dict[str, Any]],
                  unfinished: list[str], *, extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write results.json (plus ``extra``), results.md and the plots of ``results`` into ``output_dir``."""
    rows = aggregate(results)
    summary = {
        "experiment": manifest["experiment"], "title": manifest["title"],
        "preset": manifest["preset"], "synthetic_data": manifest["data"]["synthetic"],
        "data": manifest["data"], "baseline": BASELINE_SCHEDULE,
        "budget_conversion": {r["name"]: {"epochs": r["epochs"],
                                          "updates_per_epoch": r["updates_per_epoch"],
                                          "max_update": r["max_update"],
                                          "batching": r["batching"]} for r in results},
        "rows": list(rows.values()),
        "paper": None if manifest["data"]["synthetic"] else manifest["paper"],
        "runs": [{**{key: r[key] for key in ("name", "schedule", "budget", "seed", "lr_scheduler",
                                             "checkpoint", "averaged_checkpoints", "test")},
                  "validation_curves": {metric: r["curves"][metric] for metric in ("valid_loss", "valid_bleu")},
                  "resumes": r.get("resumes", [])} for r in results],
        "unfinished_runs": unfinished,
        **(extra or {}),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path = output_dir / RESULTS_JSON
    write_text_atomic(json_path, json.dumps(summary, indent=2) + "\n")
    markdown = output_dir / RESULTS_MARKDOWN
    write_text_atomic(markdown, _markdown(manifest, rows, results, unfinished))
    with quiet():
        plots = _plots(output_dir, manifest, rows, results)
    return {"json": json_path, "markdown": markdown, "plots": plots}
