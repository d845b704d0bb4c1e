"""A child started with ``dies_with_parent`` ends when its parent is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from knee_nlp.child_process import is_running

_PARENT = """
import subprocess, sys, time
from knee_nlp.child_process import dies_with_parent
guard = dies_with_parent() if sys.argv[1] == "guarded" else None
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], preexec_fn=guard)
print(child.pid, flush=True)
time.sleep(120)
"""


def _child_after_parent_killed(mode: str, wait_s: float) -> tuple[int, bool]:
    """Kill the parent; ``(child pid, whether the child still runs wait_s seconds later)``."""
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, mode], stdout=subprocess.PIPE,
                              text=True)
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=30)
    deadline = time.monotonic() + wait_s
    while is_running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    return child, is_running(child)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_child_dies_with_its_killed_parent() -> None:
    _, alive = _child_after_parent_killed("guarded", wait_s=10)
    assert not alive
    orphan, alive = _child_after_parent_killed("plain", wait_s=1)  # what happened before: it ran on
    try:
        assert alive
    finally:
        os.kill(orphan, signal.SIGKILL)
