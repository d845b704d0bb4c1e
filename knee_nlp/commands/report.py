"""``knee-nlp report``: (re)write results.md, results.json and plots of a reproduce run dir, or
combine the published reports of several run dirs into one table.

Example::

    knee-nlp report runs/iwslt14-tiny
    knee-nlp report --combine machine-a/results.json machine-b/results.json --output combined
"""

from __future__ import annotations

import argparse
from pathlib import Path

from knee_nlp.errors import UserError, fail


def run(args: argparse.Namespace) -> int:
    """Write the report (or the combination) and print the Markdown table."""
    from knee_nlp.reproduce.combine import combine_reports
    from knee_nlp.reproduce.report import write_report

    if (args.run_dir is None) == (args.combine is None):
        fail("knee-nlp report", "give either a run directory or --combine REPORT... --output DIR")
    if args.combine is not None and args.output is None:
        fail("knee-nlp report", "--combine needs --output DIR (where the combined report goes)")
    if args.run_dir is not None and args.output is not None:
        fail("knee-nlp report", "--output goes with --combine; a run directory's report is "
                                "written into the run directory")
    try:
        written = (write_report(Path(args.run_dir)) if args.run_dir is not None
                   else combine_reports([Path(path) for path in args.combine], Path(args.output)))
    except UserError as error:
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
        "updates to reach the baseline, the paper's numbers), results.json and PNG plots. "
        "With --combine, merge the results.json of several run directories (seeds trained on "
        "other machines, or run directories since deleted) into one report.",
    )
    parser.add_argument("run_dir", nargs="?", help="The --run-dir of a knee-nlp reproduce call.")
    parser.add_argument("--combine", nargs="+", metavar="REPORT",
                        help="results.json files (or directories holding one) of the same "
                             "experiment and preset; each run may appear in only one")
    parser.add_argument("--output", help="Directory for the combined report (with --combine); "
                                         "it may hold only an earlier combination")
    parser.set_defaults(func=run)
