"""Where ``knee-nlp reproduce`` keeps things in a run directory: one place for every name.

::

    <run-dir>/reproduce.json              manifest: experiment, preset, data, paper numbers
    <run-dir>/runs/<name>/plan.json       what the run is (written first)
    <run-dir>/runs/<name>/train.log       fairseq's JSON training log
    <run-dir>/runs/<name>/checkpoints/    fairseq's save dir
    <run-dir>/runs/<name>/TRAINED         marker: training reached its budget
    <run-dir>/runs/<name>/generate.log    fairseq-generate output on the test set
    <run-dir>/runs/<name>/result.json     scores and curves; its presence means "finished"
    <run-dir>/results.json, results.md    the report (plus PNG plots)

A damaged JSON state file (cut short by a full disk, say) is read by :func:`read_state` into an
error naming the file and how to recover, never a traceback.

>>> run_directory(Path("runs/tiny"), "knee-50ep-seed1")
PosixPath('runs/tiny/runs/knee-50ep-seed1')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from knee_nlp.state_files import read_json

MANIFEST = "reproduce.json"
RUNS = "runs"
PLAN = "plan.json"
TRAIN_LOG = "train.log"
CHECKPOINTS = "checkpoints"
TRAINED = "TRAINED"
GENERATE_LOG = "generate.log"
RESULT = "result.json"
RESULTS_JSON = "results.json"
RESULTS_MARKDOWN = "results.md"


_AGAIN = "delete it and run the same knee-nlp reproduce command again"
#: how to recover from a damaged state file, by its name
RECOVERY = {
    MANIFEST: f"{_AGAIN} to record the setup anew (finished runs are kept)",
    PLAN: f"{_AGAIN}: the run continues from its checkpoints",
    RESULT: f"{_AGAIN}: the run is scored again from its checkpoints",
}


def read_state(path: Path) -> Any:
    """The JSON object in the state file ``path`` (named in :data:`RECOVERY`); a damaged one is a
    :class:`~knee_nlp.state_files.StateFileError` naming it and how to recover."""
    return read_json(path, RECOVERY[Path(path).name])


def run_directory(run_dir: Path, name: str) -> Path:
    """The directory of run ``name`` (``<schedule>-<budget>-seed<seed>``)."""
    return Path(run_dir) / RUNS / name


def run_directories(run_dir: Path) -> list[Path]:
    """Every run directory under ``run_dir``, sorted by name."""
    return sorted(path for path in (Path(run_dir) / RUNS).glob("*") if path.is_dir())
