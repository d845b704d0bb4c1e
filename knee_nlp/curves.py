"""LR curves of Knee and its baselines over a whole budget, for plots and reports.

>>> curves = schedule_curves(peak_lr=1.0, total_steps=10, warmup_steps=2, explore_steps=3)
>>> [round(lr, 2) for lr in curves["knee"][1][1:]]
[0.5, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
"""

from __future__ import annotations

from knee_nlp.baselines import cosine_lr, inverse_sqrt_lr, linear_lr
from knee_nlp.schedule import KneeSchedule

BASELINES = ("inverse_sqrt", "linear", "cosine")


def schedule_curves(
    *,
    peak_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    explore_steps: int | None = None,
    explore_ratio: float | None = None,
    warmup_init_lr: float = 0.0,
    end_lr: float = 0.0,
    baselines: tuple[str, ...] = BASELINES,
) -> dict[str, tuple[list[int], list[float]]]:
    """``{"knee": (steps, lrs), <baseline>: (steps, lrs), ...}`` for steps ``0..total_steps``."""
    knee = KneeSchedule(
        peak_lr=peak_lr, total_steps=total_steps, warmup_steps=warmup_steps,
        explore_steps=explore_steps, explore_ratio=explore_ratio,
        warmup_init_lr=warmup_init_lr, end_lr=end_lr,
    )
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise ValueError(f"baselines must be among {list(BASELINES)}, got {unknown}")
    functions = {
        "knee": knee,
        "inverse_sqrt": lambda s: inverse_sqrt_lr(
            s, peak_lr=peak_lr, warmup_steps=warmup_steps, warmup_init_lr=warmup_init_lr),
        "linear": lambda s: linear_lr(
            s, peak_lr=peak_lr, total_steps=total_steps, warmup_steps=warmup_steps,
            warmup_init_lr=warmup_init_lr),
        "cosine": lambda s: cosine_lr(
            s, peak_lr=peak_lr, total_steps=total_steps, warmup_steps=warmup_steps,
            warmup_init_lr=warmup_init_lr),
    }
    steps = list(range(total_steps + 1))
    return {name: (steps, [functions[name](s) for s in steps]) for name in ("knee", *baselines)}
