"""Aggregate finished runs into the rows of the paper-style table (Tables 5-7).

Per (budget, schedule): mean and sample standard deviation over seeds of test BLEU (tokenized
and sacreBLEU) and the final validation loss; the difference from the inverse-sqrt baseline at
the same budget; and the updates each schedule needed to first reach the baseline's *final*
validation BLEU and validation loss (from the per-epoch validation curves): the mean over seeds
of each seed's first validated update, rounded up (``None`` if a seed never reached it), with the
per-seed updates beside it.

Example::

    rows = aggregate(results)           # results: list of result.json dicts
    rows[("50ep", "knee")]["bleu_tokenized"]["mean"]
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from typing import Any

from knee_nlp.errors import InvalidInputError
from knee_nlp.reproduce.config import BASELINE_SCHEDULE, SCHEDULES, knee_schedule


def spread(values: list[float]) -> dict[str, float | int]:
    """Mean, sample standard deviation (0 for one value) and count.

    >>> spread([1.0, 3.0])
    {'mean': 2.0, 'std': 1.4142135623730951, 'n': 2}
    """
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "n": len(values)}


def first_update_reaching(points: list[list[float]], target: float, *, higher_is_better: bool) -> int | None:
    """First update whose value reaches ``target`` (>= when higher is better, else <=).

    >>> first_update_reaching([[10, 5.0], [20, 4.0], [30, 3.5]], 4.0, higher_is_better=False)
    20
    """
    for update, value in points:
        if (value >= target) if higher_is_better else (value <= target):
            return int(update)
    return None


def lr_max_relative_error(result: dict[str, Any]) -> float | None:
    """Largest |logged - KneeSchedule| / peak over the logged LRs of a Knee run (None for another
    schedule). A run read back from a published report has no logged LR: it keeps the check its
    report made (``result["lr_max_relative_error"]``, None if absent)."""
    if SCHEDULES.get(result["schedule"]) != "knee":
        return None
    if not result["curves"]["lr"]:
        return result.get("lr_max_relative_error")
    schedule = knee_schedule(result["lr_scheduler"], result["peak_lr"], result["max_update"])
    errors = [abs(lr - schedule(int(update))) / schedule.peak_lr
              for update, lr in result["curves"]["lr"]]
    return max(errors, default=None)


def _final(points: list[list[float]]) -> float | None:
    return points[-1][1] if points else None


#: what the seeds of one row must share: the LR schedule, the peak LR and the batch (updates, devices)
SHARED_SETTINGS = ("lr_scheduler", "peak_lr", "batching", "max_update")


def _check_same_schedule(budget: str, schedule: str, runs: list[dict[str, Any]]) -> None:
    """The seeds of one row must share :data:`SHARED_SETTINGS` (else their mean means nothing)."""
    for key in SHARED_SETTINGS:
        settings = {json.dumps(run.get(key), sort_keys=True): run["seed"] for run in runs}
        if len(settings) > 1:
            listed = "; ".join(f"seed {seed}: {setting}" for setting, seed in settings.items())
            raise InvalidInputError(f"the {schedule}-{budget} runs differ in their {key} settings "
                                    f"({listed}): they cannot be averaged into one row")


def aggregate(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Table rows keyed by ``(budget, schedule)``; see the module docstring for the columns."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        groups[(result["budget"], result["schedule"])].append(result)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for (budget, schedule), runs in sorted(groups.items()):
        runs.sort(key=lambda run: run["seed"])
        _check_same_schedule(budget, schedule, runs)
        valid_loss = [v for v in (_final(r["curves"]["valid_loss"]) for r in runs) if v is not None]
        valid_bleu = [v for v in (_final(r["curves"]["valid_bleu"]) for r in runs) if v is not None]
        rows[(budget, schedule)] = {
            "budget": budget, "schedule": schedule, "epochs": runs[0]["epochs"],
            "max_update": runs[0]["max_update"], "seeds": [r["seed"] for r in runs],
            "lr_scheduler": runs[0]["lr_scheduler"],
            "bleu_tokenized": spread([r["test"]["bleu_tokenized"] for r in runs]),
            "sacrebleu": spread([r["test"]["sacrebleu"] for r in runs]),
            "valid_loss": spread(valid_loss) if valid_loss else None,
            "valid_bleu": spread(valid_bleu) if valid_bleu else None,
            "lr_max_relative_error": max(
                (e for e in map(lr_max_relative_error, runs) if e is not None), default=None),
        }
    for (budget, schedule), row in rows.items():
        base = rows.get((budget, BASELINE_SCHEDULE))
        runs = groups[(budget, schedule)]
        row["delta_bleu_vs_baseline"] = (
            row["bleu_tokenized"]["mean"] - base["bleu_tokenized"]["mean"] if base else None)
        row["delta_sacrebleu_vs_baseline"] = (
            row["sacrebleu"]["mean"] - base["sacrebleu"]["mean"] if base else None)
        for metric, higher in (("valid_bleu", True), ("valid_loss", False)):
            key = f"updates_to_baseline_{metric}"
            if not base or not base[metric]:
                row[key] = None
                continue
            reached = [first_update_reaching(r["curves"][metric], base[metric]["mean"],
                                             higher_is_better=higher) for r in runs]
            row[f"{key}_per_seed"] = dict(zip(row["seeds"], reached))
            row[key] = (None if any(u is None for u in reached)
                        else math.ceil(statistics.fmean(reached)))
    return rows
