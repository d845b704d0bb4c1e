"""Which fairseq checkpoint a re-run continues from, when some are damaged, cut short or stale."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from knee_nlp.reproduce.checkpoints import (DamagedCheckpointError, numbered_checkpoints,
                                            read_checkpoint, resume_point)


def save(path: Path, updates: int) -> Path:
    """A checkpoint shaped like fairseq's, with ``updates`` in its optimizer history."""
    torch.save({"model": {"weight": torch.arange(4096.0) + updates},
                "optimizer_history": [{"num_updates": updates}]}, path)
    return path


def zero_middle(path: Path) -> None:
    """Zero 64 bytes in the middle: same size, and torch.load alone still reads it."""
    with open(path, "r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        handle.write(bytes(64))


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def test_zeroed_bytes_load_with_torch_but_are_caught(tmp_path: Path) -> None:
    path = save(tmp_path / "checkpoint1.pt", 6)
    zero_middle(path)
    torch.load(path, weights_only=False)  # why the CRC check is needed
    with pytest.raises(DamagedCheckpointError, match="does not match its CRC-32"):
        read_checkpoint(path)
    truncate(path)
    with pytest.raises(DamagedCheckpointError, match=r"^\w+Error: "):
        read_checkpoint(path)


def test_fresh_run_has_no_resume_point(tmp_path: Path) -> None:
    point = resume_point(tmp_path)
    assert point.checkpoint is None and point.skipped == []


def test_intact_last_checkpoint_is_used(tmp_path: Path) -> None:
    save(tmp_path / "checkpoint1.pt", 6)
    save(tmp_path / "checkpoint2.pt", 12)
    save(tmp_path / "checkpoint_last.pt", 12)
    point = resume_point(tmp_path)
    assert point.checkpoint.path.name == "checkpoint_last.pt" and point.checkpoint.updates == 12
    assert point.skipped == []


@pytest.mark.parametrize("damage", [zero_middle, truncate])
def test_damaged_last_falls_back_to_the_newest_intact_epoch(tmp_path: Path, damage) -> None:
    save(tmp_path / "checkpoint9.pt", 54)
    save(tmp_path / "checkpoint10.pt", 60)  # numeric, not lexicographic, order
    damage(save(tmp_path / "checkpoint_last.pt", 60))
    point = resume_point(tmp_path)
    assert point.checkpoint.path.name == "checkpoint10.pt" and point.checkpoint.updates == 60
    assert [entry["file"] for entry in point.skipped] == ["checkpoint_last.pt"]


def test_damaged_newest_epoch_falls_back_further(tmp_path: Path) -> None:
    save(tmp_path / "checkpoint1.pt", 6)
    truncate(save(tmp_path / "checkpoint2.pt", 12))
    zero_middle(save(tmp_path / "checkpoint_last.pt", 12))
    point = resume_point(tmp_path)
    assert point.checkpoint.path.name == "checkpoint1.pt" and point.checkpoint.updates == 6
    assert [entry["file"] for entry in point.skipped] == ["checkpoint_last.pt", "checkpoint2.pt"]
    assert "CRC-32" in point.skipped[0]["reason"] and "Error: " in point.skipped[1]["reason"]


def test_a_copy_that_never_happened_leaves_last_one_save_behind(tmp_path: Path) -> None:
    save(tmp_path / "checkpoint_last.pt", 6)  # epoch 1's copy; killed before epoch 2's
    save(tmp_path / "checkpoint1.pt", 6)
    save(tmp_path / "checkpoint2.pt", 12)
    assert resume_point(tmp_path).checkpoint.path.name == "checkpoint2.pt"


def test_nothing_intact_is_reported_not_restarted(tmp_path: Path) -> None:
    truncate(save(tmp_path / "checkpoint1.pt", 6))
    zero_middle(save(tmp_path / "checkpoint_last.pt", 6))
    point = resume_point(tmp_path)
    assert point.checkpoint is None
    assert [entry["file"] for entry in point.skipped] == ["checkpoint_last.pt", "checkpoint1.pt"]


def test_mid_epoch_checkpoints_come_before_their_epoch_end(tmp_path: Path) -> None:
    for name in ("checkpoint2.pt", "checkpoint3_15.pt", "checkpoint3.pt", "checkpoint3_14.pt",
                 "checkpoint_best.pt", "checkpoint_avg3.pt", "checkpoint12.pt.tmp"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in numbered_checkpoints(tmp_path)] == [
        "checkpoint3.pt", "checkpoint3_15.pt", "checkpoint3_14.pt", "checkpoint2.pt"]
