"""Several processes on one explore-sweep directory: a run another process computes is skipped,
and the shared writes (manifest, data, report) wait for each other instead of failing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from knee_nlp.sweep.backend import SharpnessSettings
from knee_nlp.sweep.runner import load_results, open_sweep, run_sweep
from tests.bert.test_sweep_explore import FakeBackend

SHARP = SharpnessSettings(eps=1e-4, steps=3, lr=0.2, batches=1)


def test_a_run_locked_by_another_process_is_skipped_then_done_by_the_next_call(
        tmp_path: Path, lock_holder: Callable) -> None:
    open_sweep(tmp_path, FakeBackend(), SHARP)  # as the other worker's first call did
    holder = lock_holder(tmp_path / "runs" / "explore0.25-seed1")  # that worker computes this run
    logged: list[str] = []
    backend = FakeBackend()
    run_sweep(tmp_path, backend, [0.0, 0.25, 0.5], [1], SHARP, log=logged.append)
    assert backend.trained == [(0.0, 1), (0.5, 1)]
    assert f"[2/3] explore0.25-seed1 skipped: being computed by PID {holder.pid}" in "\n".join(logged)
    assert logged[-1].startswith("left to the process(es) computing them: explore0.25-seed1")
    assert sorted(r["run"] for r in load_results(tmp_path)) == ["explore0-seed1", "explore0.5-seed1"]

    holder.kill()  # that worker died: the next call takes the run over and finishes it
    holder.wait()
    again = FakeBackend()
    chosen = run_sweep(tmp_path, again, [0.0, 0.25, 0.5], [1], SHARP, log=lambda _: None)
    assert again.trained == [(0.25, 1)] and len(load_results(tmp_path)) == 3
    assert chosen["explore_ratio"] == 0.25 and chosen["validation"]["n"] == 1


def test_the_sweep_directory_lock_is_waited_for_not_refused(
        tmp_path: Path, lock_holder: Callable, capsys: pytest.CaptureFixture) -> None:
    holder = lock_holder(tmp_path)  # another worker writing the report
    threading.Timer(1.0, holder.kill).start()
    backend = FakeBackend()
    run_sweep(tmp_path, backend, [0.0], [1], SHARP, log=lambda _: None)
    assert backend.trained == [(0.0, 1)] and (tmp_path / "results.json").is_file()
    assert f"waiting for PID {holder.pid}" in capsys.readouterr().err
