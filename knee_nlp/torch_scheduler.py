"""``KneeLR``: the Knee schedule as a ``torch.optim.lr_scheduler.LRScheduler``.

Each param group keeps its own peak (its ``lr`` when the scheduler is built, saved as
``initial_lr``) and follows ``peak * multiplier(step)``, so per-group LR ratios are preserved.
The LR is a closed-form function of ``last_epoch`` (the number of ``scheduler.step()`` calls),
so a restored scheduler continues on exactly the same trajectory.

Example::

    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    scheduler = KneeLR(optimizer, total_steps=10_000, warmup_steps=500, explore_ratio=0.5)
    for batch in loader:
        loss(model, batch).backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from knee_nlp.schedule import KneeSchedule
from knee_nlp.validation import check_number


class KneeLR(LRScheduler):
    """Warmup, explore at each group's peak LR, then linear decay (see :class:`KneeSchedule`).

    Args:
        optimizer: wrapped optimizer; each group's current ``lr`` is its peak.
        total_steps: budget in ``scheduler.step()`` calls (optimizer updates).
        warmup_steps: linear warmup length.
        explore_steps: steps held at the peak after warmup (exclusive with ``explore_ratio``).
        explore_ratio: explore as a fraction of ``total_steps`` (default 0.5 if neither given).
        warmup_start_factor: LR at step 0 as a fraction of the peak, in [0, 1].
        end_factor: LR at ``total_steps`` as a fraction of the peak, in [0, 1] (paper: 0).
        last_epoch: index of the last completed step when resuming without a state dict.

    ``state_dict()`` saves ``last_epoch``, every group's ``base_lrs`` (peaks) and the schedule
    settings; ``load_state_dict`` restores them and writes the matching LR into the optimizer.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total_steps: int,
        warmup_steps: int = 0,
        explore_steps: int | None = None,
        explore_ratio: float | None = None,
        warmup_start_factor: float = 0.0,
        end_factor: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        for name, value in (("warmup_start_factor", warmup_start_factor), ("end_factor", end_factor)):
            if check_number(name, value) > 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        self.schedule = KneeSchedule(
            peak_lr=1.0,
            total_steps=total_steps,
            warmup_steps=warmup_steps,
            explore_steps=explore_steps,
            explore_ratio=explore_ratio,
            warmup_init_lr=warmup_start_factor,
            end_lr=end_factor,
        )
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """LR of every group at the current ``last_epoch``."""
        factor = self.schedule.multiplier(max(self.last_epoch, 0))
        return [base_lr * factor for base_lr in self.base_lrs]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer: ``last_epoch``, ``base_lrs`` and the schedule."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the step counter, peaks and schedule, and set the optimizer's LRs to match."""
        self.__dict__.update(state_dict)
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr
