"""Command line: ``accelerate launch -m hf_integration.pretrain_bert --config FILE [key=value ...]``.

Also runs as ``python -m hf_integration.pretrain_bert`` (one process). Overrides are dotted keys
with YAML values, for instance ``schedule=linear phases.0.total_steps=40 run_dir=runs/x``.
"""

from __future__ import annotations

import argparse
import sys

from hf_integration.pretrain_bert.config import load_config
from knee_nlp.errors import UserError, exit_for_user_error
from knee_nlp.registry import SCHEDULES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hf_integration.pretrain_bert",
        description="BERT masked-language-model pretraining with the LR schedule named by the "
        f"schedule key: {', '.join(SCHEDULES)}.",
        epilog="Re-running with the same config resumes the run in run_dir; a different config there is an error.",
    )
    parser.add_argument("--config", required=True, help="YAML config (see configs/bert/)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help=f"dotted-key overrides with YAML values, e.g. schedule=linear phases.0.total_steps=40 "
        "'data.train_files=[corpus/]'",
    )
    parser.add_argument("--check", action="store_true", help="validate the config and inputs, then exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the command; a :class:`~knee_nlp.errors.UserError` exits with ``error: ...`` (status 2)."""
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
    print(f"final model: {final}")
