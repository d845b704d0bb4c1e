"""fairseq ``--lr-scheduler knee``: the Knee (explore-exploit) schedule of Iyer et al.

Linear warmup from ``--warmup-init-lr`` to ``--lr`` over ``--warmup-updates``, hold ``--lr``
for the explore phase (``--explore-updates`` or ``--explore-ratio`` of the budget, default
0.5), then linear decay to ``--end-learning-rate`` at ``--total-num-update`` (default
``--max-update``). The formula is :class:`knee_nlp.schedule.KneeSchedule`; this module only maps
fairseq's config onto it. The LR is a pure function of ``num_updates``, so resume from a
checkpoint, ``--update-freq`` and fp16 updates skipped on overflow need no extra state.

Example::

    fairseq-train data-bin/iwslt14.tokenized.de-en --user-dir "$(knee-nlp fairseq-user-dir)" \\
        --arch transformer_iwslt_de_en --optimizer adam --lr 5e-4 --max-update 50000 \\
        --lr-scheduler knee --warmup-updates 4000 --explore-ratio 0.5
"""

# No ``from __future__ import annotations``: fairseq reads the dataclass field types at runtime.
import logging
from dataclasses import dataclass, field
from typing import Any, List, Optional

from fairseq.dataclass import FairseqDataclass
from fairseq.optim.lr_scheduler import FairseqLRScheduler, register_lr_scheduler
from omegaconf import II

from knee_nlp.fairseq_options import knee_schedule_from_fairseq
from knee_nlp.schedule import KneeSchedule, describe_settings
from knee_nlp.validation import ArgumentError


logger = logging.getLogger(__name__)
_PREFIX = "--lr-scheduler knee: "


class KneeConfigError(ArgumentError):
    """A ``--lr-scheduler knee`` setting is invalid; carries the flag, its value and its range."""


@dataclass
class KneeLRScheduleConfig(FairseqDataclass):
    warmup_updates: int = field(
        default=0,
        metadata={"help": "warmup the learning rate linearly from --warmup-init-lr to --lr "
                  "over the first N updates"},
    )
    warmup_init_lr: float = field(
        default=0.0,
        metadata={"help": "learning rate at update 0 when --warmup-updates > 0"},
    )
    explore_updates: Optional[int] = field(
        default=None,
        metadata={"help": "updates held at --lr after warmup (the explore phase); "
                  "exclusive with --explore-ratio"},
    )
    explore_ratio: Optional[float] = field(
        default=None,
        metadata={"help": "explore phase as a fraction in [0, 1] of --total-num-update "
                  "(default 0.5 when --explore-updates is not given)"},
    )
    total_num_update: Optional[int] = field(
        default=None,  # not II("optimization.max_update"): fairseq's bridge would then parse the flag untyped
        metadata={"help": "updates at which the LR reaches --end-learning-rate "
                  "(default --max-update)"},
    )
    end_learning_rate: float = field(
        default=0.0,
        metadata={"help": "learning rate at --total-num-update and after"},
    )
    lr: List[float] = II("optimization.lr")
    # No help text: fairseq's argparse bridge then fills it from --max-update. It is the horizon
    # when --total-num-update is not given.
    max_update: int = II("optimization.max_update")


def schedule_from_config(cfg: KneeLRScheduleConfig) -> KneeSchedule:
    """Validate a ``knee`` config and build its :class:`KneeSchedule`.

    Raises :class:`KneeConfigError` naming the fairseq flag, its value and the allowed range.

    >>> from omegaconf import OmegaConf
    >>> cfg = OmegaConf.create({"warmup_updates": 10, "warmup_init_lr": 0.0,
    ...     "explore_updates": None, "explore_ratio": 0.5, "total_num_update": 100,
    ...     "end_learning_rate": 0.0, "lr": [1e-3], "max_update": 100})
    >>> schedule_from_config(cfg).explore_steps
    50
    """
    lrs = [cfg.lr] if isinstance(cfg.lr, (int, float)) else list(cfg.lr)
    if len(lrs) != 1:
        raise KneeConfigError("--lr", lrs, "exactly one value (the peak LR)",
                              f"{_PREFIX}--lr takes exactly one value (the peak LR), got {lrs}")
    # Unset --total-num-update is null (from the command line and from Hydra).
    horizon = cfg.max_update if cfg.total_num_update is None else cfg.total_num_update
    if cfg.total_num_update in (None, cfg.max_update) and (horizon is None or horizon <= 0):
        raise KneeConfigError(
            "--max-update", cfg.max_update, "an integer >= 1",
            f"{_PREFIX}no training horizon: set --max-update N or --total-num-update N with N >= 1 "
            f"(got --max-update {cfg.max_update} and no --total-num-update)",
        )
    try:
        return knee_schedule_from_fairseq(
            lr=lrs[0], total_num_update=horizon, warmup_updates=cfg.warmup_updates,
            explore_updates=cfg.explore_updates, explore_ratio=cfg.explore_ratio,
            warmup_init_lr=cfg.warmup_init_lr, end_learning_rate=cfg.end_learning_rate,
        )
    except ArgumentError as error:
        raise error.renamed({}, _PREFIX, KneeConfigError) from None


@register_lr_scheduler("knee", dataclass=KneeLRScheduleConfig)
class KneeLRSchedule(FairseqLRScheduler):
    """Warmup, explore at ``--lr``, then linear decay (Iyer et al., arXiv 2003.03977).

    With ``W = --warmup-updates``, ``E`` explore updates and ``T = --total-num-update``,
    the LR after ``num_updates = s`` updates is::

      0 <= s < W:      warmup_init_lr + (lr - warmup_init_lr) * s / W
      W <= s < W + E:  lr
      W + E <= s < T:  lr + (end_learning_rate - lr) * (s - W - E) / (T - W - E)
      s >= T:          end_learning_rate

    (:class:`knee_nlp.schedule.KneeSchedule` computes it). The LR depends on ``num_updates``
    alone; the state is fairseq's ``best`` plus the schedule's settings, so that a run resumed
    with other settings (a longer ``--max-update``, say) logs a warning naming both schedules.
    """

    def __init__(self, cfg: KneeLRScheduleConfig, optimizer):
        super().__init__(cfg, optimizer)
        self.schedule = schedule_from_config(cfg)
        self.optimizer.set_lr(self.schedule(0))
        s = self.schedule
        logger.info(
            f"knee: warmup {s.warmup_steps} updates to lr {s.peak_lr:g}, explore until update "
            f"{s.explore_end}, linear decay to {s.end_lr:g} at update {s.total_steps}"
        )

    def _settings(self) -> dict[str, Any]:
        return {"peak_lr": self.schedule.peak_lr, **self.schedule.settings()}

    def state_dict(self) -> dict[str, Any]:
        """fairseq's ``best`` and this run's schedule settings (plain numbers)."""
        return {**super().state_dict(), "knee_schedule": self._settings()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``best``; warn when the checkpoint was trained on another Knee schedule (the LR
        then follows this run's schedule from the restored update, as fairseq's own schedulers do)."""
        super().load_state_dict(state_dict)
        saved = state_dict.get("knee_schedule")  # absent in checkpoints of older knee-nlp versions
        if saved is not None and saved != self._settings():
            logger.warning(
                f"knee: the checkpoint's schedule {describe_settings(saved)} differs from this run's "
                f"{describe_settings(self._settings())}; the LR follows this run's schedule from the "
                "restored update (pass the checkpoint's --lr, --max-update/--total-num-update and knee "
                "flags to continue its trajectory exactly)")

    def step_update(self, num_updates: int) -> float:
        """Set and return the LR after ``num_updates`` completed updates."""
        self.optimizer.set_lr(self.schedule(num_updates))
        return self.optimizer.get_lr()
