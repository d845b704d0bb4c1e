"""File helpers for data preparation: digests and all-or-nothing output directories/files.

A finished output only ever appears under its final name by an atomic ``rename``; an interrupted
step leaves a hidden ``.<name>.partial`` sibling that the next run discards and rebuilds.

Example::

    with atomic_directory(Path("out/bin")) as tmp:
        (tmp / "dict.txt").write_text("...")
    # out/bin now exists, complete
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    """Hex SHA-256 of a string's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
