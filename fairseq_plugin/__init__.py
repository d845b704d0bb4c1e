"""fairseq plugin of knee-nlp: ``--lr-scheduler knee`` (pass this folder as ``--user-dir``).

Importing the package registers the ``knee`` LR scheduler with fairseq and lets fairseq load
its checkpoints under torch >= 2.6 (:mod:`fairseq_plugin.checkpoint_compat`). fairseq's
``--user-dir`` imports only this ``__init__`` (plus ``tasks/`` and ``models/``, which this
plugin does not have), so everything is set up here.

Usage::

    fairseq-train DATA --user-dir "$(knee-nlp fairseq-user-dir)" --lr-scheduler knee \\
        --lr 5e-4 --max-update 50000 --warmup-updates 4000 --explore-ratio 0.5
"""

from fairseq_plugin import checkpoint_compat
# The startup hook (_knee_nlp_fairseq_hook) may have loaded and registered knee_scheduler before
# this package: the `from ... import` form binds it as an attribute here in both cases.
from fairseq_plugin import knee_scheduler
from fairseq_plugin.knee_scheduler import KneeConfigError, KneeLRSchedule, KneeLRScheduleConfig

checkpoint_compat.install()

__all__ = ["KneeConfigError", "KneeLRSchedule", "KneeLRScheduleConfig"]
