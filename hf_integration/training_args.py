"""``KneeTrainingArgumentsMixin``: ``lr_scheduler_type="knee"`` for any ``TrainingArguments`` class.

transformers' ``SchedulerType`` is a closed enum, so the mixin widens the choices of
``lr_scheduler_type`` by ``"knee"`` and adds the explore phase. ``warmup_steps`` (an int, or a float
in [0, 1) meaning a fraction of the budget, rounded up by :func:`knee_nlp.budget.warmup_steps_from`,
transformers' own rule) and ``learning_rate`` (the peak) keep their usual meaning. The explore phase
is given once, either as a field (``explore_ratio`` / ``explore_steps``) or, as transformers'
own schedules take theirs, in ``lr_scheduler_kwargs`` (``explore_ratio`` / ``num_explore_steps``);
``lr_scheduler_kwargs`` may also hold ``min_lr_ratio`` (the final LR as a fraction of the peak,
default 0). Bad values, and an explore phase given twice, raise ``ValueError`` naming the arguments
when the arguments are built; only a budget given in epochs, whose step count the Trainer learns from
the data, is checked when ``train()`` starts (before any step).

Ready-made: ``KneeTrainingArguments`` (``TrainingArguments``) and ``KneeSeq2SeqTrainingArguments``
(``Seq2SeqTrainingArguments``). Any other arguments class (a third-party trainer's config)::

    @dataclass
    class KneeSFTConfig(KneeTrainingArgumentsMixin, SFTConfig):
        pass

Example::

    args = KneeTrainingArguments(
        "out", lr_scheduler_type="knee", learning_rate=5e-4, warmup_steps=0.1, explore_ratio=0.5
    )
    args = KneeSeq2SeqTrainingArguments(
        "out", lr_scheduler_type="knee", warmup_steps=0.1, lr_scheduler_kwargs={"explore_ratio": 0.5},
        predict_with_generate=True,
    )

or from the command line with ``HfArgumentParser(KneeTrainingArguments)``::

    --lr_scheduler_type knee --explore_ratio 0.5 --warmup_steps 0.1
    --lr_scheduler_type knee --lr_scheduler_kwargs '{"explore_ratio": 0.5}' --warmup_steps 0.1
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from transformers import Seq2SeqTrainingArguments, TrainingArguments
from transformers.trainer_utils import SchedulerType
from transformers.utils import ExplicitEnum

from hf_integration.schedule import KNEE_SCHEDULER_NAME
from knee_nlp.budget import warmup_steps_from
from knee_nlp.schedule import DEFAULT_EXPLORE_RATIO, KneeSchedule, check_explore, check_lr_bound
from knee_nlp.validation import ArgumentError, check_number, renamed_errors

SchedulerTypeWithKnee = ExplicitEnum(
    "SchedulerTypeWithKnee",
    [(member.name, member.value) for member in SchedulerType] + [("KNEE", KNEE_SCHEDULER_NAME)],
    module=__name__,
)
"""transformers' ``SchedulerType`` names plus ``"knee"`` (the choices of ``--lr_scheduler_type``)."""

#: explore keys of ``lr_scheduler_kwargs`` (``get_knee_schedule_with_warmup``'s names) -> the core's names
_EXPLORE_KWARGS = {"num_explore_steps": "explore_steps", "explore_ratio": "explore_ratio"}
_KNEE_LR_SCHEDULER_KWARGS = (*_EXPLORE_KWARGS, "min_lr_ratio")
#: the explore fields of the arguments class
_EXPLORE_FIELDS = ("explore_ratio", "explore_steps")
#: core argument names -> ``KneeTrainingArguments``' (the budget keeps the core's ``total_steps``)
_ARGUMENT_NAMES = {"end_lr": "min_lr_ratio", "peak_lr": "peak"}
#: ``get_knee_schedule_with_warmup``'s argument names -> ``KneeTrainingArguments``'
SCHEDULE_TO_ARGUMENT_NAMES = {
    "num_warmup_steps": "warmup_steps",
    "num_explore_steps": "explore_steps",
    "num_training_steps": "total_steps",
}


def check_no_deepspeed_scheduler(deepspeed_config: dict[str, Any]) -> None:
    """Refuse a DeepSpeed config that declares its own ``scheduler`` next to ``lr_scheduler_type="knee"``.

    With a ``scheduler`` section DeepSpeed drives the LR and the Trainer never builds its own
    schedule, so Knee would silently not apply.
    """
    if "scheduler" in deepspeed_config:
        raise ValueError(
            f"lr_scheduler_type='{KNEE_SCHEDULER_NAME}' conflicts with the DeepSpeed config's own scheduler "
            f"({deepspeed_config['scheduler'].get('type', '?')!r}): remove the 'scheduler' section from the "
            "DeepSpeed config to train with the Knee schedule, or choose another lr_scheduler_type"
        )


def check_listed_before(cls: type, mixin: type, host: type, example: str) -> None:
    """``TypeError`` when ``cls`` lists ``mixin`` after ``host`` among its bases (the host's own
    methods would then bypass the mixin's)."""
    mro = cls.__mro__
    if host in mro and mro.index(mixin) > mro.index(host):
        raise TypeError(f"{cls.__name__}: list {mixin.__name__} before the {host.__name__} class among the "
                        f"bases, e.g. {example}")


@dataclass(init=False)
class KneeTrainingArgumentsMixin:
    """
    Adds `lr_scheduler_type="knee"`, the Knee (explore-exploit) schedule, to a [`~transformers.TrainingArguments`]
    class: linear warmup over `warmup_steps`, hold `learning_rate` for the explore phase, then decay linearly to
    `min_lr_ratio * learning_rate` (`lr_scheduler_kwargs`, default 0) at the last optimizer step.

    Put it first among the bases of a class decorated with `@dataclass`:
    `@dataclass class KneeSeq2SeqTrainingArguments(KneeTrainingArgumentsMixin, Seq2SeqTrainingArguments)`.

    Args:
        explore_ratio (`float`, *optional*):
            Explore phase as a fraction of all optimizer steps, in [0, 1]. Exclusive with `explore_steps`.
            When no explore setting is given, 0.5 (the paper's default). Only used with `lr_scheduler_type="knee"`.
        explore_steps (`int`, *optional*):
            Optimizer steps held at the peak after warmup (>= 0). Exclusive with `explore_ratio`.
            Only used with `lr_scheduler_type="knee"`.
        lr_scheduler_kwargs (`dict` or JSON `str`, *optional*):
            With `lr_scheduler_type="knee"`: `explore_ratio` or `num_explore_steps` (instead of the fields above,
            never both) and `min_lr_ratio` (in [0, 1], default 0).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_listed_before(cls, KneeTrainingArgumentsMixin, TrainingArguments,
                            "class KneeSeq2SeqTrainingArguments(KneeTrainingArgumentsMixin, Seq2SeqTrainingArguments)")

    lr_scheduler_type: SchedulerTypeWithKnee | str = field(  # type: ignore[valid-type]
        default="linear",
        metadata={
            "help": "The learning rate scheduler type to use: any transformers `SchedulerType`, or 'knee' for the "
            "Knee schedule (warmup, hold the peak LR for --explore_ratio/--explore_steps, then linear decay)."
        },
    )
    explore_ratio: float | None = field(
        default=None,
        metadata={
            "help": "Knee explore phase (peak LR held after warmup) as a fraction in [0, 1] of all optimizer steps; "
            "exclusive with --explore_steps and with lr_scheduler_kwargs' explore_ratio/num_explore_steps; 0.5 "
            "when none is given. Needs --lr_scheduler_type knee."
        },
    )
    explore_steps: int | None = field(
        default=None,
        metadata={
            "help": "Knee explore phase as a number of optimizer steps (>= 0) held at the peak LR after warmup; "
            "exclusive with --explore_ratio and with lr_scheduler_kwargs' explore_ratio/num_explore_steps. "
            "Needs --lr_scheduler_type knee."
        },
    )

    def __post_init__(self) -> None:
        if "output_dir" not in getattr(type(self), "__dataclass_fields__", {}):
            raise TypeError(
                f"{type(self).__name__} must be decorated with @dataclass and list {KneeTrainingArgumentsMixin.__name__} "
                "before its TrainingArguments base"
            )
        self.lr_scheduler_type = _scheduler_name(self.lr_scheduler_type)
        _check_json_kwargs(self.lr_scheduler_kwargs)
        if self.lr_scheduler_type != KNEE_SCHEDULER_NAME:
            self._refuse_explore_without_knee()
            super().__post_init__()  # type: ignore[misc]
            return
        if self.deepspeed:
            from accelerate.utils.deepspeed import HfDeepSpeedConfig

            check_no_deepspeed_scheduler(HfDeepSpeedConfig(self.deepspeed).config)
        # The parent converts the name to its closed enum (and a JSON lr_scheduler_kwargs to a dict):
        # give it a neutral name, then restore "knee".
        self.lr_scheduler_type = SchedulerType.LINEAR
        super().__post_init__()  # type: ignore[misc]
        self.lr_scheduler_type = SchedulerTypeWithKnee.KNEE
        self._check_knee_schedule()

    def get_warmup_steps(self, num_training_steps: int) -> int:
        """Warmup optimizer steps: `warmup_steps` if >= 1, else `ceil(num_training_steps * warmup_steps)`.

        transformers' rule, computed by the core's :func:`knee_nlp.budget.warmup_steps_from`, the one place
        that rounds a fractional warmup for every integration.
        """
        return warmup_steps_from(self.warmup_steps, num_training_steps)

    def set_lr_scheduler(
        self,
        name: str | SchedulerType = "linear",
        num_epochs: float = 3.0,
        max_steps: int = -1,
        warmup_steps: float = 0,
        explore_ratio: float | None = None,
        explore_steps: int | None = None,
    ) -> KneeTrainingArgumentsMixin:
        """
        [`~transformers.TrainingArguments.set_lr_scheduler`] that also accepts `name="knee"` and its explore phase.

        Example:

        ```py
        >>> args = KneeTrainingArguments("working_dir")
        >>> args = args.set_lr_scheduler(name="knee", warmup_steps=0.1, explore_ratio=0.5)
        >>> args.lr_scheduler_type.value, args.explore_ratio
        ('knee', 0.5)

        ```
        """
        is_knee = name == KNEE_SCHEDULER_NAME
        super().set_lr_scheduler(  # type: ignore[misc]
            SchedulerType.LINEAR if is_knee else name, num_epochs, max_steps, warmup_steps
        )
        self.explore_ratio, self.explore_steps = explore_ratio, explore_steps
        if not is_knee:
            self._refuse_explore_without_knee()
            return self
        self.lr_scheduler_type = SchedulerTypeWithKnee.KNEE
        self._check_knee_schedule()
        return self

    @property
    def knee_scheduler_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `get_knee_schedule_with_warmup` besides the warmup and total steps: the explore
        phase (from the fields or from `lr_scheduler_kwargs`) and `min_lr_ratio` if given."""
        explore_steps, explore_ratio, _ = self._explore()
        kwargs = {key: value for key, value in (self.lr_scheduler_kwargs or {}).items() if key not in _EXPLORE_KWARGS}
        return {"num_explore_steps": explore_steps, "explore_ratio": explore_ratio, **kwargs}

    @property
    def knee_argument_names(self) -> dict[str, str]:
        """`get_knee_schedule_with_warmup`'s argument names -> the names the user gave them under (for errors)."""
        names = dict(SCHEDULE_TO_ARGUMENT_NAMES)
        if self._explore()[2]:
            names.update({key: f"lr_scheduler_kwargs[{key!r}]" for key in _EXPLORE_KWARGS})
        return names

    def _explore(self) -> tuple[int | None, float | None, dict[str, str]]:
        """The explore phase, checked: `(steps, ratio, core name -> the name the user gave it under)`."""
        fields = {name: getattr(self, name) for name in _EXPLORE_FIELDS if getattr(self, name) is not None}
        kwargs = self.lr_scheduler_kwargs if isinstance(self.lr_scheduler_kwargs, dict) else {}
        from_kwargs = {key: kwargs[key] for key in _EXPLORE_KWARGS if kwargs.get(key) is not None}
        if fields and from_kwargs:
            given = [f"{name}={value!r}" for name, value in fields.items()]
            given += [f"lr_scheduler_kwargs[{key!r}]={value!r}" for key, value in from_kwargs.items()]
            raise ValueError(
                f"the Knee explore phase is given twice: {' and '.join(given)}; give it once, as the "
                "explore_ratio/explore_steps argument or in lr_scheduler_kwargs"
            )
        if not from_kwargs:
            steps, ratio = check_explore(self.explore_steps, self.explore_ratio)
            self.explore_steps, self.explore_ratio = steps, ratio
            return steps, ratio, {}
        names = {core: f"lr_scheduler_kwargs[{key!r}]" for key, core in _EXPLORE_KWARGS.items()}
        with renamed_errors(names):
            steps, ratio = check_explore(kwargs.get("num_explore_steps"), kwargs.get("explore_ratio"))
        return steps, ratio, names

    def _refuse_explore_without_knee(self) -> None:
        for name in _EXPLORE_FIELDS:
            if getattr(self, name) is not None:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} is only used with lr_scheduler_type='knee', "
                    f"got lr_scheduler_type={getattr(self.lr_scheduler_type, 'value', self.lr_scheduler_type)!r}"
                )

    def _check_knee_schedule(self) -> None:
        """Check the explore phase and lr_scheduler_kwargs, and the whole schedule when the budget is known
        (max_steps > 0)."""
        kwargs = self.lr_scheduler_kwargs or {}
        if not isinstance(kwargs, dict) or set(kwargs) - set(_KNEE_LR_SCHEDULER_KWARGS):
            raise ValueError(
                f"lr_scheduler_kwargs for lr_scheduler_type='knee' may only hold {list(_KNEE_LR_SCHEDULER_KWARGS)}, "
                f"got {self.lr_scheduler_kwargs!r}"
            )
        explore_steps, explore_ratio, explore_names = self._explore()
        min_lr_ratio = kwargs.get("min_lr_ratio", 0.0)
        check_number("learning_rate", self.learning_rate, inclusive=False)  # the peak LR
        check_number("warmup_steps", self.warmup_steps)  # also when the budget is in epochs
        with renamed_errors({**_ARGUMENT_NAMES, **explore_names, "total_steps": "max_steps"}):
            check_lr_bound("end_lr", min_lr_ratio, 1.0)
            if self.max_steps > 0:
                KneeSchedule(
                    peak_lr=1.0,
                    total_steps=self.max_steps,
                    warmup_steps=self.get_warmup_steps(self.max_steps),
                    explore_steps=explore_steps,
                    explore_ratio=explore_ratio,
                    end_lr=min_lr_ratio,
                )
        ratio_name = explore_names.get("explore_ratio", "explore_ratio")
        if explore_ratio is None and explore_steps is None:
            explore_ratio, ratio_name = DEFAULT_EXPLORE_RATIO, f"explore_ratio (default {DEFAULT_EXPLORE_RATIO})"
        if self.max_steps <= 0 and 0 < self.warmup_steps < 1 and explore_ratio is not None:
            if self.warmup_steps + explore_ratio > 1:
                raise ValueError(
                    f"warmup_steps + {ratio_name} must be <= 1 (both are fractions of the budget), got "
                    f"{self.warmup_steps} + {explore_ratio}"
                )


def _scheduler_name(value: Any) -> Any:
    """``lr_scheduler_type`` as a plain name; an unknown name lists every choice, ``knee`` included."""
    if isinstance(value, SchedulerTypeWithKnee):
        return value.value
    if isinstance(value, str) and value not in SchedulerTypeWithKnee._value2member_map_:
        raise ArgumentError("lr_scheduler_type", value,
                            f"one of {', '.join(SchedulerTypeWithKnee._value2member_map_)}")
    return value


def _check_json_kwargs(value: Any) -> None:
    """A JSON ``lr_scheduler_kwargs`` (the command line's form) must parse as an object."""
    if not isinstance(value, str):
        return
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise ArgumentError("lr_scheduler_kwargs", value, f"a dict or a JSON object ({error})") from None
    if not isinstance(parsed, dict):
        raise ArgumentError("lr_scheduler_kwargs", value, "a dict or a JSON object")


@dataclass
class KneeTrainingArguments(KneeTrainingArgumentsMixin, TrainingArguments):
    """[`~transformers.TrainingArguments`] that also accept `lr_scheduler_type="knee"` (see
    [`KneeTrainingArgumentsMixin`] for the explore phase and `lr_scheduler_kwargs`)."""


@dataclass
class KneeSeq2SeqTrainingArguments(KneeTrainingArgumentsMixin, Seq2SeqTrainingArguments):
    """[`~transformers.Seq2SeqTrainingArguments`] that also accept `lr_scheduler_type="knee"` (see
    [`KneeTrainingArgumentsMixin`] for the explore phase and `lr_scheduler_kwargs`)."""
