"""Combining published reports: the same table as one run directory, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knee_nlp.cli import main
from knee_nlp.errors import CommandExit, InvalidInputError, OutputExistsError
from knee_nlp.reproduce.combine import combine_reports
from knee_nlp.reproduce.report import ReportError, write_summary
from knee_nlp.schedule import KneeSchedule

MANIFEST = {"experiment": "multi30k", "title": "Multi30k", "preset": "cpu",
            "data": {"kind": "data-bin", "origin": "data-bin", "synthetic": False,
                     "pairs": {"train": 100, "valid": 10, "test": 10}},
            "paper": {"source": "none", "note": "no paper numbers", "bleu": {}}}
KNEE = {"name": "knee", "warmup_updates": 10, "warmup_init_lr": 0.0, "explore_ratio": 0.5,
        "end_learning_rate": 0.0}


def _result(schedule: str, seed: int, bleu: float, final_loss: float) -> dict:
    knee = KneeSchedule(peak_lr=1e-3, total_steps=100, warmup_steps=10, explore_ratio=0.5)
    lr = [[u, knee(u) * (1.0 + 1e-4 * seed)] for u in range(10, 101, 10)] if schedule == "knee" else []
    return {
        "name": f"{schedule}-4ep-seed{seed}", "schedule": schedule, "budget": "4ep", "seed": seed,
        "epochs": 4, "updates_per_epoch": 25, "max_update": 100, "peak_lr": 1e-3,
        "batching": {"gpus": 1, "max_tokens": 512, "update_freq": 1, "global_tokens": 512},
        "lr_scheduler": KNEE if schedule == "knee" else {"name": schedule},
        "checkpoint": "checkpoint4.pt", "averaged_checkpoints": ["checkpoint4.pt"],
        "test": {"bleu_tokenized": bleu, "sacrebleu": bleu - 0.1, "sacrebleu_signature": "sig",
                 "sentences": 10},
        "curves": {"lr": lr, "valid_loss": [[50, final_loss + 1.0], [100, final_loss]],
                   "valid_bleu": [[50, bleu / 2], [100, bleu]]},
        "resumes": [],
    }


RESULTS = [_result("inverse_sqrt", 1, 20.0, 3.5), _result("knee", 1, 23.0, 3.2),
           _result("inverse_sqrt", 2, 22.0, 3.4), _result("knee", 2, 25.0, 3.1),
           _result("knee", 3, 24.0, 3.3)]


@pytest.fixture()
def two_reports(tmp_path: Path) -> tuple[Path, Path]:
    """Seeds 1-2 in one report (seed 3 unfinished there), seed 3 in another."""
    first, second = tmp_path / "machine-a", tmp_path / "machine-b"
    write_summary(first, MANIFEST, RESULTS[:4], ["knee-4ep-seed3"])
    write_summary(second, MANIFEST, RESULTS[4:], [])
    return first / "results.json", second / "results.json"


def _rows(path: Path) -> dict:
    return {(row["budget"], row["schedule"]): row for row in json.loads(path.read_text())["rows"]}


def test_combined_table_equals_the_table_of_one_run_directory(two_reports, tmp_path: Path) -> None:
    together = write_summary(tmp_path / "together", MANIFEST, RESULTS, [])
    combined = combine_reports(list(two_reports), tmp_path / "combined")
    expected, got = _rows(together["json"]), _rows(combined["json"])
    assert got.keys() == expected.keys()
    for key, row in expected.items():
        for column in ("bleu_tokenized", "sacrebleu", "valid_loss", "valid_bleu",
                       "delta_bleu_vs_baseline", "updates_to_baseline_valid_loss", "seeds"):
            assert got[key][column] == row[column], (key, column)
    # the LR check is carried over from the inputs' rows: the worst seed's error
    assert got[("4ep", "knee")]["lr_max_relative_error"] == pytest.approx(
        expected[("4ep", "knee")]["lr_max_relative_error"])
    summary = json.loads(combined["json"].read_text())
    assert summary["unfinished_runs"] == []  # seed 3 finished in the second report
    assert summary["combined_from"] == [str(path) for path in two_reports]
    assert "| knee (explore 0.5) | 24.00 ± 1.00 |" in combined["markdown"].read_text()
    assert (tmp_path / "combined" / "valid_loss_4ep.png").is_file()
    assert not (tmp_path / "combined" / "lr_4ep.png").exists()  # no logged LRs in a report


def test_a_combination_can_be_combined_again_and_rewritten(two_reports, tmp_path: Path) -> None:
    combined = combine_reports([two_reports[0]], tmp_path / "combined")
    combine_reports([combined["json"], two_reports[1]], tmp_path / "again")
    combine_reports(list(two_reports), tmp_path / "combined")  # rewriting a combination is safe
    assert _rows(tmp_path / "again" / "results.json")[("4ep", "knee")]["seeds"] == [1, 2, 3]


def test_a_run_in_two_reports_is_refused(two_reports, tmp_path: Path) -> None:
    write_summary(tmp_path / "rerun", MANIFEST, [_result("knee", 3, 21.0, 3.6)], [])
    with pytest.raises(InvalidInputError, match="knee-4ep-seed3 is in both .*machine-b"):
        combine_reports([*two_reports, tmp_path / "rerun"], tmp_path / "combined")
    with pytest.raises(InvalidInputError, match="given twice"):
        combine_reports([two_reports[0], two_reports[0].parent], tmp_path / "combined")


def test_reports_of_different_setups_are_refused(two_reports, tmp_path: Path) -> None:
    other = {**MANIFEST, "preset": "full"}
    write_summary(tmp_path / "full", other, [_result("knee", 9, 30.0, 3.0)], [])
    with pytest.raises(InvalidInputError, match="different setups"):
        combine_reports([two_reports[0], tmp_path / "full"], tmp_path / "combined")


def test_the_output_never_replaces_another_report(two_reports, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="holds one of the reports"):
        combine_reports(list(two_reports), two_reports[0].parent)
    with pytest.raises(OutputExistsError, match="not an earlier combined report"):
        combine_reports([two_reports[0]], two_reports[1].parent)
    assert _rows(two_reports[1])[("4ep", "knee")]["seeds"] == [3]


def test_inputs_that_are_not_reports_are_named(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="expected a results.json"):
        combine_reports([tmp_path / "missing"], tmp_path / "combined")
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "results.json").write_text('{"runs": []}')
    with pytest.raises(ReportError, match="not a knee-nlp reproduce report .*experiment"):
        combine_reports([tmp_path / "sweep"], tmp_path / "combined")


@pytest.mark.parametrize("argv, message", [
    (["report"], "give either a run directory or --combine"),
    (["report", "--combine", "a.json"], "--combine needs --output"),
    (["report", "run-dir", "--output", "out"], "--output goes with --combine"),
])
def test_cli_argument_errors(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(CommandExit):
        main(argv)
    assert message in capsys.readouterr().err


def test_cli_combines_and_prints_the_table(two_reports, tmp_path: Path, capsys) -> None:
    assert main(["report", "--combine", *map(str, two_reports), "--output",
                 str(tmp_path / "combined")]) == 0
    out = capsys.readouterr().out
    assert "| knee (explore 0.5) | 24.00 ± 1.00 |" in out and "wrote " in out
