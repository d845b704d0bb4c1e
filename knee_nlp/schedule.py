"""The Knee (explore-exploit) learning-rate schedule as a pure function of the step.

Every adapter in this project (fairseq, Hugging Face, accelerate) imports :class:`KneeSchedule`
or :func:`knee_lr`; the formula lives here and nowhere else.

Conventions
-----------
``step`` is the number of optimizer updates already *completed* (fairseq's ``num_updates``,
``LambdaLR``'s ``last_epoch``). ``knee_lr(step)`` is the LR the optimizer holds after ``step``
updates, i.e. the LR used by update ``step + 1``. fairseq logs it for update ``step``; the HF
``Trainer`` reads the LR before its scheduler steps, so it logs ``lr(step - 1)`` for update
``step`` (the LR that update used).

With ``W`` warmup steps, ``E`` explore steps and ``T`` total steps::

    lr(s) = init + (peak - init) * s / W                     0 <= s < W        (warmup)
    lr(s) = peak                                             W <= s < W + E    (explore)
    lr(s) = peak + (end - peak) * (s - W - E) / (T - W - E)  W + E <= s < T    (exploit)
    lr(s) = end                                              s >= T            (end)

The intervals are half-open and match :meth:`KneeSchedule.phase`: update ``W + E`` is the first
of the exploit phase (where the decay formula still gives ``peak``).

At the boundaries ``lr(0) = init`` (``peak`` when ``W = 0``), ``lr(W) = peak``,
``lr(W + E) = peak`` and ``lr(T) = end``: the curve is continuous, except when warmup and explore
fill the whole budget (``W + E = T``, no decay phase), where ``lr(T) = end`` still holds and the
LR drops from ``peak`` to ``end`` at ``T``.

``explore_ratio`` is a fraction of the *whole* budget ``T`` (the paper's "50% of the training
budget"): ``E = floor(explore_ratio * T + 0.5)`` (rounded half up, unlike Python's ``round``).
Explore starts after warmup, as in the authors' code.
When neither ``explore_steps`` nor ``explore_ratio`` is given, ``explore_ratio = 0.5``.

Example (warmup 2, explore 3, total 10, peak 1): the LR after each of the 10 updates, which is
the authors' trace, where update ``k`` reports the LR set for it after ``k`` steps:

>>> schedule = KneeSchedule(peak_lr=1.0, total_steps=10, warmup_steps=2, explore_steps=3)
>>> [round(schedule(s), 3) for s in range(1, 11)]
[0.5, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from knee_nlp.validation import ArgumentError, check_number, check_ratio, check_step_count

DEFAULT_EXPLORE_RATIO = 0.5


def explore_steps_from_ratio(explore_ratio: float, total_steps: int) -> int:
    """Convert a fraction of the whole budget into a whole number of explore steps.

    Rounds half up, so ``explore_steps_from_ratio(0.5, 7) == 4``.

    >>> explore_steps_from_ratio(0.5, 1000)
    500
    """
    total = check_step_count("total_steps", total_steps, minimum=1)
    return math.floor(check_ratio("explore_ratio", explore_ratio) * total + 0.5)


def check_explore(explore_steps: int | None, explore_ratio: float | None) -> tuple[int | None, float | None]:
    """Validate the explore arguments on their own: at most one of them, each in range.

    >>> check_explore(None, 0.25)
    (None, 0.25)
    """
    if explore_steps is not None and explore_ratio is not None:
        raise ArgumentError(
            "explore_ratio", explore_ratio, "unset when ⟨explore_steps⟩ is given",
            f"give ⟨explore_steps⟩ ({explore_steps!r}) or ⟨explore_ratio⟩ ({explore_ratio!r}), not both",
        )
    if explore_steps is not None:
        return check_step_count("explore_steps", explore_steps), None
    return None, None if explore_ratio is None else check_ratio("explore_ratio", explore_ratio)


def check_lr_bound(name: str, value: float, peak_lr: float) -> float:
    """``value`` (``warmup_init_lr`` or ``end_lr``) as a float in [0, ``peak_lr``].

    >>> check_lr_bound("end_lr", 0.0, 1e-3)
    0.0
    """
    value = check_number(name, value)
    if value > peak_lr:
        raise ArgumentError(name, value, f"in [0, ⟨peak_lr⟩={peak_lr}]")
    return value


#: the fields of :meth:`KneeSchedule.settings`
SCHEDULE_SETTINGS = ("total_steps", "warmup_steps", "explore_steps", "warmup_init_lr", "end_lr")


def describe_settings(settings: dict[str, Any]) -> str:
    """``(total_steps=10, warmup_steps=2, ...)``: schedule settings for a message."""
    return "(" + ", ".join(f"{name}={value}" for name, value in settings.items()) + ")"


@dataclass(frozen=True)
class KneeSchedule:
    """A validated Knee schedule: ``schedule(step)`` gives the LR after ``step`` updates.

    Args:
        peak_lr: LR held during explore (> 0).
        total_steps: whole training budget in optimizer updates (>= 1); the LR reaches
            ``end_lr`` here and stays there.
        warmup_steps: linear warmup length (>= 0).
        explore_steps: updates held at ``peak_lr`` after warmup (>= 0). Exclusive with
            ``explore_ratio``, except for the agreeing pair a schedule built from a ratio stores
            (so ``dataclasses.replace`` works; to resize it, also pass ``explore_steps=None``).
        explore_ratio: explore length as a fraction of ``total_steps`` in [0, 1].
            Default 0.5 when neither explore argument is given.
        warmup_init_lr: LR at step 0 when ``warmup_steps > 0``, in [0, peak_lr].
        end_lr: LR at ``total_steps`` and after, in [0, peak_lr] (the paper uses 0).

    Raises:
        ArgumentError: (a ``ValueError``) at construction, carrying the argument's name, its
            value and the allowed range.

    >>> KneeSchedule(peak_lr=5e-4, total_steps=100, warmup_steps=10).explore_steps
    50
    """

    peak_lr: float
    total_steps: int
    warmup_steps: int = 0
    explore_steps: int | None = None
    explore_ratio: float | None = None
    warmup_init_lr: float = 0.0
    end_lr: float = 0.0
    decay_steps: int = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "peak_lr", check_number("peak_lr", self.peak_lr, inclusive=False))
        if self.total_steps is None:
            raise ArgumentError("total_steps", None, "an integer >= 1",
                                "⟨total_steps⟩ is required: give the training budget in updates (>= 1)")
        set_(self, "total_steps", check_step_count("total_steps", self.total_steps, minimum=1))
        set_(self, "warmup_steps", check_step_count("warmup_steps", self.warmup_steps))
        explore_steps, explore_ratio = self._explore_arguments()
        how = ""
        if explore_steps is None:
            explore_ratio = DEFAULT_EXPLORE_RATIO if explore_ratio is None else explore_ratio
            explore_steps = explore_steps_from_ratio(explore_ratio, self.total_steps)
            how = f" (⟨explore_steps⟩ = ⟨explore_ratio⟩ {explore_ratio:g} x {self.total_steps})"
            set_(self, "explore_ratio", explore_ratio)
        set_(self, "explore_steps", explore_steps)
        used = self.warmup_steps + explore_steps
        if used > self.total_steps:
            raise ArgumentError(
                "explore_steps", explore_steps, f"<= ⟨total_steps⟩ - ⟨warmup_steps⟩ = "
                f"{self.total_steps - self.warmup_steps}",
                f"⟨warmup_steps⟩ + ⟨explore_steps⟩ must be <= ⟨total_steps⟩ ({self.total_steps}), "
                f"got {self.warmup_steps} + {explore_steps} = {used}{how}",
            )
        for name in ("warmup_init_lr", "end_lr"):
            set_(self, name, check_lr_bound(name, getattr(self, name), self.peak_lr))
        set_(self, "decay_steps", self.total_steps - used)

    def _explore_arguments(self) -> tuple[int | None, float | None]:
        """The explore arguments, checked. A schedule built from ``explore_ratio`` stores both
        fields, so both come back from ``dataclasses.replace`` and ``KneeSchedule(**fields)``:
        they are accepted when they agree, and a disagreeing pair says how to resize."""
        steps, ratio = self.explore_steps, self.explore_ratio
        if steps is None or ratio is None:
            return check_explore(steps, ratio)
        from_ratio = explore_steps_from_ratio(ratio, self.total_steps)
        if steps == from_ratio:
            return None, ratio
        raise ArgumentError(
            "explore_ratio", ratio, "unset when ⟨explore_steps⟩ is given",
            f"give ⟨explore_steps⟩ ({steps!r}) or ⟨explore_ratio⟩ ({ratio!r}), not both: they disagree "
            f"(⟨explore_ratio⟩ {ratio:g} of {self.total_steps} ⟨total_steps⟩ is {from_ratio} steps). To resize "
            "a schedule built from a ratio, pass explore_steps=None: "
            "dataclasses.replace(schedule, total_steps=..., explore_steps=None)",
        )

    def settings(self) -> dict[str, Any]:
        """What fixes the curve besides ``peak_lr``, as plain numbers (what a checkpoint records
        to tell a resumed run whether its schedule changed).

        >>> KneeSchedule(peak_lr=1.0, total_steps=10, warmup_steps=2).settings()
        {'total_steps': 10, 'warmup_steps': 2, 'explore_steps': 5, 'warmup_init_lr': 0.0, 'end_lr': 0.0}
        """
        return {name: getattr(self, name) for name in SCHEDULE_SETTINGS}

    @property
    def explore_end(self) -> int:
        """Step at which the exploit (decay) phase begins."""
        return self.warmup_steps + self.explore_steps

    def phase(self, step: int) -> str:
        """Phase of ``step`` over half-open intervals: ``warmup`` [0, W), ``explore`` [W, W+E),
        ``exploit`` [W+E, T) and ``end`` [T, inf)."""
        step = check_step_count("step", step)
        if step < self.warmup_steps:
            return "warmup"
        if step < self.explore_end:
            return "explore"
        return "exploit" if step < self.total_steps else "end"

    def __call__(self, step: int) -> float:
        """LR after ``step`` completed updates (``step >= 0``; holds ``end_lr`` past the end)."""
        step = check_step_count("step", step)
        if step >= self.total_steps:
            return self.end_lr
        if step < self.warmup_steps:
            return self.warmup_init_lr + (self.peak_lr - self.warmup_init_lr) * step / self.warmup_steps
        if step < self.explore_end:
            return self.peak_lr
        progress = (step - self.explore_end) / self.decay_steps
        return self.peak_lr + (self.end_lr - self.peak_lr) * progress

    def multiplier(self, step: int) -> float:
        """``self(step) / peak_lr``: the factor for ``LambdaLR``-style schedulers."""
        return self(step) / self.peak_lr

    def boundaries(self) -> dict[str, int]:
        """Steps where the phases change: warmup end, explore end and the budget end."""
        return {
            "start": 0,
            "warmup_end": self.warmup_steps,
            "explore_end": self.explore_end,
            "end": self.total_steps,
        }


def knee_lr(
    step: int,
    *,
    peak_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    explore_steps: int | None = None,
    explore_ratio: float | None = None,
    warmup_init_lr: float = 0.0,
    end_lr: float = 0.0,
) -> float:
    """LR of the Knee schedule after ``step`` updates; see :class:`KneeSchedule` for the rules.

    >>> knee_lr(75, peak_lr=1.0, total_steps=100, explore_ratio=0.5)
    0.5
    """
    return KneeSchedule(
        peak_lr=peak_lr,
        total_steps=total_steps,
        warmup_steps=warmup_steps,
        explore_steps=explore_steps,
        explore_ratio=explore_ratio,
        warmup_init_lr=warmup_init_lr,
        end_lr=end_lr,
    )(step)
