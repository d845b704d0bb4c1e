"""LR curves of a Knee schedule and its baselines over the whole budget, for plots and reports.

The curves come from :data:`knee_nlp.registry.SCHEDULES`. The baselines share Knee's peak, warmup (and initial LR) and budget, so the curves differ only
after warmup.

>>> knee = KneeSchedule(peak_lr=1.0, total_steps=10, warmup_steps=2, explore_steps=3)
>>> steps, lrs = schedule_curves(knee)["knee"]
>>> [round(lr, 2) for lr in lrs[1:]]
[0.5, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
"""

from __future__ import annotations

from knee_nlp.registry import BASELINES, SCHEDULES
from knee_nlp.schedule import KneeSchedule

__all__ = ["BASELINES", "schedule_curves"]


def schedule_curves(
    knee: KneeSchedule, baselines: tuple[str, ...] = BASELINES
) -> dict[str, tuple[list[int], list[float]]]:
    """``{"knee": (steps, lrs), <baseline>: (steps, lrs), ...}`` for steps ``0..total_steps``."""
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise ValueError(f"baselines must be among {list(BASELINES)}, got {unknown}")
    steps = list(range(knee.total_steps + 1))
    return {
        name: (steps, [function(s) for s in steps])
        for name in ("knee", *baselines)
        for function in [SCHEDULES[name].curve(knee)]
    }
