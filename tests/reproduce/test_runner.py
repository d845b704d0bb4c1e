"""Where an interrupted run resumes from."""

from __future__ import annotations

from pathlib import Path

from knee_nlp.reproduce.runner import resume_point


def _write(path: Path, size: int) -> None:
    path.write_bytes(b"x" * size)


def test_fresh_run_has_no_resume_point(tmp_path: Path) -> None:
    assert resume_point(tmp_path) is None


def test_complete_last_checkpoint_is_used(tmp_path: Path) -> None:
    _write(tmp_path / "checkpoint1.pt", 10)
    _write(tmp_path / "checkpoint2.pt", 12)
    _write(tmp_path / "checkpoint_last.pt", 12)
    assert resume_point(tmp_path) == tmp_path / "checkpoint_last.pt"


def test_interrupted_copy_falls_back_to_the_newest_epoch_checkpoint(tmp_path: Path) -> None:
    _write(tmp_path / "checkpoint9.pt", 10)
    _write(tmp_path / "checkpoint10.pt", 12)  # numeric, not lexicographic, order
    assert resume_point(tmp_path) == tmp_path / "checkpoint10.pt"  # last copy never started
    _write(tmp_path / "checkpoint_last.pt", 5)  # killed while copying
    assert resume_point(tmp_path) == tmp_path / "checkpoint10.pt"
