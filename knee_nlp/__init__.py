"""knee-nlp core: the Knee (explore-exploit) learning-rate schedule, framework-free.

>>> from knee_nlp import KneeSchedule, knee_lr
>>> schedule = KneeSchedule(peak_lr=5e-4, total_steps=1000, warmup_steps=100, explore_ratio=0.5)
>>> schedule(100), schedule(600), schedule(1000)
(0.0005, 0.0005, 0.0)

``KneeLR`` (a ``torch.optim.lr_scheduler.LRScheduler``) is imported lazily so that the
pure-Python parts never load torch.
"""

from __future__ import annotations

from typing import Any

from knee_nlp.budget import batches_per_epoch, global_batch_size, updates_for_epochs, updates_from_batches
from knee_nlp.schedule import DEFAULT_EXPLORE_RATIO, KneeSchedule, explore_steps_from_ratio, knee_lr

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_EXPLORE_RATIO",
    "KneeLR",
    "KneeSchedule",
    "batches_per_epoch",
    "explore_steps_from_ratio",
    "global_batch_size",
    "knee_lr",
    "updates_for_epochs",
    "updates_from_batches",
]


def __getattr__(name: str) -> Any:
    if name == "KneeLR":
        from knee_nlp.torch_scheduler import KneeLR

        return KneeLR
    raise AttributeError(f"module 'knee_nlp' has no attribute {name!r}")
