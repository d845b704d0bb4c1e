"""The folder of the fairseq plugin, for ``--user-dir``: found once, without importing fairseq.

>>> fairseq_user_dir().name
'fairseq_plugin'
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

PLUGIN_PACKAGE = "fairseq_plugin"


@functools.cache
def fairseq_user_dir() -> Path:
    """Absolute (not symlink-resolved: fairseq compares ``--user-dir`` with the package's
    ``__path__`` literally) path of the installed ``fairseq_plugin`` package."""
    spec = importlib.util.find_spec(PLUGIN_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {PLUGIN_PACKAGE!r} is not installed; run `pip install knee-nlp[fairseq]`")
    return Path(os.path.abspath(next(iter(spec.submodule_search_locations))))
