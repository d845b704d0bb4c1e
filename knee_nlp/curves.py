"""LR curves of a Knee schedule and its baselines over the whole budget, for plots and reports.

The baselines share Knee's peak, warmup (and initial LR) and budget, so the curves differ only
after warmup.

>>> knee = KneeSchedule(peak_lr=1.0, total_steps=10, warmup_steps=2, explore_steps=3)
>>> steps, lrs = schedule_curves(knee)["knee"]
>>> [round(lr, 2) for lr in lrs[1:]]
[0.5, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from knee_nlp.baselines import cosine_lr, inverse_sqrt_lr, linear_lr
from knee_nlp.schedule import KneeSchedule

BASELINES = ("inverse_sqrt", "linear", "cosine")


def baseline_functions(knee: KneeSchedule) -> dict[str, Callable[[int], float]]:
    """Each baseline as a ``step -> lr`` function with ``knee``'s peak, warmup and budget."""
    shared = dict(peak_lr=knee.peak_lr, warmup_steps=knee.warmup_steps, warmup_init_lr=knee.warmup_init_lr)
    return {
        "inverse_sqrt": partial(inverse_sqrt_lr, **shared),
        "linear": partial(linear_lr, total_steps=knee.total_steps, **shared),
        "cosine": partial(cosine_lr, total_steps=knee.total_steps, **shared),
    }


def schedule_curves(
    knee: KneeSchedule, baselines: tuple[str, ...] = BASELINES
) -> dict[str, tuple[list[int], list[float]]]:
    """``{"knee": (steps, lrs), <baseline>: (steps, lrs), ...}`` for steps ``0..total_steps``."""
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise ValueError(f"baselines must be among {list(BASELINES)}, got {unknown}")
    functions = {"knee": knee, **baseline_functions(knee)}
    steps = list(range(knee.total_steps + 1))
    return {name: (steps, [functions[name](s) for s in steps]) for name in ("knee", *baselines)}
