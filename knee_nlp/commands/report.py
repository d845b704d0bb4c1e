"""``knee-nlp report``: (re)write results.md, results.json and plots of a reproduce run dir.

Example::

    knee-nlp report runs/iwslt14-tiny
"""

from __future__ import annotations

import argparse
from pathlib import Path

from knee_nlp.errors import fail


def run(args: argparse.Namespace) -> int:
    """Write the report and print the Markdown table."""
    from knee_nlp.reproduce.report import ReportError, write_report

    try:
        written = write_report(Path(args.run_dir))
    except ReportError as error:
        fail("knee-nlp report", error)
    print(written["markdown"].read_text())
    print(f"wrote {written['markdown']}, {written['json']} and {len(written['plots'])} plots")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``knee-nlp report``."""
    parser = subparsers.add_parser(
        "report", help="Write the results table and plots of a reproduce run directory.",
        description="Aggregate the finished runs of a `knee-nlp reproduce` run directory into "
        "results.md (paper-style table: mean and spread over seeds, delta vs inverse-sqrt, "
        "updates to reach the baseline, the paper's numbers), results.json and PNG plots.",
    )
    parser.add_argument("run_dir", help="The --run-dir of a knee-nlp reproduce call.")
    parser.set_defaults(func=run)
