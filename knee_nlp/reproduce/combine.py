"""Combine published reproduce reports (``results.json``) into one table.

Seeds of one experiment are often trained on several machines or days, and a run directory with
its checkpoints may be gone while its report remains. A report's ``results.json`` keeps each
finished run's test scores, validation curves, schedule and batch, which is all the table needs:
this module merges several reports into one report (``results.json``, ``results.md``, plots) as if
the runs had shared one run directory. The logged LR curves are not in a report, so the combined
report carries over each input row's LR check instead of recomputing it.

Example::

    combine_reports([Path("runs/a/results.json"), Path("runs/b")], Path("runs/combined"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from knee_nlp.errors import InvalidInputError, OutputExistsError
from knee_nlp.reproduce.layout import RESULTS_JSON
from knee_nlp.reproduce.report import ReportError, write_summary
from knee_nlp.state_files import read_json

_REWRITE = "write it again with `knee-nlp report <run-dir>` (or combine the reports it came from)"
#: the keys of a reproduce report that a combination reads
REPORT_KEYS = ("experiment", "title", "preset", "synthetic_data", "data", "paper",
               "budget_conversion", "rows", "runs", "unfinished_runs")


def _report_path(path: Path) -> Path:
    path = Path(path)
    path = path / RESULTS_JSON if path.is_dir() else path
    if not path.is_file():
        raise ReportError(f"{path} is not a knee-nlp report (expected a results.json or a "
                          f"directory holding one)")
    return path


def read_report(path: Path) -> dict[str, Any]:
    """The published report in the ``results.json`` at ``path``; an error if it is not one."""
    report = read_json(path, _REWRITE)
    missing = [key for key in REPORT_KEYS if key not in report]
    if missing:
        raise ReportError(f"{path} is not a knee-nlp reproduce report (it has no "
                          f"{', '.join(missing)}); combine the results.json of `knee-nlp report`")
    return report


def report_results(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The finished runs of a published report, shaped as the runs' own ``result.json``.

    What a report does not keep is left out: the logged LR curve is empty, the peak LR None; each
    run carries its row's LR check as ``lr_max_relative_error`` instead.
    """
    lr_checks = {(row["budget"], row["schedule"]): row["lr_max_relative_error"]
                 for row in report["rows"]}
    return [{**run, **report["budget_conversion"][run["name"]], "peak_lr": None,
             "curves": {**run["validation_curves"], "lr": []},
             "lr_max_relative_error": lr_checks.get((run["budget"], run["schedule"]))}
            for run in report["runs"]]


def _same_setup(report: dict[str, Any]) -> dict[str, Any]:
    """What the reports of one table must share: experiment, preset, synthetic or not, pairs."""
    return {"experiment": report["experiment"], "preset": report["preset"],
            "synthetic_data": report["synthetic_data"], "pairs": report["data"]["pairs"]}


def _check_output(output_dir: Path, inputs: list[Path]) -> None:
    """The output may hold only an earlier combination (of any reports), never another report."""
    if any(path.parent.resolve() == output_dir.resolve() for path in inputs):
        raise InvalidInputError(f"--output {output_dir} holds one of the reports being combined; "
                                f"choose another directory")
    existing = output_dir / RESULTS_JSON
    if existing.is_file() and "combined_from" not in read_json(existing, _REWRITE):
        raise OutputExistsError(f"{existing} exists and is not an earlier combined report; "
                                f"choose another --output")


def combine_reports(paths: list[Path], output_dir: Path) -> dict[str, Path]:
    """Merge the reports at ``paths`` (files or directories) into one report in ``output_dir``.

    Refuses reports of different experiments, presets or data, and a run that appears in two
    reports. Returns :func:`~knee_nlp.reproduce.report.write_summary`'s paths.
    """
    inputs = [_report_path(path) for path in paths]
    for index, path in enumerate(inputs):
        if path.resolve() in (earlier.resolve() for earlier in inputs[:index]):
            raise InvalidInputError(f"{path} is given twice; combine each report once")
    output_dir = Path(output_dir)
    _check_output(output_dir, inputs)
    reports = [read_report(path) for path in inputs]
    results, unfinished = [], set()
    origin: dict[str, Path] = {}
    for path, report in zip(inputs, reports):
        if _same_setup(report) != _same_setup(reports[0]):
            raise InvalidInputError(f"{path} and {inputs[0]} are reports of different setups "
                                    f"({_same_setup(report)} vs {_same_setup(reports[0])}): "
                                    f"they are not one table")
        for result in report_results(report):
            if result["name"] in origin:
                raise InvalidInputError(f"run {result['name']} is in both {origin[result['name']]} "
                                        f"and {path}; combine each run once")
            origin[result["name"]] = path
            results.append(result)
        unfinished.update(report["unfinished_runs"])
    manifest = {key: reports[0][key] for key in ("experiment", "title", "preset", "data", "paper")}
    return write_summary(output_dir, manifest, results, sorted(unfinished - set(origin)),
                         extra={"combined_from": [str(path) for path in inputs]})
