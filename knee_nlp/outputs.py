"""Guards for output paths: nothing a user wrote is overwritten silently, and a path that cannot be
written (a file where a directory must be, a directory without write permission) fails before any
work starts, naming the flag.

>>> guard_new_file("results.md", overwrite=False, name="--output")  # doctest: +SKIP
PosixPath('results.md')
>>> check_writable_dir("runs/x", "--run-dir")  # doctest: +SKIP
PosixPath('runs/x')
"""

from __future__ import annotations

import os
from pathlib import Path

from knee_nlp.errors import OutputExistsError, OutputPathError


def check_writable_dir(path: str | Path, name: str) -> Path:
    """``path`` as a directory this process can create or write into; ``OutputPathError`` naming
    ``name`` when ``path`` or one of its parents is a file, or the nearest existing one is not
    writable. Creates nothing."""
    path = Path(path)
    for existing in (path, *path.parents):
        if not existing.exists():
            continue
        if not existing.is_dir():
            problem = "is a file, not a directory" if existing == path else f"cannot be created: {existing} is a file"
            raise OutputPathError(f"{name} {path} {problem}; choose another path")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise OutputPathError(f"{name} {path}: {existing} is not writable")
        return path
    return path


def guard_new_file(path: str | Path, *, overwrite: bool, name: str = "--output") -> Path:
    """Return ``path`` if a file can be written there: ``OutputExistsError`` if it exists and
    ``overwrite`` is false, ``OutputPathError`` if it is a directory or its folder cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{name} {path} is a directory; give a file path")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it")
    check_writable_dir(path.parent, f"{name}'s folder")
    return path
