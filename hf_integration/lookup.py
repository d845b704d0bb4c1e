"""``get_scheduler``: ``transformers.get_scheduler`` that also knows ``"knee"``.

transformers' scheduler registry is a closed enum, and this package does not patch it at
import. Call this function where you would call ``transformers.get_scheduler``: ``"knee"``
builds :func:`~hf_integration.schedule.get_knee_schedule_with_warmup`, every other name is
passed unchanged to ``transformers.get_scheduler``.

Example::

    scheduler = get_scheduler(
        "knee", optimizer, num_warmup_steps=100, num_training_steps=1000,
        scheduler_specific_kwargs={"explore_ratio": 0.5},
    )
"""

from __future__ import annotations

from typing import Any

import transformers
from torch.optim import Optimizer
from transformers.trainer_pt_utils import LayerWiseDummyOptimizer

from hf_integration.schedule import KNEE_SCHEDULER_NAME, get_knee_schedule_with_warmup


def get_scheduler(
    name: str | transformers.SchedulerType,
    optimizer: Optimizer,
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    scheduler_specific_kwargs: dict[str, Any] | None = None,
) -> Any:
    """
    Unified API to get any scheduler from its name, `"knee"` included.

    Args:
        name (`str` or `SchedulerType`):
            The name of the scheduler to use: `"knee"` or any name `transformers.get_scheduler` accepts.
        optimizer (`torch.optim.Optimizer`):
            The optimizer that will be used during training.
        num_warmup_steps (`int`, *optional*):
            The number of warmup steps to do (required for `"knee"`).
        num_training_steps (`int`, *optional*):
            The number of training steps to do (required for `"knee"`).
        scheduler_specific_kwargs (`dict`, *optional*):
            Extra parameters; for `"knee"`: `num_explore_steps`, `explore_ratio` and `min_lr_ratio` of
            [`get_knee_schedule_with_warmup`]. Unknown keys raise a `TypeError`.
    """
    if name != KNEE_SCHEDULER_NAME:
        return transformers.get_scheduler(
            name,
            optimizer,
            num_warmup_steps=num_warmup_steps,
            num_training_steps=num_training_steps,
            scheduler_specific_kwargs=scheduler_specific_kwargs,
        )
    for argument, value in (("num_warmup_steps", num_warmup_steps), ("num_training_steps", num_training_steps)):
        if value is None:
            raise ValueError(f"{KNEE_SCHEDULER_NAME} requires `{argument}`, please provide that argument.")
    if isinstance(optimizer, LayerWiseDummyOptimizer):
        raise ValueError(
            f"the {KNEE_SCHEDULER_NAME} schedule does not support layer-wise optimizers (optim='*_layerwise')"
        )
    return get_knee_schedule_with_warmup(
        optimizer, num_warmup_steps, num_training_steps, **(scheduler_specific_kwargs or {})
    )
