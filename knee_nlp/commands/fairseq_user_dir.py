"""``knee-nlp fairseq-user-dir``: print the folder to pass to fairseq's ``--user-dir``.

The path is found without importing fairseq, so the command is instant and works in shells::

    fairseq-train data-bin/iwslt14.tokenized.de-en --user-dir "$(knee-nlp fairseq-user-dir)" \\
        --lr-scheduler knee --explore-ratio 0.5 ...
"""

from __future__ import annotations

import argparse

from knee_nlp.plugin_dir import fairseq_user_dir


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
