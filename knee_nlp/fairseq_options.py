"""The one mapping of fairseq's ``--lr-scheduler knee`` options onto a :class:`KneeSchedule`.

Used by the fairseq plugin (at scheduler construction) and by ``knee-nlp reproduce`` (to check
each run's schedule against its budget before training); fairseq itself is not imported.
Errors name fairseq's flags (``--warmup-updates``, ``--explore-ratio``, ...).

>>> knee_schedule_from_fairseq(lr=1.0, total_num_update=20, warmup_updates=4, explore_ratio=0.5).explore_end
14
"""

from __future__ import annotations

from knee_nlp.schedule import KneeSchedule, check_explore
from knee_nlp.validation import renamed_errors

#: core argument names -> fairseq flags
FAIRSEQ_FLAGS = {
    "peak_lr": "--lr",
    "total_steps": "--total-num-update",
    "warmup_steps": "--warmup-updates",
    "explore_steps": "--explore-updates",
    "explore_ratio": "--explore-ratio",
    "warmup_init_lr": "--warmup-init-lr",
    "end_lr": "--end-learning-rate",
}


def knee_schedule_from_fairseq(
    *,
    lr: float,
    total_num_update: int,
    warmup_updates: int = 0,
    explore_updates: int | None = None,
    explore_ratio: float | None = None,
    warmup_init_lr: float = 0.0,
    end_learning_rate: float = 0.0,
) -> KneeSchedule:
    """The schedule fairseq's knee options describe; ``ArgumentError`` names the fairseq flag."""
    with renamed_errors(FAIRSEQ_FLAGS):
        check_explore(explore_updates, explore_ratio)
        return KneeSchedule(
            peak_lr=lr, total_steps=total_num_update, warmup_steps=warmup_updates,
            explore_steps=explore_updates, explore_ratio=explore_ratio,
            warmup_init_lr=warmup_init_lr, end_lr=end_learning_rate,
        )
