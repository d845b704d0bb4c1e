"""``KneeTrainerMixin``: ``lr_scheduler_type="knee"`` for any ``Trainer`` class.

Only ``create_scheduler`` changes, and only for ``"knee"``; every other scheduler type, the
training loop, checkpointing, evaluation, generation and logging are the host class's own. Ready-made:
``KneeTrainer`` (``Trainer``) and ``KneeSeq2SeqTrainer`` (``Seq2SeqTrainer``, for translation
with ``predict_with_generate``). Any other ``Trainer`` subclass gets Knee the same way, the mixin
first::

    class KneeSFTTrainer(KneeTrainerMixin, SFTTrainer):
        pass

with arguments built from :class:`~hf_integration.training_args.KneeTrainingArgumentsMixin`. The
schedule counts optimizer steps, like every transformers schedule:

- ``num_training_steps`` is the Trainer's ``max_steps`` (given, or derived from
  ``num_train_epochs``, the dataloader length, gradient accumulation and the number of processes);
- the Trainer steps the scheduler once per optimizer step and not when mixed precision skipped
  the step, so the k-th applied update always uses ``lr(k - 1)``, the LR after ``k - 1`` updates (a
  fused optimizer such as ``adamw_torch_fused`` skips an overflowed fp16 update inside its kernel,
  unseen by accelerate, so there the schedule advances anyway, as every transformers schedule does);
- logging is the Trainer's own: the ``learning_rate`` logged for global step ``k`` is what
  ``Trainer._get_learning_rate()`` returns before that step's ``scheduler.step()``, the LR update ``k``
  used, ``lr(k - 1)`` (so the first logged value is ``lr(0)``, 0 with warmup);
- on ``resume_from_checkpoint`` the saved scheduler state (plain numbers, read with
  ``torch.load(weights_only=True)``) is restored and the trajectory continues exactly; a resume
  with another budget (say a larger ``max_steps``) follows the new schedule from the restored step
  and logs a warning naming both schedules.

DeepSpeed: a DeepSpeed config without a ``scheduler`` section works (the Trainer asks this class for
the schedule); one with its own ``scheduler`` is refused with a ``ValueError`` (see
:func:`~hf_integration.training_args.check_no_deepspeed_scheduler`), so two schedules never compete.

Example::

    args = KneeSeq2SeqTrainingArguments(
        "out", lr_scheduler_type="knee", warmup_steps=0.1, lr_scheduler_kwargs={"explore_ratio": 0.5},
        predict_with_generate=True,
    )
    trainer = KneeSeq2SeqTrainer(model=model, args=args, train_dataset=train, eval_dataset=dev,
                                 data_collator=DataCollatorForSeq2Seq(tokenizer, model))
    trainer.train()
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import Seq2SeqTrainer, Trainer
from transformers.utils import logging

from hf_integration.lookup import get_scheduler
from hf_integration.schedule import KNEE_SCHEDULER_NAME
from hf_integration.training_args import check_listed_before, check_no_deepspeed_scheduler
from knee_nlp.validation import renamed_errors

logger = logging.get_logger(__name__)


class KneeTrainerMixin:
    """
    Makes a [`~transformers.Trainer`] class understand `lr_scheduler_type="knee"` of arguments built with
    [`KneeTrainingArgumentsMixin`]. List it before the Trainer class: `class K(KneeTrainerMixin, Seq2SeqTrainer)`.

    Raises:
        `TypeError`: at class creation, when the mixin comes after a `Trainer` base (its `create_scheduler` would be
        bypassed).
        `ValueError`: with `lr_scheduler_type="knee"`, when a scheduler is also passed in `optimizers`, or when the
        DeepSpeed config declares its own `scheduler`.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_listed_before(cls, KneeTrainerMixin, Trainer, "class KneeSeq2SeqTrainer(KneeTrainerMixin, Seq2SeqTrainer)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self._uses_knee:
            return
        if self.lr_scheduler is not None:
            raise ValueError(
                "lr_scheduler_type='knee' builds its own scheduler: pass optimizers=(optimizer, None), or pass your "
                "scheduler with another lr_scheduler_type"
            )
        if self.is_deepspeed_enabled:
            check_no_deepspeed_scheduler(self.accelerator.state.deepspeed_plugin.deepspeed_config)

    @property
    def _uses_knee(self) -> bool:
        return self.args.lr_scheduler_type == KNEE_SCHEDULER_NAME

    def create_scheduler(
        self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> torch.optim.lr_scheduler.LRScheduler:
        """
        Set up the scheduler: the Knee schedule for `lr_scheduler_type="knee"`, transformers' own otherwise.

        Args:
            num_training_steps (int): The number of optimizer steps to do.
            optimizer (`torch.optim.Optimizer`, *optional*): The optimizer to schedule (default: the Trainer's).
        """
        if not self._uses_knee or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        with renamed_errors(self.args.knee_argument_names):
            self.lr_scheduler = get_scheduler(
                KNEE_SCHEDULER_NAME,
                optimizer=self.optimizer if optimizer is None else optimizer,
                num_warmup_steps=self.args.get_warmup_steps(num_training_steps),
                num_training_steps=num_training_steps,
                scheduler_specific_kwargs=self.args.knee_scheduler_kwargs,
            )
        self._created_lr_scheduler = True
        return self.lr_scheduler

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        # The host loads the scheduler state under warnings.catch_warnings and drops what it caught,
        # so a KneeLR whose schedule differs from the checkpoint's is reported here.
        super()._load_optimizer_and_scheduler(checkpoint)
        change = getattr(self.lr_scheduler, "schedule_change", None)
        if checkpoint is not None and change:
            logger.warning(change)


class KneeTrainer(KneeTrainerMixin, Trainer):
    """[`~transformers.Trainer`] that understands `lr_scheduler_type="knee"` of [`KneeTrainingArguments`]."""


class KneeSeq2SeqTrainer(KneeTrainerMixin, Seq2SeqTrainer):
    """[`~transformers.Seq2SeqTrainer`] that understands `lr_scheduler_type="knee"` of
    [`KneeSeq2SeqTrainingArguments`]."""
