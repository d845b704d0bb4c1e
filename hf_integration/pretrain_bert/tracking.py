"""A JSON-lines accelerate tracker: one ``{"step": ..., key: value}`` object per ``log`` call.

Used next to TensorBoard so that scripts and tests read metrics without a TensorBoard parser.
A resumed run appends; a step logged twice (work redone after a kill) keeps its last record
in :func:`read_metrics`.

>>> accelerator = Accelerator(log_with=[JsonlTracker("run", "runs/x")])  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from accelerate.tracking import GeneralTracker, on_main_process

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


def read_metrics(path: str | Path, key: str) -> dict[int, float]:
    """``{step: value}`` for ``key`` in a metrics file (the last record of a step wins)."""
    series: dict[int, float] = {}
    for line in Path(path).read_text().splitlines():
        record = json.loads(line)
        if key in record:
            series[record["step"]] = record[key]
    return series
