"""The explore fraction of the tuned ``knee`` schedule: from the command line or a sweep's choice.

``knee`` is the schedule whose explore fraction is tuned on validation data (``knee_explore50``
keeps the paper's untuned 50%). ``knee-nlp reproduce --explore-ratio R`` or ``--explore-from
recommended.json`` (written by ``knee-nlp sweep-explore``, chosen on validation scores) replaces
the placeholder of its config block; other schedules are untouched. The choice and where it came
from are recorded in the run directory's manifest.

Example::

    choice = read_recommendation(Path("sweep/recommended.json"), "multi30k", "cpu")
    runs = [with_explore(run, choice) for run in runs]
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from knee_nlp.errors import UserError
from knee_nlp.reproduce.config import RunConfig
from knee_nlp.sweep.report import TIE
from knee_nlp.validation import check_ratio

TUNED_SCHEDULE = "knee"


class ExploreChoiceError(UserError, ValueError):
    """An explore fraction or recommendation file that cannot be used."""


@dataclass(frozen=True)
class ExploreChoice:
    """The tuned schedule's explore fraction, how it was chosen and the flag that gave it."""

    ratio: float
    chosen_by: str
    flag: str = "--explore-ratio"

    def to_json(self) -> dict[str, float | str]:
        return {"explore_ratio": self.ratio, "chosen_by": self.chosen_by}


def explore_choice(ratio: float, chosen_by: str = "--explore-ratio") -> ExploreChoice:
    """Check ``ratio`` (a fraction of the whole budget, in [0, 1]): ``ArgumentError`` otherwise."""
    return ExploreChoice(check_ratio("--explore-ratio", ratio), chosen_by)


def _load(path: Path) -> tuple[dict[str, Any], str]:
    try:
        data = Path(path).read_bytes()
        record = json.loads(data)
    except FileNotFoundError:
        raise ExploreChoiceError(f"--explore-from: no file {path}") from None
    except IsADirectoryError:
        raise ExploreChoiceError(f"--explore-from {path} is a directory: pass the recommended.json "
                                 "inside the sweep directory") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ExploreChoiceError(f"--explore-from {path}: not a recommendation written by knee-nlp "
                                 f"sweep-explore (not JSON: {error})") from None
    if not isinstance(record, dict) or "explore_ratio" not in record:
        raise ExploreChoiceError(f"--explore-from {path}: not a recommendation written by knee-nlp "
                                 "sweep-explore (need a JSON object with 'explore_ratio')")
    return record, hashlib.sha256(data).hexdigest()


def read_recommendation(path: Path, experiment: str, preset: str) -> ExploreChoice:
    """The ``explore_ratio`` of a ``recommended.json`` written by ``knee-nlp sweep-explore
    translation`` for this ``experiment`` and ``preset``, checked against the file's own candidates
    (an edited choice is refused); ``chosen_by`` records the file, its SHA-256 and the seeds."""
    record, digest = _load(path)
    where = f"--explore-from {path}"
    settings = record.get("settings")
    if not isinstance(settings, dict) or not isinstance(record.get("candidates"), dict):
        raise ExploreChoiceError(f"{where}: written by an older knee-nlp sweep-explore (no settings or "
                                 "candidates recorded); rewrite it with: knee-nlp sweep-explore translation "
                                 "--sweep-dir <its sweep dir> --report-only")
    backend = settings.get("backend_settings", {})
    found = (record.get("backend"), backend.get("experiment"), backend.get("preset"))
    if found != ("translation", experiment, preset):
        raise ExploreChoiceError(f"{where} was chosen by a {found[0]} sweep of experiment {found[1]!r}, "
                                 f"preset {found[2]!r}; this command runs {experiment!r}, preset {preset!r}: "
                                 f"sweep this experiment and preset (knee-nlp sweep-explore translation "
                                 f"--experiment {experiment} --preset {preset}) or pass --explore-ratio")
    ratio = record["explore_ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio):
        raise ExploreChoiceError(f"{where}: explore_ratio must be a number in [0, 1], got {ratio!r}")
    means = {float(label): entry.get("validation_mean") for label, entry in record["candidates"].items()}
    best = max(means, key=lambda r: (means[r], -r))
    if float(ratio) not in means or means[best] - means[float(ratio)] > TIE:
        raise ExploreChoiceError(f"{where}: explore_ratio {ratio!r} is not the best validation mean of "
                                 f"its own candidates ({best:g}); the file was edited: rewrite it with "
                                 "knee-nlp sweep-explore ... --report-only, or pass --explore-ratio")
    chosen_by = (f"{path} (sha256 {digest[:16]}; {record.get('chosen_on', 'chosen on validation')}; "
                 f"seeds {record.get('seeds')}; budget {backend.get('budget')})")
    return ExploreChoice(check_ratio("--explore-from", ratio), chosen_by, flag="--explore-from")


def with_explore(run: RunConfig, choice: ExploreChoice | None) -> RunConfig:
    """``run`` with the tuned schedule's explore fraction set to ``choice`` (others unchanged)."""
    if choice is None or run.schedule != TUNED_SCHEDULE:
        return run
    lr_scheduler = {key: value for key, value in run.lr_scheduler.items()
                    if key not in ("explore_ratio", "explore_updates")}
    return replace(run, lr_scheduler={**lr_scheduler, "explore_ratio": choice.ratio},
                   source=f"{run.source}; explore_ratio from {choice.chosen_by}")
