"""Guards so that nothing a user wrote is overwritten silently.

>>> guard_new_file("results.md", overwrite=False)  # doctest: +SKIP
PosixPath('results.md')
"""

from __future__ import annotations

from pathlib import Path


def guard_new_file(path: str | Path, *, overwrite: bool) -> Path:
    """Return ``path``; raise ``FileExistsError`` if it exists and ``overwrite`` is false."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass --overwrite to replace it")
    return path
