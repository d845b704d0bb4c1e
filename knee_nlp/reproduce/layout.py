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

>>> run_directory(Path("runs/tiny"), "knee-50ep-seed1")
PosixPath('runs/tiny/runs/knee-50ep-seed1')
"""

from __future__ import annotations

from pathlib import Path

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


def run_directory(run_dir: Path, name: str) -> Path:
    """The directory of run ``name`` (``<schedule>-<budget>-seed<seed>``)."""
    return Path(run_dir) / RUNS / name


def run_directories(run_dir: Path) -> list[Path]:
    """Every run directory under ``run_dir``, sorted by name."""
    return sorted(path for path in (Path(run_dir) / RUNS).glob("*") if path.is_dir())
