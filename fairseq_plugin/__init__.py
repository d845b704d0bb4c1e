"""fairseq plugin of knee-nlp: ``--lr-scheduler knee`` (pass this folder as ``--user-dir``).

Importing the package registers the ``knee`` LR scheduler with fairseq and makes fairseq's
checkpoint loading work under torch >= 2.6 (see :mod:`fairseq_plugin.checkpoint_compat`).
fairseq's ``--user-dir`` imports only this ``__init__`` (and ``tasks/``, ``models/``), so every
registration happens here.

Usage::

    fairseq-train DATA --user-dir "$(knee-nlp fairseq-user-dir)" --lr-scheduler knee \\
        --lr 5e-4 --max-update 50000 --warmup-updates 4000 --explore-ratio 0.5
"""

from fairseq_plugin.knee_scheduler import KneeConfigError, KneeLRSchedule, KneeLRScheduleConfig

__all__ = ["KneeConfigError", "KneeLRSchedule", "KneeLRScheduleConfig"]
