"""What a model family provides to the explore sweep.

A backend trains one run for a given explore fraction and seed, scores it on a validation and a
test set, and measures the sharpness of its final weights. The runner
(:mod:`knee_nlp.sweep.runner`) owns the sweep directory, resumption and the report; a backend only
fills one run directory. Every step must be resumable or cheap to repeat: the runner calls
``train`` again for a run without ``scores.json`` and expects it to continue, not restart.

Implemented: :class:`knee_nlp.sweep.bert.BertBackend` (tiny BERT masked LM, MLM accuracy) and
:class:`knee_nlp.sweep.translation.TranslationBackend` (a ``knee-nlp reproduce`` experiment
trained with fairseq, BLEU on its validation and test sets).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from knee_nlp.errors import RunFailedError

if TYPE_CHECKING:
    from knee_nlp.sharpness_targets import Target


class RunFailed(RunFailedError, RuntimeError):
    """One run's training or scoring failed; the sweep records it and goes on with the others."""


@dataclass(frozen=True)
class SharpnessSettings:
    """Keskar sharpness of the final weights on a fixed sample of training batches (same for all runs)."""

    eps: float
    steps: int
    lr: float
    batches: int
    seed: int = 0


@dataclass(frozen=True)
class Scores:
    """Validation and test score of one run (higher is better), plus anything else worth keeping."""

    validation: float
    test: float
    extra: dict[str, Any]


class Backend(Protocol):
    """One model family in the explore sweep."""

    #: short name recorded in ``sweep.json`` (``bert``)
    name: str
    #: the score, e.g. ``"MLM accuracy"`` or ``"BLEU"``; higher is better
    score_name: str
    #: how scores are shown: ``"percent"`` (fractions printed as %) or ``"plain"``
    score_format: str

    def settings(self) -> dict[str, Any]:
        """Everything that changes a run's results apart from explore ratio and seed (JSON-able).
        A sweep directory created with other settings is refused."""

    def describe_data(self) -> dict[str, str]:
        """What the validation and test sets are, in words, for the report."""

    def prepare(self, sweep_dir: Path) -> None:
        """Write shared inputs into the sweep directory (for example the data split); idempotent."""

    def check_ratio(self, explore_ratio: float) -> None:
        """Raise ``ValueError`` if ``explore_ratio`` does not fit the backend's schedule (called
        after :meth:`prepare`, before any training)."""

    def is_trained(self, run_dir: Path) -> bool:
        """Whether ``run_dir`` holds a finished training run."""

    def train(self, run_dir: Path, explore_ratio: float, seed: int) -> None:
        """Train (or resume) one run into ``run_dir``; raise :class:`RunFailed` (or another
        :class:`~knee_nlp.errors.RunFailedError`) on failure."""

    def score(self, run_dir: Path) -> Scores:
        """Validation and test score of the finished run in ``run_dir``."""

    def sharpness(self, run_dir: Path, settings: SharpnessSettings) -> dict[str, Any]:
        """Keskar sharpness of the run's final weights (a :class:`SharpnessResult` dict plus context)."""


def measure_sharpness(target: Target, settings: SharpnessSettings, **context: Any) -> dict[str, Any]:
    """Keskar sharpness of a loaded ``target`` with the sweep's settings: what ``sharpness.json``
    holds (the :class:`~knee_nlp.sharpness.SharpnessResult` fields, the number of batches the
    sample was drawn from, ``context`` and the seconds it took)."""
    from knee_nlp.sharpness import keskar_sharpness

    started = time.perf_counter()
    result = keskar_sharpness(target.model, target.batches, target.loss_fn, eps=settings.eps,
                              steps=settings.steps, lr=settings.lr, seed=settings.seed, progress=True)
    return {**result.to_dict(), "batches_available": target.batches_available, **context,
            "seconds": round(time.perf_counter() - started, 2)}
