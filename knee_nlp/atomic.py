"""All-or-nothing writes: build under a temporary name, then rename into place.

A finished output only ever appears under its final name by an atomic ``rename``; an interrupted
write leaves a hidden ``.<name>.partial`` sibling that the next attempt discards and rebuilds.
Used by the data recipes, the reproduce runner, checkpoint averaging and the BERT checkpoints.

Example::

    with atomic_directory(Path("out/bin")) as tmp:
        (tmp / "dict.txt").write_text("...")
    # out/bin now exists, complete
    write_text_atomic(Path("out/result.json"), "{}\n")
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def partial_path(path: Path) -> Path:
    """The hidden sibling where ``path`` is built before it is renamed into place."""
    return path.with_name(f".{path.name}.partial")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield an empty work directory that becomes ``path`` only if the block succeeds."""
    path = Path(path)
    work = partial_path(path)
    _remove(work)  # left over from an interrupted run
    work.mkdir(parents=True)
    try:
        yield work
    except BaseException:
        _remove(work)
        raise
    work.rename(path)


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a work file path that becomes ``path`` only if the block succeeds."""
    path = Path(path)
    work = partial_path(path)
    _remove(work)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield work
    except BaseException:
        _remove(work)
        raise
    work.replace(path)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_file`; returns ``path``."""
    with atomic_file(path) as work:
        work.write_text(text, encoding="utf-8")
    return Path(path)
