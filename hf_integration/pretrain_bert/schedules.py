"""LR schedulers chosen by the ``schedule`` key: ``knee``, ``linear`` and ``inverse_sqrt``.

All three are ``LambdaLR`` over pure functions of the completed optimizer updates:
``knee`` is :func:`hf_integration.schedule.get_knee_schedule_with_warmup` (which calls
:class:`knee_nlp.schedule.KneeSchedule`), ``linear`` and ``inverse_sqrt`` wrap
:func:`knee_nlp.baselines.linear_lr` and :func:`knee_nlp.baselines.inverse_sqrt_lr`.
The training loop calls ``scheduler.step()`` once per *successful* optimizer update on every
process (the scheduler is not passed to ``accelerator.prepare``), so the LR after ``s``
updates is ``schedule(s)`` whatever the process count or gradient accumulation.

>>> scheduler = build_scheduler("knee", optimizer, phase)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from hf_integration.pretrain_bert.config import SCHEDULES, PhaseConfig
from hf_integration.schedule import get_knee_schedule_with_warmup
from knee_nlp.baselines import inverse_sqrt_lr, linear_lr


def _baseline_lr_lambda(current_step: int, *, function: Callable[..., float], **kwargs: int) -> float:
    return function(current_step, peak_lr=1.0, **kwargs)


def build_scheduler(name: str, optimizer: Optimizer, phase: PhaseConfig) -> LambdaLR:
    """The scheduler for one phase; each param group's current LR is its peak."""
    warmup = phase.num_warmup_steps
    if name == "knee":
        return get_knee_schedule_with_warmup(
            optimizer,
            num_warmup_steps=warmup,
            num_training_steps=phase.total_steps,
            num_explore_steps=phase.explore_steps,
            explore_ratio=phase.explore_ratio,
        )
    if name == "linear":
        lr_lambda = partial(
            _baseline_lr_lambda, function=linear_lr, total_steps=phase.total_steps, warmup_steps=warmup
        )
    elif name == "inverse_sqrt":
        lr_lambda = partial(_baseline_lr_lambda, function=inverse_sqrt_lr, warmup_steps=warmup)
    else:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {name!r}")
    return LambdaLR(optimizer, lr_lambda)
