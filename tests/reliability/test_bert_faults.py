"""Fault injection into the BERT launcher: a second launch, damaged and cut-short checkpoints."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from hf_integration.pretrain_bert.checkpoint import SUMS_FILE
from tests.bert.test_pretrain_runs import assert_finished, core_lr, series

pytestmark = pytest.mark.slow


def run_until(process: subprocess.Popen, marker: str, *, meanwhile=None) -> str:
    """Read the launcher's output until a line holds ``marker``, then kill it (SIGKILL);
    ``meanwhile(line)`` sees every line before."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        if meanwhile is not None:
            meanwhile(line)
        if marker in line:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "".join(seen)[-3000:]
    return "".join(seen)


def test_a_second_launch_is_refused(tmp_path: Path, tiny_config, pretrain_cli,
                                    lock_holder) -> None:
    holder = lock_holder(tmp_path / "run")
    result = pretrain_cli(tiny_config(tmp_path / "run"), tmp_path / "config.yaml")
    assert result.returncode == 2 and f"in use by PID {holder.pid}" in result.stderr, result.stderr
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".lock"]  # nothing written


def test_damaged_checkpoint_is_skipped(tmp_path: Path, tiny_config, pretrain_cli, pretrain_popen,
                                       locked_elsewhere) -> None:
    """Killed after update 20 (its run_dir locked while it ran), with step 20's weights then
    zeroed in place (same size, still loadable: its SHA256SUMS catches it): the re-run warns,
    keeps it as damaged-step_00000020, resumes from step 10 and finishes on the exact LR trace."""
    run_dir = tmp_path / "run"
    raw = tiny_config(run_dir)
    locked = []
    run_until(pretrain_popen(raw, tmp_path / "config.yaml"), "step_00000020",
              meanwhile=lambda line: locked.append(locked_elsewhere(run_dir))
              if line.startswith("starting ") else None)
    assert locked == [True]
    weights = run_dir / "phase1" / "checkpoints" / "step_00000020" / "model.safetensors"
    with open(weights, "r+b") as handle:
        handle.seek(weights.stat().st_size // 2)
        handle.write(bytes(4096))

    result = pretrain_cli(raw, tmp_path / "config.yaml")
    assert_finished(result, run_dir)
    assert "step_00000020 is damaged (model.safetensors does not match its SHA-256)" in result.stdout
    assert "resumed from" in result.stdout and "step_00000010 at update 10" in result.stdout
    assert (run_dir / "phase1" / "checkpoints" / "damaged-step_00000020" / SUMS_FILE).is_file()
    assert series(run_dir, "lr") == pytest.approx(core_lr("knee"), rel=1e-12, abs=1e-15)


def test_no_intact_checkpoint_is_a_clear_error(tmp_path: Path, tiny_config, pretrain_cli,
                                               pretrain_popen) -> None:
    """The only checkpoint cut short, and saved without SHA256SUMS (as before they were
    recorded): loading fails, and the error names the file and the way out."""
    run_dir = tmp_path / "run"
    raw = tiny_config(run_dir)
    run_until(pretrain_popen(raw, tmp_path / "config.yaml"), "saved checkpoint")
    checkpoint = run_dir / "phase1" / "checkpoints" / "step_00000010"
    (checkpoint / SUMS_FILE).unlink()
    weights = checkpoint / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)

    result = pretrain_cli(raw, tmp_path / "config.yaml")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "step_00000010 is damaged (SafetensorError" in result.stdout
    assert (f"error: [phase1] no intact checkpoint to resume from: {checkpoint}" in result.stderr
            and f"delete {checkpoint.parent} to train phase1 again" in result.stderr), result.stderr
