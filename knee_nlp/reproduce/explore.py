"""The explore fraction of the tuned ``knee`` schedule: from the command line or a sweep's choice.

``knee`` is the schedule whose explore fraction is tuned on validation data (``knee_explore50``
keeps the paper's untuned 50%). ``knee-nlp reproduce --explore-ratio R`` or ``--explore-from
recommended.json`` (written by ``knee-nlp sweep-explore``, chosen on validation scores) replaces
the placeholder of its config block; other schedules are untouched. The choice and where it came
from are recorded in the run directory's manifest.

Example::

    choice = read_recommendation(Path("sweep/recommended.json"))
    runs = [with_explore(run, choice) for run in runs]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from knee_nlp.errors import UserError
from knee_nlp.reproduce.config import RunConfig
from knee_nlp.validation import check_ratio

TUNED_SCHEDULE = "knee"


class ExploreChoiceError(UserError, ValueError):
    """An explore fraction or recommendation file that cannot be used."""


@dataclass(frozen=True)
class ExploreChoice:
    """The tuned schedule's explore fraction and how it was chosen."""

    ratio: float
    chosen_by: str

    def to_json(self) -> dict[str, float | str]:
        return {"explore_ratio": self.ratio, "chosen_by": self.chosen_by}


def explore_choice(ratio: float, chosen_by: str = "--explore-ratio") -> ExploreChoice:
    """Check ``ratio`` (a fraction of the whole budget, in [0, 1]): ``ArgumentError`` otherwise."""
    return ExploreChoice(check_ratio("--explore-ratio", ratio), chosen_by)


def read_recommendation(path: Path) -> ExploreChoice:
    """The ``explore_ratio`` of a ``recommended.json`` written by ``knee-nlp sweep-explore``."""
    try:
        record = json.loads(Path(path).read_text())
        ratio = record["explore_ratio"]
    except FileNotFoundError:
        raise ExploreChoiceError(f"--explore-from: no file {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError) as error:
        raise ExploreChoiceError(f"--explore-from {path}: not a recommendation written by "
                                 f"knee-nlp sweep-explore (need a JSON object with "
                                 f"'explore_ratio'): {error}") from None
    chosen_on = record.get("chosen_on", "unstated")
    return explore_choice(ratio, f"{path} (chosen on: {chosen_on})")


def with_explore(run: RunConfig, choice: ExploreChoice | None) -> RunConfig:
    """``run`` with the tuned schedule's explore fraction set to ``choice`` (others unchanged)."""
    if choice is None or run.schedule != TUNED_SCHEDULE:
        return run
    lr_scheduler = {key: value for key, value in run.lr_scheduler.items()
                    if key not in ("explore_ratio", "explore_updates")}
    return replace(run, lr_scheduler={**lr_scheduler, "explore_ratio": choice.ratio},
                   source=f"{run.source}; explore_ratio from {choice.chosen_by}")
