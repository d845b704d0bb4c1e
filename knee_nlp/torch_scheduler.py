"""``KneeLR``: the Knee schedule as a ``torch.optim.lr_scheduler.LambdaLR``.

The one torch adapter of the schedule: :func:`hf_integration.get_knee_schedule_with_warmup` is a
thin alias that maps transformers' argument names onto it. Each param group keeps its own peak
(its ``lr`` when the scheduler is built, saved as ``initial_lr``) and follows
``peak * multiplier(step)``, so per-group LR ratios are preserved. The multiplier is a closed-form
function of ``last_epoch`` (the number of ``scheduler.step()`` calls), bound with
``functools.partial`` as transformers does, so a restored scheduler continues on exactly the
same trajectory and the scheduler pickles.

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

import warnings
from functools import partial
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from knee_nlp.schedule import KneeSchedule, check_explore, describe_settings
from knee_nlp.validation import ArgumentError, renamed_errors

#: core argument names -> ``KneeLR``'s (its LRs are fractions of each group's peak)
KNEE_LR_NAMES = {"warmup_init_lr": "warmup_start_factor", "end_lr": "end_factor", "peak_lr": "peak"}


def _knee_lr_lambda(current_step: int, *, schedule: KneeSchedule) -> float:
    return schedule.multiplier(max(current_step, 0))


class KneeLR(LambdaLR):
    """Warmup, explore at each group's peak LR, then linear decay (see :class:`KneeSchedule`).

    Args:
        optimizer: wrapped optimizer; each group's current ``lr`` is its peak.
        total_steps: budget in ``scheduler.step()`` calls (optimizer updates).
        warmup_steps: linear warmup length.
        explore_steps: steps held at the peak after warmup (exclusive with ``explore_ratio``).
        explore_ratio: explore as a fraction of ``total_steps`` (default 0.5 if neither given).
        warmup_start_factor: LR at step 0 as a fraction of the peak, in [0, 1].
        end_factor: LR at ``total_steps`` as a fraction of the peak, in [0, 1] (paper: 0).
        last_epoch: index of the last completed step when resuming without a state dict (every
            group then needs its ``initial_lr``, as for any torch scheduler).

    Raises:
        ArgumentError: (a ``ValueError``) naming the argument, its value and the allowed range.
        TypeError: when ``optimizer`` has no ``param_groups`` (is not an optimizer).

    Settings may be Python numbers, numpy scalars or 0-d tensors (see :mod:`knee_nlp.validation`).

    ``state_dict()`` saves ``last_epoch``, every group's ``base_lrs`` (peaks) and the
    ``schedule``; ``load_state_dict`` restores the step and peaks and writes the matching LR into
    the optimizer. The schedule stays the one this scheduler was built with, as for torch's and
    transformers' schedules; a ``KneeScheduleChangedWarning`` says when it differs from the saved one,
    and ``schedule_change`` keeps that message (``None`` when the schedules match or nothing was loaded).
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
        if not isinstance(getattr(optimizer, "param_groups", None), list):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer (with param_groups), "
                            f"got {type(optimizer).__name__}")
        if last_epoch >= 0 and any("initial_lr" not in group for group in optimizer.param_groups):
            raise ArgumentError("last_epoch", last_epoch, "-1 unless every param group has an 'initial_lr' "
                                "(restore the optimizer's state first when resuming)")
        with renamed_errors(KNEE_LR_NAMES):
            check_explore(explore_steps, explore_ratio)
            self.schedule = KneeSchedule(
                peak_lr=1.0,
                total_steps=total_steps,
                warmup_steps=warmup_steps,
                explore_steps=explore_steps,
                explore_ratio=explore_ratio,
                warmup_init_lr=warmup_start_factor,
                end_lr=end_factor,
            )
        super().__init__(optimizer, partial(_knee_lr_lambda, schedule=self.schedule), last_epoch)
        self.schedule_change: str | None = None

    def state_dict(self) -> dict[str, Any]:
        """``last_epoch``, ``base_lrs`` (peaks) and the ``schedule`` as plain numbers.

        Only plain data, so ``torch.load(..., weights_only=True)`` (the ``Trainer``'s resume) reads it.
        """
        state = {key: value for key, value in self.__dict__.items()
                 if key not in ("optimizer", "lr_lambdas", "schedule", "schedule_change")}
        state["schedule"] = self.schedule.settings()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the step counter and peaks, and set the optimizer's LRs to match.

        The schedule is the one this scheduler was built with: resuming with the same settings
        continues the saved trajectory exactly; with other settings (a longer ``total_steps`` to
        extend a run) the LR follows the new schedule from the restored step, and a
        :class:`KneeScheduleChangedWarning` names both schedules and the LR jump.

        Raises ``ValueError`` for a state that :meth:`state_dict` did not write (another
        scheduler's, or one missing ``schedule``, ``last_epoch`` or ``base_lrs``).
        """
        missing = sorted({"schedule", "last_epoch", "base_lrs"} - set(state_dict))
        if missing:
            raise ValueError(f"state_dict is not a KneeLR state: it lacks {missing} "
                             f"(got the keys {sorted(state_dict)})")
        state = {key: value for key, value in state_dict.items() if key != "lr_lambdas"}
        self.schedule_change = self._describe_change(state.pop("schedule"), state["last_epoch"])
        if self.schedule_change:
            warnings.warn(self.schedule_change, KneeScheduleChangedWarning, stacklevel=2)
        self.__dict__.update(state)
        self.lr_lambdas = [partial(_knee_lr_lambda, schedule=self.schedule) for _ in self.base_lrs]
        self._last_lr = [base_lr * self.schedule.multiplier(max(self.last_epoch, 0)) for base_lr in self.base_lrs]
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def _describe_change(self, saved: dict[str, Any], step: int) -> str | None:
        current = self.schedule.settings()
        if saved == current:
            return None
        step = max(step, 0)
        before = KneeSchedule(peak_lr=1.0, **saved).multiplier(step)
        return (f"KneeLR.load_state_dict: the checkpoint's schedule {describe_settings(saved)} differs from this "
                f"scheduler's {describe_settings(current)}; continuing on this scheduler's schedule from step {step} "
                f"(LR factor {before:.6g} -> {self.schedule.multiplier(step):.6g}). Build the scheduler with "
                "the checkpoint's settings to continue its trajectory exactly.")


class KneeScheduleChangedWarning(UserWarning):
    """A restored ``KneeLR`` state was saved with other schedule settings than the scheduler's."""


