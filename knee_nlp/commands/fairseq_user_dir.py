"""``knee-nlp fairseq-user-dir``: print the folder to pass to fairseq's ``--user-dir``.

The path is found without importing fairseq, so the command is instant and works in shells::

    fairseq-train data-bin/iwslt14.tokenized.de-en --user-dir "$(knee-nlp fairseq-user-dir)" \\
        --lr-scheduler knee --explore-ratio 0.5 ...
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

PLUGIN_PACKAGE = "fairseq_plugin"


def fairseq_user_dir() -> Path:
    """Absolute path of the installed ``fairseq_plugin`` package (fairseq is not imported).

    >>> fairseq_user_dir().name
    'fairseq_plugin'
    """
    spec = importlib.util.find_spec(PLUGIN_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {PLUGIN_PACKAGE!r} is not installed; run `pip install knee-nlp[fairseq]`")
    return Path(os.path.abspath(next(iter(spec.submodule_search_locations))))


def run(args: argparse.Namespace) -> int:
    """Print the plugin folder."""
    print(fairseq_user_dir())
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``knee-nlp fairseq-user-dir``."""
    parser = subparsers.add_parser(
        "fairseq-user-dir", help="Print the --user-dir path of the fairseq plugin.",
        description="Print the folder of the knee-nlp fairseq plugin, for "
        "`fairseq-train --user-dir \"$(knee-nlp fairseq-user-dir)\" --lr-scheduler knee ...`. "
        "The knee-fairseq-train, knee-fairseq-hydra-train and knee-fairseq-generate commands "
        "need no --user-dir.",
    )
    parser.set_defaults(func=run)
