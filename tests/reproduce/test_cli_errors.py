"""``knee-nlp reproduce`` refuses bad input before training, with a message naming the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knee_nlp.cli import main


def _reproduce(tmp_path: Path, *extra: str) -> str:
    with pytest.raises(SystemExit) as raised:
        main(["reproduce", *extra, "--run-dir", str(tmp_path / "run")])
    return str(raised.value)


def test_fp16_without_cuda_is_refused(tmp_path: Path) -> None:
    message = _reproduce(tmp_path, "iwslt14", "--preset", "tiny", "--fp16")
    assert "--fp16 needs CUDA GPUs" in message and "fp32" in message
    assert not (tmp_path / "run").exists()


def test_more_gpus_than_present_is_refused(tmp_path: Path) -> None:
    assert "--gpus 8 needs 8 CUDA devices" in _reproduce(tmp_path, "iwslt14", "--preset", "tiny",
                                                         "--gpus", "8")


def test_unknown_names_list_the_choices(tmp_path: Path) -> None:
    assert "unknown experiment 'iwslt15'" in _reproduce(tmp_path, "iwslt15")
    message = _reproduce(tmp_path, "iwslt14", "--preset", "tiny", "--budgets", "40ep")
    assert "unknown budget '40ep'" in message and "50ep" in message


def test_full_preset_without_data_says_how_to_prepare_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    message = _reproduce(tmp_path, "iwslt14", "--preset", "full")
    assert "no iwslt14 data found" in message and "knee-nlp data iwslt14" in message


def test_missing_and_mismatched_data_dirs_are_named(tmp_path: Path) -> None:
    message = _reproduce(tmp_path, "iwslt14", "--preset", "tiny", "--data-dir", str(tmp_path / "none"))
    assert "does not exist" in message
    corpus = tmp_path / "fr-en"
    corpus.mkdir()
    for split in ("train", "valid", "test"):
        for lang in ("fr", "en"):
            (corpus / f"{split}.{lang}").write_text("bonjour\n")
    message = _reproduce(tmp_path, "iwslt14", "--preset", "tiny", "--data-dir", str(corpus))
    assert "holds languages ['en', 'fr']" in message and "de->en" in message


def test_run_dir_of_another_experiment_is_not_reused(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run/reproduce.json").write_text(json.dumps({"experiment": "wmt14", "preset": "tiny"}))
    message = _reproduce(tmp_path, "iwslt14", "--preset", "tiny")
    assert "holds runs of another setup (experiment differ" in message


def test_a_folder_of_other_files_is_not_used_as_run_dir(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run/results.md").write_text("my notes")
    message = _reproduce(tmp_path, "iwslt14", "--preset", "tiny", "--dry-run")
    assert "exists, is not empty and has no reproduce.json" in message and "choose another --run-dir" in message
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == [".lock", "results.md"]
    assert (tmp_path / "run/results.md").read_text() == "my notes"


def test_report_of_a_non_run_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not a knee-nlp reproduce run directory"):
        main(["report", str(tmp_path)])
