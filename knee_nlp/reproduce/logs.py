"""Parse fairseq's ``--log-format json`` output into training and validation curves.

fairseq prints one JSON object per logging event, e.g.::

    2026-11-24 19:50:01 | INFO | train_inner | {"epoch": 1, "num_updates": "5", "lr": "0.00025", ...}
    2026-11-24 19:52:19 | INFO | valid | {"epoch": 10, "valid_loss": "4.601", "valid_num_updates": "100", ...}

A resumed run logs again the updates after its last checkpoint; the last record per update
wins, so the curves describe the trajectory that produced the final model.

Example::

    curves = parse_training_log(Path("train.log").read_text())
    curves.lr_points()       # [(5, 0.00025), (10, 0.0005), ...]
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

_LINE = re.compile(r"\|\s*(train_inner|train|valid)\s*\|\s*(\{.*\})\s*$")


@dataclass(frozen=True)
class TrainingCurves:
    """Training records every ``--log-interval`` updates, epoch summaries and validation
    records, each ordered by update."""

    train: list[dict[str, float]]
    epochs: list[dict[str, float]]
    valid: list[dict[str, float]]

    def lr_points(self) -> list[tuple[int, float]]:
        """Logged LRs, including the one at each epoch end (so the last update is covered)."""
        points = {int(r["num_updates"]): r["lr"] for r in self.epochs + self.train if "lr" in r}
        return sorted(points.items())

    def train_loss_points(self) -> list[tuple[int, float]]:
        return [(int(r["num_updates"]), r["loss"]) for r in self.train if "loss" in r]

    def valid_points(self, metric: str = "loss") -> list[tuple[int, float]]:
        return [(int(r["num_updates"]), r[metric]) for r in self.valid if metric in r]

    @property
    def last_update(self) -> int:
        updates = [int(r["num_updates"]) for r in self.train + self.epochs + self.valid]
        return max(updates, default=0)


def _number(value: object) -> float | None:
    try:
        return float(value)  # fairseq logs numbers as strings
    except (TypeError, ValueError):
        return None


def parse_training_log(text: str) -> TrainingCurves:
    """Curves from a fairseq-train log (several resumed attempts may be concatenated)."""
    records: dict[str, dict[int, dict[str, float]]] = {"train_inner": {}, "train": {}, "valid": {}}
    for line in text.splitlines():
        match = _LINE.search(line)
        if not match:
            continue
        kind, payload = match.groups()
        try:
            record = json.loads(payload)
        except json.JSONDecodeError:
            continue
        prefix = "" if kind == "train_inner" else f"{kind}_"
        values = {key[len(prefix):]: _number(value) for key, value in record.items()
                  if key.startswith(prefix)}
        values = {key: value for key, value in values.items() if value is not None}
        if "num_updates" not in values:
            continue
        values["epoch"] = float(record.get("epoch", math.nan))
        records[kind][int(values["num_updates"])] = values
    ordered = {kind: [found[k] for k in sorted(found)] for kind, found in records.items()}
    return TrainingCurves(train=ordered["train_inner"], epochs=ordered["train"],
                          valid=ordered["valid"])
