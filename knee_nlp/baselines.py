"""Baseline schedules the paper compares Knee against, as pure functions of the step.

They follow the same step convention as :mod:`knee_nlp.schedule` (LR after ``step`` updates)
and the formulas of the frameworks that run them: ``inverse_sqrt`` is fairseq's, ``linear``
and ``cosine`` are transformers' ``get_linear_schedule_with_warmup`` and
``get_cosine_schedule_with_warmup``.

>>> round(inverse_sqrt_lr(16, peak_lr=1.0, warmup_steps=4), 3)
0.5
"""

from __future__ import annotations

import math


def _warmup(step: int, peak_lr: float, warmup_steps: int, warmup_init_lr: float) -> float:
    return warmup_init_lr + (peak_lr - warmup_init_lr) * step / warmup_steps


def inverse_sqrt_lr(
    step: int, *, peak_lr: float, warmup_steps: int, warmup_init_lr: float = 0.0
) -> float:
    """fairseq's ``inverse_sqrt``: linear warmup, then ``peak * sqrt(warmup / step)``."""
    if step < warmup_steps:
        return _warmup(step, peak_lr, warmup_steps, warmup_init_lr)
    return peak_lr * math.sqrt(max(warmup_steps, 1) / max(step, 1))


def linear_lr(
    step: int, *, peak_lr: float, total_steps: int, warmup_steps: int = 0, warmup_init_lr: float = 0.0
) -> float:
    """Linear warmup, then linear decay to 0 at ``total_steps`` (the paper's BERT baseline)."""
    if step < warmup_steps:
        return _warmup(step, peak_lr, warmup_steps, warmup_init_lr)
    remaining = max(total_steps - step, 0) / max(total_steps - warmup_steps, 1)
    return peak_lr * remaining


def cosine_lr(
    step: int, *, peak_lr: float, total_steps: int, warmup_steps: int = 0, warmup_init_lr: float = 0.0
) -> float:
    """Linear warmup, then half a cosine from the peak to 0 at ``total_steps``."""
    if step < warmup_steps:
        return _warmup(step, peak_lr, warmup_steps, warmup_init_lr)
    progress = min(1.0, (step - warmup_steps) / max(total_steps - warmup_steps, 1))
    return peak_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
