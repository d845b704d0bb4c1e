"""LR schedulers chosen by the ``schedule`` key, from :data:`knee_nlp.registry.SCHEDULES`.

Each name is built by the factory its registry entry names: Knee by :class:`knee_nlp.KneeLR`,
the baselines by transformers' own ``get_inverse_sqrt_schedule``,
``get_linear_schedule_with_warmup`` and ``get_cosine_schedule_with_warmup`` (so a comparison
with them is a comparison with what transformers users run). All are ``LambdaLR`` over functions
of the completed optimizer updates. The training loop calls ``scheduler.step()`` once per
*successful* optimizer update on every process (the scheduler is not passed to
``accelerator.prepare``), so the LR after ``s`` updates is ``schedule(s)`` whatever the process
count or gradient accumulation.

>>> scheduler = build_scheduler("knee", optimizer, phase)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from hf_integration.pretrain_bert.config import PhaseConfig
from knee_nlp.registry import schedule_spec


def build_scheduler(name: str, optimizer: Optimizer, phase: PhaseConfig) -> LRScheduler:
    """The scheduler for one phase; each param group's current LR is its peak."""
    spec = schedule_spec(name)
    module, _, attribute = spec.torch_factory.partition(":")
    factory = getattr(importlib.import_module(module), attribute)
    return factory(
        optimizer,
        **spec.torch_kwargs(
            total_steps=phase.total_steps,
            warmup_steps=phase.num_warmup_steps,
            explore_steps=phase.explore_steps,
            explore_ratio=phase.explore_ratio,
        ),
    )
