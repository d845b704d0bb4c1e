"""One process per output directory: an exclusive ``flock`` on ``<directory>/.lock``.

``knee-nlp reproduce`` (its ``--run-dir``), the BERT launcher (its ``run_dir``) and ``knee-nlp data``
(its ``--output-dir``) hold the lock of the directory they write, so a second command on the same
directory stops at once with :class:`DirectoryLockError` naming the holder's PID and command,
instead of sharing temporary files and checkpoints with the first one. The lock file holds a line
of JSON describing its holder (PID, host, command, start time), emptied on a clean release.

The kernel drops an ``flock`` when its process ends, however it ends (``kill -9`` included), so a
lock can never be stuck: a lock file that still names a holder but is not locked was left by a
process that died, and the next command takes it over with a message. Processes that share a
directory on purpose (the workers of one explore sweep) take its lock in turn with ``wait=True``
for their short writes, and lock the sub-directory of the run each one computes. Locks are re-entrant
within a process (a nested request for a directory this process holds just counts), and the file
descriptor is not inherited by programs the holder starts.

Example::

    with locked(Path("runs/tiny")):       # a second process: DirectoryLockError "... PID 4242 ..."
        ...
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from knee_nlp.errors import UserError

LOCK_NAME = ".lock"
#: how long a refused process waits for a just-started holder to write its PID into the file
_HOLDER_WAIT_S = 1.0


def holds_other_files(directory: Path) -> bool:
    """Whether ``directory`` exists and holds anything besides its lock file (a folder that this
    project's commands did not start, when it also lacks their manifest)."""
    return directory.is_dir() and any(path.name != LOCK_NAME for path in directory.iterdir())


class DirectoryLockError(UserError, OSError):
    """The directory is in use by another process (``holder`` says which), or its lock file
    cannot be created (``holder`` is None)."""

    def __init__(self, message: str, holder: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass
class DirectoryLock:
    """A held lock: the open, ``flock``-ed lock file and how many users in this process hold it."""

    directory: Path
    fd: int
    holders: int = 1

    @property
    def path(self) -> Path:
        return self.directory / LOCK_NAME


_HELD: dict[Path, DirectoryLock] = {}


def _holder_record() -> str:
    return json.dumps({
        "pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    })


def _read_holder(fd: int) -> dict | None:
    text = os.pread(fd, 65536, 0).decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return {"pid": "?", "command": text[:200]}
    return holder if isinstance(holder, dict) else {"pid": "?", "command": text[:200]}


def describe(holder: dict) -> str:
    """``PID 4242 on host (knee-nlp reproduce ..., since ...)`` from a lock file's record.

    >>> describe({"pid": 7, "host": "box", "command": "knee-nlp data", "started": "noon"})
    'PID 7 on box (knee-nlp data, since noon)'
    """
    host = f" on {holder['host']}" if holder.get("host") else ""
    since = f", since {holder['started']}" if holder.get("started") else ""
    return f"PID {holder.get('pid', '?')}{host} ({holder.get('command', '?')}{since})"


def _open(directory: Path) -> int:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise DirectoryLockError(f"cannot create the lock file {directory / LOCK_NAME}: "
                                 f"{error.strerror or error}; choose a writable directory") from None


def _holder(fd: int) -> str:
    """Who holds ``fd``'s lock, in words (waiting briefly for a just-started holder's record)."""
    deadline = time.monotonic() + _HOLDER_WAIT_S
    holder = _read_holder(fd)
    while holder is None and time.monotonic() < deadline:  # the holder is writing its record
        time.sleep(0.05)
        holder = _read_holder(fd)
    return describe(holder) if holder else "another process (its PID is not recorded yet)"


def _flock(directory: Path, fd: int, wait: bool) -> None:
    """``flock`` ``fd``; if another process holds it: raise :class:`DirectoryLockError`, or with
    ``wait`` say once whom it waits for and block until that process lets go."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        who = _holder(fd)
        if not wait:
            os.close(fd)
            raise DirectoryLockError(
                f"{directory} is in use by {who}: one process per directory. Wait for it to finish "
                f"or stop it; its lock ({directory / LOCK_NAME}) is released when that process ends",
                holder=who) from None
        print(f"{directory}: waiting for {who} to release it", file=sys.stderr, flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)


def acquire(directory: Path, wait: bool = False) -> DirectoryLock:
    """Lock ``directory`` (created if needed) for this process; if another process holds it, raise
    :class:`DirectoryLockError`, or with ``wait`` wait for it (for short critical sections that
    several processes take in turn)."""
    directory = Path(directory).resolve()
    held = _HELD.get(directory)
    if held is not None:
        held.holders += 1
        return held
    fd = _open(directory)
    try:
        _flock(directory, fd, wait)
    except DirectoryLockError:
        raise
    except OSError as error:  # a file system without flock: say so, and go on unprotected
        print(f"warning: cannot lock {directory / LOCK_NAME} ({error.strerror}); nothing stops "
              "a second process from using this directory at the same time", file=sys.stderr)
    stale = _read_holder(fd)
    if stale is not None:
        print(f"{directory}: taking over the lock left by {describe(stale)}, which is no longer "
              "running", file=sys.stderr, flush=True)
    os.ftruncate(fd, 0)
    os.pwrite(fd, (_holder_record() + "\n").encode("utf-8"), 0)
    lock = _HELD[directory] = DirectoryLock(directory, fd)
    return lock


def held(directory: Path) -> DirectoryLock | None:
    """This process's lock of ``directory``, if it holds one."""
    return _HELD.get(Path(directory).resolve())


def release(lock: DirectoryLock) -> None:
    """Give one hold of ``lock`` back; the last one empties the file and unlocks it."""
    lock.holders -= 1
    if lock.holders > 0:
        return
    _HELD.pop(lock.directory, None)
    os.ftruncate(lock.fd, 0)  # a clean release leaves no holder to report as stale
    os.close(lock.fd)  # closing the descriptor drops the flock


@contextmanager
def locked(directory: Path, wait: bool = False) -> Iterator[DirectoryLock]:
    """Hold ``directory``'s lock for the block (see :func:`acquire`)."""
    lock = acquire(directory, wait)
    try:
        yield lock
    finally:
        release(lock)
