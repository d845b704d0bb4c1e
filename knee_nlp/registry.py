"""The schedule names and how each host builds them: one table, :data:`SCHEDULES`.

Every place that offers a choice of schedule reads this table: ``knee-nlp plot`` (the pure
``step -> lr`` curve), the BERT launcher (a torch scheduler built by the host's own code:
transformers' ``get_*_schedule*`` for the baselines, :class:`knee_nlp.KneeLR` for Knee) and the
fairseq configs (the ``--lr-scheduler`` name). A new schedule is one :class:`ScheduleSpec` entry.

The table stays framework-free: host factories are named as ``"module:attribute"`` strings and
imported by the adapter that uses them, never here.

>>> list(SCHEDULES)
['knee', 'inverse_sqrt', 'linear', 'cosine']
>>> SCHEDULES["linear"].fairseq_scheduler, SCHEDULES["linear"].torch_factory
('polynomial_decay', 'transformers:get_linear_schedule_with_warmup')
>>> knee = KneeSchedule(peak_lr=1.0, total_steps=10, warmup_steps=2, explore_steps=3)
>>> round(SCHEDULES["inverse_sqrt"].curve(knee)(8), 3)
0.5
>>> schedule_spec("step")
Traceback (most recent call last):
...
knee_nlp.validation.ArgumentError: schedule must be one of knee, inverse_sqrt, linear, cosine, got 'step'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType

from knee_nlp.baselines import cosine_lr, inverse_sqrt_lr, linear_lr
from knee_nlp.schedule import KneeSchedule
from knee_nlp.validation import ArgumentError

#: The settings an adapter offers a torch factory (keys of :attr:`ScheduleSpec.torch_arguments`).
TORCH_SETTINGS = ("total_steps", "warmup_steps", "explore_steps", "explore_ratio")


@dataclass(frozen=True)
class ScheduleSpec:
    """How one schedule is built in each place that offers it.

    Attributes:
        name: the name in configs, flags and reports.
        curve: ``knee -> (step -> lr)``: the pure LR function with ``knee``'s peak, warmup (and
            initial LR) and budget, so that curves of different schedules differ only after warmup.
        fairseq_scheduler: fairseq's ``--lr-scheduler`` name.
        torch_factory: ``"module:attribute"`` of the torch scheduler factory (the host's own where
            the host has the schedule); called as ``factory(optimizer, **arguments)``.
        torch_arguments: setting (one of :data:`TORCH_SETTINGS`) -> the factory's keyword.
    """

    name: str
    curve: Callable[[KneeSchedule], Callable[[int], float]]
    fairseq_scheduler: str
    torch_factory: str
    torch_arguments: Mapping[str, str] = field(default_factory=dict)

    def torch_kwargs(self, **settings: object) -> dict[str, object]:
        """The factory's keyword arguments, picked from ``settings`` (named as :data:`TORCH_SETTINGS`)."""
        return {keyword: settings[setting] for setting, keyword in self.torch_arguments.items()}


def _knee_curve(knee: KneeSchedule) -> Callable[[int], float]:
    return knee


def _baseline_curve(function: Callable[..., float], knee: KneeSchedule, *, budget: bool,
                    warmup_init: bool) -> Callable[[int], float]:
    """``function`` with Knee's peak and warmup; its budget (``budget``) and its warmup start
    (``warmup_init``: only where the hosts' baseline has one, else the warmup starts at 0)."""
    shared = dict(peak_lr=knee.peak_lr, warmup_steps=knee.warmup_steps)
    return partial(function, **shared, **({"total_steps": knee.total_steps} if budget else {}),
                   **({"warmup_init_lr": knee.warmup_init_lr} if warmup_init else {}))


_TRANSFORMERS_BUDGET = {"warmup_steps": "num_warmup_steps", "total_steps": "num_training_steps"}

SCHEDULES: Mapping[str, ScheduleSpec] = MappingProxyType({
    spec.name: spec
    for spec in (
        ScheduleSpec(
            "knee", _knee_curve, "knee", "knee_nlp.torch_scheduler:KneeLR",
            {setting: setting for setting in TORCH_SETTINGS},
        ),
        ScheduleSpec(
            "inverse_sqrt", partial(_baseline_curve, inverse_sqrt_lr, budget=False, warmup_init=True), "inverse_sqrt",
            "transformers:get_inverse_sqrt_schedule", {"warmup_steps": "num_warmup_steps"},
        ),
        ScheduleSpec(
            "linear", partial(_baseline_curve, linear_lr, budget=True, warmup_init=False), "polynomial_decay",
            "transformers:get_linear_schedule_with_warmup", _TRANSFORMERS_BUDGET,
        ),
        ScheduleSpec(
            "cosine", partial(_baseline_curve, cosine_lr, budget=True, warmup_init=False), "cosine",
            "transformers:get_cosine_schedule_with_warmup", _TRANSFORMERS_BUDGET,
        ),
    )
})
"""Schedule name -> :class:`ScheduleSpec`; Knee first, then the paper's baselines."""

BASELINES = tuple(name for name in SCHEDULES if name != "knee")
"""The schedules Knee is compared against."""


def schedule_spec(name: str, key: str = "schedule") -> ScheduleSpec:
    """The entry for ``name``; an unknown name raises :class:`ArgumentError` naming ``key``."""
    try:
        return SCHEDULES[name]
    except (KeyError, TypeError):
        raise ArgumentError(key, name, f"one of {', '.join(SCHEDULES)}") from None
