"""Command line: ``accelerate launch -m hf_integration.pretrain_bert --config FILE [key=value ...]``.

Also runs as ``python -m hf_integration.pretrain_bert`` or as the installed console script
``knee-pretrain-bert`` (both one process; :func:`main` is the entry point of all three).
Overrides are dotted keys with YAML values, for instance ``schedule=linear
phases.0.total_steps=40 run_dir=runs/x 'data.train_files=[corpus/]'``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hf_integration.pretrain_bert.config import load_config
from knee_nlp.errors import UserError, exit_for_user_error, interrupted
from knee_nlp.registry import SCHEDULES


MODULE = "hf_integration.pretrain_bert"


def _prog() -> str:
    """How the user started it: ``python -m ...`` (also under ``accelerate launch -m``) or the script's name."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return f"python -m {MODULE}" if name in ("", "__main__.py", "-m", "-c") else name


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="BERT masked-language-model pretraining with the LR schedule named by the "
        f"schedule key: {', '.join(SCHEDULES)}.",
        epilog="data.train_files and data.validation_files have no default: give them as overrides. "
        "Re-running with the same config resumes the run in run_dir; a different config there is an error. "
        f"Several processes: accelerate launch -m {MODULE} --config FILE ...",
    )
    parser.add_argument("--config", required=True, help="a preset (tiny, bert-base, bert-large: "
                        "hf_integration/pretrain_bert/presets/) or a YAML config file")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help=f"dotted-key overrides with YAML values, e.g. schedule=linear phases.0.total_steps=40 "
        "'data.train_files=[corpus/]'",
    )
    parser.add_argument("--check", action="store_true",
                        help="run every check of a real run (config, data files, vocabulary, trackers, "
                        "run_dir new or holding this config's run), write nothing, then exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the command; a :class:`~knee_nlp.errors.UserError` exits with ``error: ...`` (status 2,
    or 1 for a damaged run), Ctrl-C with 130.

    The entry point of ``python -m hf_integration.pretrain_bert`` and ``knee-pretrain-bert``.
    """
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
        from hf_integration.pretrain_bert.run import check_inputs, pretrain

        if args.check:
            check_inputs(cfg)
            print(f"{args.config}: OK")
            return
        final = pretrain(cfg)
    except UserError as error:
        sys.exit(exit_for_user_error(error))
    except KeyboardInterrupt:
        interrupted(_prog(), "run the same command again to resume from the last checkpoint")
    print(f"final model: {final}")
