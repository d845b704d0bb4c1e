"""``KneeTrainingArguments``: ``TrainingArguments`` that accept ``lr_scheduler_type="knee"``.

transformers' ``SchedulerType`` is a closed enum, so this subclass widens the choices of
``lr_scheduler_type`` by ``"knee"`` and adds the explore phase (``explore_ratio`` /
``explore_steps``). ``warmup_steps`` (an int, or a float in [0, 1) meaning a ratio of the
budget) and ``learning_rate`` (the peak) keep their usual meaning, and ``lr_scheduler_kwargs``
may hold ``min_lr_ratio`` (the final LR as a fraction of the peak, default 0). Bad values raise
``ValueError`` naming the argument when the arguments are built; only a budget given in epochs, whose
step count the Trainer learns from the data, is checked when ``train()`` starts (before any step).

Example::

    args = KneeTrainingArguments(
        "out", lr_scheduler_type="knee", learning_rate=5e-4, warmup_steps=0.1, explore_ratio=0.5
    )

or from the command line with ``HfArgumentParser(KneeTrainingArguments)``::

    --lr_scheduler_type knee --explore_ratio 0.5 --warmup_steps 0.1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments
from transformers.trainer_utils import SchedulerType
from transformers.utils import ExplicitEnum

from hf_integration.schedule import KNEE_SCHEDULER_NAME
from knee_nlp.schedule import KneeSchedule, check_explore, check_lr_bound
from knee_nlp.validation import renamed_errors

SchedulerTypeWithKnee = ExplicitEnum(
    "SchedulerTypeWithKnee",
    [(member.name, member.value) for member in SchedulerType] + [("KNEE", KNEE_SCHEDULER_NAME)],
    module=__name__,
)
"""transformers' ``SchedulerType`` names plus ``"knee"`` (the choices of ``--lr_scheduler_type``)."""

_KNEE_LR_SCHEDULER_KWARGS = ("min_lr_ratio",)
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


@dataclass
class KneeTrainingArguments(TrainingArguments):
    """
    [`~transformers.TrainingArguments`] that also accept `lr_scheduler_type="knee"`, the Knee (explore-exploit)
    schedule: linear warmup over `warmup_steps`, hold `learning_rate` for the explore phase, then decay linearly to
    `min_lr_ratio * learning_rate` (`lr_scheduler_kwargs`, default 0) at the last optimizer step.

    Args:
        explore_ratio (`float`, *optional*):
            Explore phase as a fraction of all optimizer steps, in [0, 1]. Exclusive with `explore_steps`.
            When neither is given, 0.5 (the paper's default). Only used with `lr_scheduler_type="knee"`.
        explore_steps (`int`, *optional*):
            Optimizer steps held at the peak after warmup (>= 0). Exclusive with `explore_ratio`.
            Only used with `lr_scheduler_type="knee"`.
    """

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
            "exclusive with --explore_steps; 0.5 when neither is given. Needs --lr_scheduler_type knee."
        },
    )
    explore_steps: int | None = field(
        default=None,
        metadata={
            "help": "Knee explore phase as a number of optimizer steps (>= 0) held at the peak LR after warmup; "
            "exclusive with --explore_ratio. Needs --lr_scheduler_type knee."
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.lr_scheduler_type, SchedulerTypeWithKnee):
            self.lr_scheduler_type = self.lr_scheduler_type.value
        if self.lr_scheduler_type != KNEE_SCHEDULER_NAME:
            self._refuse_explore_without_knee()
            super().__post_init__()
            return
        self._check_explore()
        if self.deepspeed:
            from accelerate.utils.deepspeed import HfDeepSpeedConfig

            check_no_deepspeed_scheduler(HfDeepSpeedConfig(self.deepspeed).config)
        # The parent converts the name to its closed enum: give it a neutral one, then restore "knee".
        self.lr_scheduler_type = SchedulerType.LINEAR
        super().__post_init__()
        self.lr_scheduler_type = SchedulerTypeWithKnee.KNEE
        self._check_knee_schedule()

    def set_lr_scheduler(
        self,
        name: str | SchedulerType = "linear",
        num_epochs: float = 3.0,
        max_steps: int = -1,
        warmup_steps: float = 0,
        explore_ratio: float | None = None,
        explore_steps: int | None = None,
    ) -> KneeTrainingArguments:
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
        super().set_lr_scheduler(SchedulerType.LINEAR if is_knee else name, num_epochs, max_steps, warmup_steps)
        self.explore_ratio, self.explore_steps = explore_ratio, explore_steps
        if not is_knee:
            self._refuse_explore_without_knee()
            return self
        self.lr_scheduler_type = SchedulerTypeWithKnee.KNEE
        self._check_explore()
        self._check_knee_schedule()
        return self

    @property
    def knee_scheduler_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `get_knee_schedule_with_warmup` besides the warmup and total steps."""
        return {
            "num_explore_steps": self.explore_steps,
            "explore_ratio": self.explore_ratio,
            **(self.lr_scheduler_kwargs or {}),
        }

    def _refuse_explore_without_knee(self) -> None:
        for name in ("explore_ratio", "explore_steps"):
            if getattr(self, name) is not None:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} is only used with lr_scheduler_type='knee', "
                    f"got lr_scheduler_type={getattr(self.lr_scheduler_type, 'value', self.lr_scheduler_type)!r}"
                )

    def _check_explore(self) -> None:
        self.explore_steps, self.explore_ratio = check_explore(self.explore_steps, self.explore_ratio)

    def _check_knee_schedule(self) -> None:
        """Check lr_scheduler_kwargs, and the whole schedule when the budget is known (max_steps > 0)."""
        kwargs = self.lr_scheduler_kwargs or {}
        if not isinstance(kwargs, dict) or set(kwargs) - set(_KNEE_LR_SCHEDULER_KWARGS):
            raise ValueError(
                f"lr_scheduler_kwargs for lr_scheduler_type='knee' may only hold {list(_KNEE_LR_SCHEDULER_KWARGS)} "
                f"(set the explore phase with explore_ratio or explore_steps), got {self.lr_scheduler_kwargs!r}"
            )
        min_lr_ratio = kwargs.get("min_lr_ratio", 0.0)
        with renamed_errors(_ARGUMENT_NAMES):
            check_lr_bound("end_lr", min_lr_ratio, 1.0)
            if self.max_steps > 0:
                KneeSchedule(
                    peak_lr=1.0,
                    total_steps=self.max_steps,
                    warmup_steps=self.get_warmup_steps(self.max_steps),
                    explore_steps=self.explore_steps,
                    explore_ratio=self.explore_ratio,
                    end_lr=min_lr_ratio,
                )
        if self.max_steps <= 0 and 0 < self.warmup_steps < 1 and self.explore_ratio is not None:
            if self.warmup_steps + self.explore_ratio > 1:
                raise ValueError(
                    f"warmup_steps + explore_ratio must be <= 1 (both are fractions of the budget), got "
                    f"{self.warmup_steps} + {self.explore_ratio}"
                )
