"""Shared fixtures: the reference corpora in ``../shared/data`` (or ``$KNEE_NLP_SHARED_DATA``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    return Path(os.environ.get("KNEE_NLP_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the reference corpora; tests that need it skip only where it is absent."""
    root = _shared_data_dir()
    if not (root / "SHA256SUMS").is_file():
        pytest.skip(f"reference data not found at {root} (set KNEE_NLP_SHARED_DATA to its path)")
    return root
