"""Child processes that end with their parent, however the parent ends.

A ``subprocess.Popen`` child outlives a parent killed with ``kill -9``: nothing reaches it, it
writes into a pipe nobody reads, and it goes on training (and writing checkpoints) to the end of
its budget. On Linux, :func:`dies_with_parent` gives ``Popen`` a ``preexec_fn`` that asks the
kernel (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) to kill the child as soon as the thread that started
it is gone. Start children from the main thread: the kernel watches the starting *thread*. A
parent that ends normally still terminates and waits for its children itself; this is the
guarantee for when it cannot. Elsewhere the function returns ``None`` (no such kernel feature).

:func:`running_children` and :func:`is_running` read Linux's ``/proc`` to check it (the fault-
injection tests and ``bench/kill_resume.py``).

Example::

    subprocess.Popen(argv, preexec_fn=dies_with_parent())
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def dies_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child receive ``sig`` when this process dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not between fork and exec
    parent = os.getpid()

    def preexec() -> None:
        if prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def _state(stat: Path) -> tuple[str, int] | None:
    """(state letter, parent pid) of a ``/proc/<pid>/stat`` file; ``None`` once the process is gone."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()  # the name in (...) may hold spaces
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def is_running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie has ended)."""
    state = _state(Path(f"/proc/{pid}/stat"))
    return state is not None and state[0] != "Z"


def running_children(pid: int) -> list[int]:
    """The running child processes of ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        state = _state(stat)
        if state is not None and state[1] == pid and state[0] != "Z":
            found.append(int(stat.parent.name))
    return found
