"""Hugging Face integration of the Knee schedule.

``get_knee_schedule_with_warmup`` (a ``LambdaLR`` like ``transformers.get_linear_schedule_with_warmup``),
``KneeTrainingArguments`` / ``KneeTrainer`` and ``KneeSeq2SeqTrainingArguments`` / ``KneeSeq2SeqTrainer``
(``lr_scheduler_type="knee"`` for the ``Trainer`` and the ``Seq2SeqTrainer``), ``KneeTrainingArgumentsMixin`` /
``KneeTrainerMixin`` (the same for any other ``Trainer`` class) and
``get_scheduler`` (``transformers.get_scheduler`` that also knows ``"knee"``). The ``Trainer``-side
names are imported on first use, so ``from hf_integration import get_knee_schedule_with_warmup``
does not load ``transformers.Trainer``, and importing a submodule (``hf_integration.pretrain_bert``)
loads no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "get_knee_schedule_with_warmup": "hf_integration.schedule",
    "KneeTrainingArguments": "hf_integration.training_args",
    "KneeTrainer": "hf_integration.trainer",
    "KneeSeq2SeqTrainingArguments": "hf_integration.training_args",
    "KneeSeq2SeqTrainer": "hf_integration.trainer",
    "KneeTrainingArgumentsMixin": "hf_integration.training_args",
    "KneeTrainerMixin": "hf_integration.trainer",
    "get_scheduler": "hf_integration.lookup",
}

__all__ = [*_LAZY]


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
