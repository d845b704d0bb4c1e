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
from typing import List, Optional

from fairseq.dataclass import FairseqDataclass
from fairseq.optim.lr_scheduler import FairseqLRScheduler, register_lr_scheduler
from omegaconf import II

from knee_nlp.schedule import DEFAULT_EXPLORE_RATIO, KneeSchedule, explore_steps_from_ratio
from knee_nlp.validation import check_number, check_ratio, check_step_count


logger = logging.getLogger(__name__)


class KneeConfigError(ValueError):
    """A ``--lr-scheduler knee`` setting is invalid; the message names the flag and its range."""


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
        default=II("optimization.max_update"),
        metadata={"help": "updates at which the LR reaches --end-learning-rate "
                  "(default --max-update)"},
    )
    end_learning_rate: float = field(
        default=0.0,
        metadata={"help": "learning rate at --total-num-update and after"},
    )
    lr: List[float] = II("optimization.lr")
    # No help text: fairseq's argparse bridge then fills it from --max-update. It is the horizon
    # when --total-num-update is not given (the bridge turns an unset flag into null, not into
    # the interpolation above).
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
    try:
        return _build_schedule(cfg)
    except ValueError as error:
        raise KneeConfigError(f"--lr-scheduler knee: {error}") from None


def _build_schedule(cfg: KneeLRScheduleConfig) -> KneeSchedule:
    lrs = [cfg.lr] if isinstance(cfg.lr, (int, float)) else list(cfg.lr)
    if len(lrs) != 1:
        raise ValueError(f"--lr takes exactly one value (the peak LR), got {lrs}")
    peak = check_number("--lr", lrs[0], inclusive=False)
    # Unset --total-num-update is null from the command line and ${max_update} from Hydra.
    horizon = cfg.max_update if cfg.total_num_update is None else cfg.total_num_update
    if cfg.total_num_update in (None, cfg.max_update) and (horizon is None or horizon <= 0):
        raise ValueError(
            f"no training horizon: set --max-update N or --total-num-update N with N >= 1 "
            f"(got --max-update {cfg.max_update} and no --total-num-update)"
        )
    total = check_step_count("--total-num-update", horizon, minimum=1)
    warmup = check_step_count("--warmup-updates", cfg.warmup_updates)
    warmup_init_lr = check_number("--warmup-init-lr", cfg.warmup_init_lr)
    end_lr = check_number("--end-learning-rate", cfg.end_learning_rate)
    for flag, value in (("--warmup-init-lr", warmup_init_lr), ("--end-learning-rate", end_lr)):
        if value > peak:
            raise ValueError(f"{flag} must be in [0, --lr={peak}], got {value!r}")
    if cfg.explore_updates is not None and cfg.explore_ratio is not None:
        raise ValueError(
            f"give --explore-updates ({cfg.explore_updates}) or --explore-ratio "
            f"({cfg.explore_ratio}), not both"
        )
    if cfg.explore_updates is not None:
        explore = check_step_count("--explore-updates", cfg.explore_updates)
        explore_text = f"--explore-updates {explore}"
    else:
        ratio = (DEFAULT_EXPLORE_RATIO if cfg.explore_ratio is None
                 else check_ratio("--explore-ratio", cfg.explore_ratio))
        explore = explore_steps_from_ratio(ratio, total)
        explore_text = f"--explore-ratio {ratio} x {total} = {explore} updates"
    if warmup + explore > total:
        raise ValueError(
            f"--warmup-updates ({warmup}) + explore ({explore_text}) = {warmup + explore} "
            f"must be <= --total-num-update ({total}; defaults to --max-update)"
        )
    return KneeSchedule(
        peak_lr=peak, total_steps=total, warmup_steps=warmup, explore_steps=explore,
        warmup_init_lr=warmup_init_lr, end_lr=end_lr,
    )


@register_lr_scheduler("knee", dataclass=KneeLRScheduleConfig)
class KneeLRSchedule(FairseqLRScheduler):
    """Warmup, explore at ``--lr``, then linear decay (Iyer et al., arXiv 2003.03977).

    With ``W = --warmup-updates``, ``E`` explore updates and ``T = --total-num-update``,
    the LR after ``num_updates = s`` updates is::

      s <= W:          warmup_init_lr + (lr - warmup_init_lr) * s / W
      W < s <= W + E:  lr
      W + E < s <= T:  lr + (end_learning_rate - lr) * (s - W - E) / (T - W - E)
      s > T:           end_learning_rate

    (:class:`knee_nlp.schedule.KneeSchedule` computes it). The scheduler keeps no state besides
    fairseq's ``best``: the LR depends on ``num_updates`` alone.
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

    def step_update(self, num_updates: int) -> float:
        """Set and return the LR after ``num_updates`` completed updates."""
        self.optimizer.set_lr(self.schedule(num_updates))
        return self.optimizer.get_lr()
