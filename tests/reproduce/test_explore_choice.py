"""The tuned ``knee`` schedule's explore fraction from --explore-ratio or a sweep's recommended.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from knee_nlp.cli import main
from knee_nlp.reproduce.config import load_experiment, load_run_config
from knee_nlp.reproduce.explore import (ExploreChoiceError, explore_choice, read_recommendation,
                                        with_explore)
from knee_nlp.reproduce.fairseq_commands import scale_batching, train_command
from knee_nlp.validation import ArgumentError


def _knee_flags(run, tmp_path: Path) -> list[str]:
    argv = train_command(run, bin_dir=tmp_path, seed=1, max_update=615, save_dir=tmp_path,
                         batching=scale_batching(run, 1), source_lang="de", target_lang="en",
                         precision="fp32", cpu=True)
    return argv[argv.index("--lr-scheduler"):argv.index("--max-update")]


def test_the_choice_replaces_only_the_tuned_knee_explore(tmp_path: Path) -> None:
    spec = load_experiment("multi30k")
    choice = explore_choice(0.75)
    tuned = with_explore(load_run_config(spec, "cpu", "knee", "5ep"), choice)
    flags = _knee_flags(tuned, tmp_path)
    assert flags[flags.index("--explore-ratio") + 1] == "0.75"
    assert "--explore-updates" not in flags and "--explore-from" not in tuned.source
    assert "explore_ratio from --explore-ratio" in tuned.source
    for untouched in ("knee_explore50", "inverse_sqrt", "linear"):
        run = load_run_config(spec, "cpu", untouched, "5ep")
        assert with_explore(run, choice) == run


def _recommendation(path: Path, ratio: float = 0.25, experiment: str = "multi30k", preset: str = "cpu",
                    backend: str = "translation", **changes) -> Path:
    """A recommended.json as knee-nlp sweep-explore translation writes it (the fields read here)."""
    record = {"explore_ratio": ratio, "chosen_on": "validation BLEU, mean over seeds", "seeds": [1, 2],
              "candidates": {"0": {"validation_mean": 30.0}, "0.25": {"validation_mean": 33.0},
                             "0.5": {"validation_mean": 32.0}},
              "backend": backend,
              "settings": {"backend": backend, "backend_settings": {"experiment": experiment, "preset": preset,
                                                                    "budget": "5ep"}},
              **changes}
    path.write_text(json.dumps(record))
    return path


def test_recommendation_file_written_by_the_sweep(tmp_path: Path) -> None:
    path = _recommendation(tmp_path / "recommended.json")
    choice = read_recommendation(path, "multi30k", "cpu")
    assert choice.ratio == 0.25 and choice.flag == "--explore-from"
    assert "validation BLEU" in choice.chosen_by and "sha256 " in choice.chosen_by and "seeds [1, 2]" in choice.chosen_by


@pytest.mark.parametrize(("changes", "message"), [
    ({"experiment": "iwslt14"}, "chosen by a translation sweep of experiment 'iwslt14', preset 'cpu'; "
                                "this command runs 'multi30k', preset 'cpu'"),
    ({"preset": "full"}, "preset 'full'; this command runs 'multi30k', preset 'cpu'"),
    ({"backend": "bert"}, "chosen by a bert sweep"),
    ({"ratio": 0.5}, r"explore_ratio 0.5 is not the best validation mean of its own candidates \(0.25\); "
                     "the file was edited"),
    ({"ratio": 0.6}, "explore_ratio 0.6 is not the best"),
    ({"ratio": "0.25"}, r"--explore-from .*: explore_ratio must be a number in \[0, 1\], got '0.25'"),
    ({"settings": None}, "written by an older knee-nlp sweep-explore"),
])
def test_a_recommendation_for_something_else_is_refused(tmp_path: Path, changes: dict, message: str) -> None:
    path = _recommendation(tmp_path / "recommended.json", **changes)
    with pytest.raises(ExploreChoiceError, match=message):
        read_recommendation(path, "multi30k", "cpu")


@pytest.mark.parametrize("content", ["{", '{"ratio": 0.5}', "[0.5]"])
def test_unusable_recommendation_files_name_the_flag(tmp_path: Path, content: str) -> None:
    path = tmp_path / "recommended.json"
    path.write_text(content)
    with pytest.raises(ExploreChoiceError, match="--explore-from"):
        read_recommendation(path, "multi30k", "cpu")
    with pytest.raises(ExploreChoiceError, match="is a directory: pass the recommended.json inside"):
        read_recommendation(tmp_path, "multi30k", "cpu")


@pytest.mark.parametrize("ratio", [-0.1, 1.5, float("nan")])
def test_out_of_range_ratio_names_the_flag_and_range(ratio: float) -> None:
    with pytest.raises(ArgumentError, match=r"--explore-ratio must be a number in \[0, 1\]"):
        explore_choice(ratio)


def test_cli_refuses_a_bad_choice_before_anything_runs(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["reproduce", "multi30k", "--preset", "cpu", "--run-dir", str(tmp_path / "run"),
              "--explore-from", str(tmp_path / "missing.json"), "--dry-run"])
    assert refused.value.code == 2
    assert "knee-nlp reproduce: error: --explore-from: no file" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_choice_without_the_knee_schedule_is_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["reproduce", "iwslt14", "--preset", "tiny", "--schedules", "inverse_sqrt", "--run-dir",
              str(tmp_path / "run"), "--explore-ratio", "0.3", "--dry-run"])
    assert refused.value.code == 2
    assert ("--explore-ratio sets the explore fraction of the 'knee' schedule, which is not among the "
            "schedules to run (inverse_sqrt)") in capsys.readouterr().err


def test_a_run_dir_keeps_one_tuned_explore(tmp_path: Path) -> None:
    """Tuned-knee seeds with another explore fraction would be averaged into one row: refused;
    the same fraction from a recommendation file is the same setting. A dry run records nothing."""
    argv = ["reproduce", "iwslt14", "--preset", "tiny", "--schedules", "knee", "--run-dir",
            str(tmp_path / "run"), "--dry-run"]
    assert main([*argv, "--explore-ratio", "0.3"]) == 0
    manifest = tmp_path / "run" / "reproduce.json"
    assert "tuned_explore" not in json.loads(manifest.read_text())
    assert main([*argv, "--explore-ratio", "0.4"]) == 0  # nothing trained yet: any value
    # what a real run records before it trains (the dry run stops before that point)
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()),
                                    "tuned_explore": {"explore_ratio": 0.3, "chosen_by": "--explore-ratio"}}))
    with pytest.raises(SystemExit) as refused:
        main([*argv, "--seeds", "2"])  # the config's 0.6
    assert refused.value.code == 2
    assert ("holds 'knee' runs with {'explore_ratio': 0.3} (chosen by --explore-ratio); this command would "
            "train {'explore_ratio': 0.6} (chosen by the experiment's config)") in str(refused.value)
    assert "pass --explore-ratio 0.3, or choose another --run-dir" in str(refused.value)
    recommended = _recommendation(tmp_path / "recommended.json", 0.3, "iwslt14", "tiny",
                                  candidates={"0.3": {"validation_mean": 20.0}, "0.6": {"validation_mean": 19.0}})
    assert main([*argv, "--explore-from", str(recommended)]) == 0
    assert main(["reproduce", "iwslt14", "--preset", "tiny", "--schedules", "inverse_sqrt", "--run-dir",
                 str(tmp_path / "run"), "--dry-run"]) == 0  # no knee run: nothing to compare


def test_a_choice_that_does_not_fit_a_budget_says_what_fits(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["reproduce", "iwslt14", "--preset", "tiny", "--schedules", "knee", "--run-dir",
              str(tmp_path / "run"), "--explore-ratio", "0.99", "--dry-run"])
    assert refused.value.code == 2
    message = str(refused.value)
    assert "explore_ratio from --explore-ratio" in message and "must be <= --total-num-update" in message
    assert re.search(r"explore_ratio 0\.\d{3} at most fits this budget\)", message)
