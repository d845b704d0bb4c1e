"""One process per directory: a second start is refused naming the holder, a dead holder's lock
is taken over with a message, for ``reproduce``, ``knee-nlp data`` and the module API."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from knee_nlp.cli import main
from knee_nlp.data.recipe import MANIFEST_NAME, PreparedData, finish, open_output_dir
from knee_nlp.run_lock import LOCK_NAME, DirectoryLockError, acquire, locked, release


def test_a_second_process_is_refused_naming_the_holder(tmp_path: Path, lock_holder) -> None:
    holder = lock_holder(tmp_path / "run")
    with pytest.raises(DirectoryLockError, match=rf"in use by PID {holder.pid} on \S+ \(-c .*run, since "):
        acquire(tmp_path / "run")
    holder.stdin.close()  # the holder ends cleanly: the lock is free, nothing is reported
    holder.wait(timeout=30)
    with locked(tmp_path / "run") as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert (tmp_path / "run" / LOCK_NAME).read_text() == ""


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path: Path, lock_holder, capsys) -> None:
    holder = lock_holder(tmp_path / "run")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    assert str(holder.pid) in (tmp_path / "run" / LOCK_NAME).read_text()  # left behind
    with locked(tmp_path / "run"):
        message = capsys.readouterr().err
        assert f"taking over the lock left by PID {holder.pid}" in message
        assert "no longer running" in message


def test_nested_holds_in_one_process(tmp_path: Path, locked_elsewhere) -> None:
    outer = acquire(tmp_path)
    inner = acquire(tmp_path)
    assert inner is outer
    release(inner)
    assert locked_elsewhere(tmp_path)  # still held: the outer hold counts
    release(outer)
    assert not locked_elsewhere(tmp_path)


def test_a_lock_file_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DirectoryLockError, match=r"cannot create the lock file .*file/\.lock"):
        acquire(tmp_path / "file")


@pytest.mark.parametrize("dry_run", [False, True])
def test_reproduce_refuses_a_run_dir_in_use(tmp_path: Path, lock_holder, capsys,
                                            dry_run: bool) -> None:
    """Refused before anything is written; --dry-run too, as it writes reproduce.json and data/."""
    run_dir = tmp_path / "run"
    holder = lock_holder(run_dir)
    argv = ["reproduce", "iwslt14", "--preset", "tiny", "--run-dir", str(run_dir)]
    with pytest.raises(SystemExit) as refused:
        main(argv + (["--dry-run"] if dry_run else []))
    assert refused.value.code == 2 and f"in use by PID {holder.pid}" in str(refused.value)
    assert f"in use by PID {holder.pid}" in capsys.readouterr().err
    assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_NAME]


def test_data_preparation_refuses_an_output_dir_in_use(tmp_path: Path, lock_holder,
                                                       locked_elsewhere) -> None:
    holder = lock_holder(tmp_path / "prep")
    with pytest.raises(DirectoryLockError, match=f"PID {holder.pid}"):
        open_output_dir(tmp_path / "prep", "iwslt14", {"bpe_tokens": 10})
    assert not (tmp_path / "prep" / MANIFEST_NAME).exists()
    holder.kill()
    holder.wait(timeout=30)
    open_output_dir(tmp_path / "prep", "iwslt14", {"bpe_tokens": 10})  # a dead holder: taken over
    assert locked_elsewhere(tmp_path / "prep")  # held until the preparation finishes
    finish(PreparedData("iwslt14", "de", "en", tmp_path / "prep", None), {"bpe_tokens": 10})
    assert not locked_elsewhere(tmp_path / "prep")
