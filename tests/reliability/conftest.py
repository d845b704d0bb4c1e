"""Fixtures of the fault-injection suite: a process that holds a directory's lock, and the BERT
launcher's (tiny config on WikiText-2, from ``tests/bert``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.bert.conftest import pretrain_cli, pretrain_popen, prepared, tiny_config, wikitext  # noqa: F401

_HOLD = ("import sys; from knee_nlp.run_lock import acquire; acquire(sys.argv[1]); "
         "print('held', flush=True); sys.stdin.read()")


@pytest.fixture
def locked_elsewhere() -> Callable[[Path], bool]:
    """``locked_elsewhere(directory)``: whether another process is refused ``directory``'s lock."""

    def refused(directory: Path) -> bool:
        attempt = subprocess.run([sys.executable, "-c", _HOLD.replace("sys.stdin.read()", "0"),
                                  str(directory)], capture_output=True, text=True, timeout=120)
        assert attempt.returncode == 0 or "DirectoryLockError" in attempt.stderr, attempt.stderr
        return attempt.returncode != 0

    return refused


@pytest.fixture
def lock_holder() -> Iterator[Callable[[Path], subprocess.Popen]]:
    """``lock_holder(directory)``: a separate process that holds ``directory``'s lock until it is
    killed (or its stdin closes); every process started is ended after the test."""
    started: list[subprocess.Popen] = []

    def hold(directory: Path) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", _HOLD, str(directory)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait()
