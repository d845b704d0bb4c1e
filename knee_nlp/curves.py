"""LR curves of a Knee schedule and its baselines over the whole budget, for plots and reports.

The curves come from :data:`knee_nlp.registry.SCHEDULES`. The baselines share Knee's peak, warmup (and initial LR) and budget, so the curves differ only
after warmup. A budget of up to :data:`MAX_POINTS` updates is drawn at every update; a longer one
at ``MAX_POINTS`` evenly spaced updates plus Knee's phase boundaries (so its corners stay exact),
which keeps memory and time bounded for any budget.

>>> knee = KneeSchedule(peak_lr=1.0, total_steps=10, warmup_steps=2, explore_steps=3)
>>> steps, lrs = schedule_curves(knee)["knee"]
>>> [round(lr, 2) for lr in lrs[1:]]
[0.5, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
"""

from __future__ import annotations

from knee_nlp.registry import BASELINES, SCHEDULES
from knee_nlp.schedule import KneeSchedule

__all__ = ["BASELINES", "MAX_POINTS", "curve_steps", "schedule_curves"]

MAX_POINTS = 4096


def curve_steps(knee: KneeSchedule, max_points: int = MAX_POINTS) -> list[int]:
    """Every update ``0..total_steps`` when there are at most ``max_points``, else ``max_points``
    evenly spaced ones plus the phase boundaries and the midpoint, sorted.

    >>> curve_steps(KneeSchedule(peak_lr=1.0, total_steps=10**9, warmup_steps=7), max_points=3)
    [0, 7, 500000000, 500000007, 1000000000]
    """
    total = knee.total_steps
    if total < max_points:
        return list(range(total + 1))
    spaced = {round(index * total / (max_points - 1)) for index in range(max_points)}
    return sorted(spaced | set(knee.boundaries().values()) | {total // 2})


def schedule_curves(
    knee: KneeSchedule, baselines: tuple[str, ...] = BASELINES
) -> dict[str, tuple[list[int], list[float]]]:
    """``{"knee": (steps, lrs), <baseline>: (steps, lrs), ...}`` at the :func:`curve_steps`."""
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise ValueError(f"baselines must be among {list(BASELINES)}, got {unknown}")
    steps = curve_steps(knee)
    return {
        name: (steps, [function(s) for s in steps])
        for name in ("knee", *baselines)
        for function in [SCHEDULES[name].curve(knee)]
    }
