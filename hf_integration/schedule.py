"""``get_knee_schedule_with_warmup``: the Knee schedule in the style of ``transformers.optimization``.

A drop-in sibling of ``transformers.get_linear_schedule_with_warmup``: a thin alias of
:class:`knee_nlp.KneeLR` (a ``LambdaLR`` over :class:`knee_nlp.schedule.KneeSchedule`) under
transformers' argument names (linear warmup from 0, hold the peak for the explore phase, then
linear decay to ``min_lr_ratio`` times the peak at ``num_training_steps``).

Example::

    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    scheduler = get_knee_schedule_with_warmup(
        optimizer, num_warmup_steps=100, num_training_steps=1000, explore_ratio=0.5
    )
    for batch in loader:
        model(**batch).loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
"""

from __future__ import annotations

from torch.optim import Optimizer

from knee_nlp.torch_scheduler import KneeLR
from knee_nlp.validation import renamed_errors

KNEE_SCHEDULER_NAME = "knee"
"""The ``lr_scheduler_type`` / ``get_scheduler`` name of the Knee schedule."""

#: ``KneeLR``'s argument names -> transformers-style names
TRANSFORMERS_NAMES = {
    "warmup_steps": "num_warmup_steps",
    "total_steps": "num_training_steps",
    "explore_steps": "num_explore_steps",
    "end_factor": "min_lr_ratio",
}


def get_knee_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_explore_steps: int | None = None,
    explore_ratio: float | None = None,
    min_lr_ratio: float = 0.0,
    last_epoch: int = -1,
) -> KneeLR:
    """
    Create a Knee (explore-exploit) schedule: the learning rate increases linearly from 0 to the initial lr set in
    the optimizer during a warmup period, is held at that peak for an explore period, then decreases linearly to
    `min_lr_ratio` times the initial lr at `num_training_steps` and stays there (Iyer et al., arXiv 2003.03977).
    Every param group keeps its own peak, so per-group lr ratios are preserved.

    Args:
        optimizer ([`~torch.optim.Optimizer`]):
            The optimizer for which to schedule the learning rate.
        num_warmup_steps (`int`):
            The number of steps for the warmup phase.
        num_training_steps (`int`):
            The total number of training steps.
        num_explore_steps (`int`, *optional*):
            The number of steps held at the peak lr after warmup. Exclusive with `explore_ratio`.
        explore_ratio (`float`, *optional*):
            The explore phase as a fraction of the whole budget `num_training_steps`, in [0, 1]
            (`floor(explore_ratio * num_training_steps + 0.5)` steps, rounded half up). When neither explore argument is given, 0.5.
        min_lr_ratio (`float`, *optional*, defaults to 0.0):
            The final learning rate as a ratio of the initial lr, in [0, 1] (the paper decays to 0).
        last_epoch (`int`, *optional*, defaults to -1):
            The index of the last epoch when resuming training.

    Raises:
        `ValueError` ([`~knee_nlp.validation.ArgumentError`]): naming the argument, its value and the allowed range, for instance when
        `num_warmup_steps + explore steps > num_training_steps`.

    Returns:
        [`~knee_nlp.KneeLR`], a `torch.optim.lr_scheduler.LambdaLR` with the appropriate schedule.

    Example:

    ```python
    >>> import torch
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> scheduler = get_knee_schedule_with_warmup(optimizer, 2, 10, num_explore_steps=3)
    >>> lrs = []
    >>> for _ in range(10):
    ...     optimizer.step()
    ...     scheduler.step()
    ...     lrs.append(round(scheduler.get_last_lr()[0], 3))
    >>> lrs
    [0.5, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0]

    ```
    """
    with renamed_errors(TRANSFORMERS_NAMES):
        return KneeLR(
            optimizer,
            total_steps=num_training_steps,
            warmup_steps=num_warmup_steps,
            explore_steps=num_explore_steps,
            explore_ratio=explore_ratio,
            end_factor=min_lr_ratio,
            last_epoch=last_epoch,
        )
