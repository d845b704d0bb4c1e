"""Trackers that keep a resumed run's logs free of duplicates: JSON lines and TensorBoard per phase.

Each phase counts its updates from 1 and logs ``<phase>/<metric>`` at its update number. A run
killed after update ``K`` resumes from its latest checkpoint at update ``N <= K`` and redoes
``N+1..K``; :func:`start_phase` (called once a phase knows ``N``) makes every tracker forget what
it logged for this phase after ``N``, so each (metric, update) is recorded once:

- :class:`JsonlTracker` (``logs/metrics.jsonl``, read by scripts and tests without a TensorBoard
  parser) rewrites the file without this phase's records for steps after ``N``;
- :class:`PhaseTensorBoardTracker` (the ``tensorboard`` tracker) writes each phase to its own event
  directory, ``logs/<run>/<phase>/``, and reopens it with ``SummaryWriter(purge_step=N + 1)``:
  TensorBoard then hides the earlier events at steps ``>= N + 1`` (a purge covers a whole event
  directory, hence one per phase: phase 2 resumed at update 30 must not hide phase 1's 31..300).

Other accelerate trackers (``wandb``, ...) are passed through unchanged.

>>> accelerator = Accelerator(log_with=[JsonlTracker("run", "runs/x/logs")])  # doctest: +SKIP
>>> start_phase(accelerator, "phase1", resume_step=10)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from accelerate import Accelerator
from accelerate.tracking import GeneralTracker, TensorBoardTracker, on_main_process

from knee_nlp.errors import InvalidInputError

METRICS_FILE = "metrics.jsonl"


class JsonlTracker(GeneralTracker):
    """Appends every logged dict to ``<logging_dir>/metrics.jsonl`` (main process only)."""

    name = "jsonl"
    requires_logging_directory = True

    def __init__(self, run_name: str, logging_dir: str | Path) -> None:
        super().__init__()
        self.run_name = run_name
        self.path = Path(logging_dir) / METRICS_FILE

    @property
    def tracker(self) -> Path:
        return self.path

    @on_main_process
    def store_init_configuration(self, values: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        (self.path.parent / "hparams.json").write_text(json.dumps(values, indent=1, sort_keys=True))

    @on_main_process
    def log(self, values: dict[str, Any], step: int | None = None, **kwargs: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps({"step": step, **values}) + "\n")

    @on_main_process
    def start_phase(self, phase: str, resume_step: int) -> None:
        """Drop ``phase``'s records for steps after ``resume_step`` (the updates about to be redone)."""
        if not self.path.is_file():
            return
        prefix = f"{phase}/"
        lines = self.path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not _redone(json.loads(line), prefix, resume_step)]
        if len(kept) < len(lines):
            partial = self.path.with_name(f".{self.path.name}.partial")
            partial.write_text("".join(kept))
            os.replace(partial, self.path)


def _redone(record: dict[str, Any], prefix: str, resume_step: int) -> bool:
    """Whether ``record`` holds a ``prefix`` metric of an update after ``resume_step``."""
    return (record.get("step") or 0) > resume_step and any(key.startswith(prefix) for key in record)


class PhaseTensorBoardTracker(TensorBoardTracker):
    """accelerate's TensorBoard tracker, one event directory per phase (``<logging_dir>/<run>/<phase>``).

    The run's hyperparameters go to ``<logging_dir>/<run>`` as with accelerate's tracker;
    :meth:`start_phase` switches the writer to the phase's directory, with ``purge_step`` when that
    directory already holds events (a resumed phase), so the redone updates appear once.
    """

    @on_main_process
    def start_phase(self, phase: str, resume_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer.close()
        directory = Path(self.logging_dir) / phase
        resumed = any(directory.glob("events.out.tfevents.*"))
        purge_step = resume_step + 1 if resumed else None
        self.writer = SummaryWriter(str(directory), purge_step=purge_step, **self.init_kwargs)


def check_trackers(names: list[str], key: str) -> None:
    """Every name is an accelerate tracker installed here; otherwise :class:`InvalidInputError`
    naming ``key`` (accelerate itself would drop a tracker that is not installed with a warning, and
    the run would silently track nothing there)."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS, get_available_trackers

    installed = sorted(str(tracker) for tracker in get_available_trackers())
    for name in names:
        if name == JsonlTracker.name:  # always on
            continue
        if name not in LOGGER_TYPE_TO_CLASS:
            raise InvalidInputError(f"{key}: {name!r} is not a tracker; choose among "
                                    f"{', '.join(sorted([JsonlTracker.name, *LOGGER_TYPE_TO_CLASS]))} "
                                    f"({JsonlTracker.name}, logs/{METRICS_FILE}, is always written)")
        if name not in installed:
            raise InvalidInputError(f"{key}: the {name!r} tracker is not installed in this environment "
                                    f"(installed: {', '.join(installed) or 'none'}); install it "
                                    f"(pip install {name}) or remove it from {key}")


def trackers_for(names: list[str], run_name: str, logging_dir: Path) -> list[GeneralTracker | str]:
    """``log_with`` for ``logging.trackers``: metrics.jsonl always, ``tensorboard`` per phase, others as named."""
    phased = {"tensorboard": lambda: PhaseTensorBoardTracker(run_name, logging_dir)}
    others = [name for name in names if name != JsonlTracker.name]
    return [JsonlTracker(run_name, logging_dir), *(phased[name]() if name in phased else name for name in others)]


def start_phase(accelerator: Accelerator, phase: str, resume_step: int) -> None:
    """Tell every tracker that ``phase`` (re)starts after update ``resume_step`` (0 for a new phase)."""
    for tracker in accelerator.trackers:
        if hasattr(tracker, "start_phase"):
            tracker.start_phase(phase, resume_step)


def read_metrics(path: str | Path, key: str) -> dict[int, float]:
    """``{step: value}`` for ``key`` in a metrics file (were a step recorded twice, the last wins)."""
    series: dict[int, float] = {}
    for line in Path(path).read_text().splitlines():
        record = json.loads(line)
        if key in record:
            series[record["step"]] = record[key]
    return series
