"""The multi30k experiment: its commands, first-use data preparation, and a tiny end-to-end run.

``data/multi30k-dryrun-{cpu,full}.txt`` hold the fairseq-train commands (``--dry-run`` output)
that the decided multi30k configs produced as one file per run; the composed configs must
produce the same commands.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import sys
from pathlib import Path

import pytest

from knee_nlp.cli import main
from knee_nlp.plugin_dir import fairseq_user_dir
from knee_nlp.reproduce import datasets
from knee_nlp.reproduce.config import knee_schedule, load_experiment, load_run_config
from knee_nlp.reproduce.fairseq_commands import scale_batching, train_command

DATA = Path(__file__).parent / "data"
PLAN = re.compile(r"plan (\S+)-seed1: (\d+) updates")
TUNED_AND_OTHERS = ("inverse_sqrt", "knee", "knee_explore50", "linear", "cosine")


def _expected(preset: str, *, data_bin: Path, run_dir: Path) -> list[tuple[str, int, str]]:
    """``(run name, max_update, command)`` of each run in the recorded dry-run output."""
    lines = (DATA / f"multi30k-dryrun-{preset}.txt").read_text().splitlines()
    values = {"python": sys.executable, "data_bin": str(data_bin),
              "user_dir": str(fairseq_user_dir()), "run_dir": str(run_dir)}
    runs = []
    for plan, command in zip(lines[::2], lines[1::2]):
        name, updates = PLAN.match(plan).groups()
        for key, value in values.items():
            command = command.replace("{" + key + "}", value)
        runs.append((name, int(updates), command.strip()))
    return runs


@pytest.mark.parametrize("preset", ["cpu", "full"])
def test_composed_configs_give_the_decided_commands(preset: str, tmp_path: Path) -> None:
    spec = load_experiment("multi30k")
    expected = _expected(preset, data_bin=tmp_path / "bin", run_dir=tmp_path / "run")
    assert len(expected) == 9  # 5 schedules x 2 budgets, less the tuned knee at 60% (its explore does not fit)
    for name, max_update, command in expected:
        schedule, budget = name.rsplit("-", 1)
        run = load_run_config(spec, preset, schedule, budget)
        argv = train_command(run, bin_dir=tmp_path / "bin", seed=1, max_update=max_update,
                             save_dir=tmp_path / "run/runs" / f"{name}-seed1/checkpoints",
                             batching=scale_batching(run, 1), source_lang="de",
                             target_lang="en", precision="fp32", cpu=True)
        assert shlex.join(argv) == command, name


def test_first_use_preparation_is_the_experiments_declaration(tmp_path: Path, monkeypatch) -> None:
    calls = []

    def fake_recipe(output: Path, raw_dir: Path | None) -> Path:
        calls.append((output, raw_dir))
        raise datasets.DataError("stop here")

    monkeypatch.setitem(datasets.PREPARE_RECIPES, "multi30k", fake_recipe)
    spec = load_experiment("multi30k")
    assert spec.prepare_recipe == "multi30k" and spec.synthetic_fallback == ()
    for raw_dir in (None, tmp_path / "raw"):  # no --raw-dir: download
        with pytest.raises(datasets.DataError, match="stop here"):
            datasets.resolve_data(spec, tmp_path / "work", None, {}, "cpu", cwd=tmp_path,
                                  raw_dir=raw_dir)
    assert calls == [(tmp_path / "multi30k.de-en", None),
                     (tmp_path / "multi30k.de-en", tmp_path / "raw")]


def test_a_failed_first_use_download_is_a_clean_error(tmp_path: Path, monkeypatch, capsys) -> None:
    from knee_nlp.data.multi30k import DownloadError

    def offline(output: Path, raw_dir: Path | None) -> Path:
        raise DownloadError("could not download http://127.0.0.1:9/train.de.gz: Connection refused")

    monkeypatch.setitem(datasets.PREPARE_RECIPES, "multi30k", offline)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main(["reproduce", "multi30k", "--preset", "cpu", "--schedules", "knee", "--dry-run"])
    assert stopped.value.code == 1  # a failed run, not a bad input: running again may work
    err = capsys.readouterr().err
    assert err.startswith("knee-nlp reproduce: error: could not download") and "Traceback" not in err


def test_raw_dir_is_refused_for_experiments_without_a_recipe(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="--raw-dir prepares the data of experiments with a "
                                         "data recipe; iwslt14 has none"):
        main(["reproduce", "iwslt14", "--preset", "tiny", "--raw-dir", str(tmp_path),
              "--run-dir", str(tmp_path / "run"), "--dry-run"])


@pytest.mark.slow
def test_raw_dir_prepares_on_first_use_then_dry_run_commands(shared_data: Path, tmp_path: Path,
                                                             monkeypatch, capsys) -> None:
    """~60 s: the recipe on the release files, then the decided cpu commands on the real data."""
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    argv = ["reproduce", "multi30k", "--preset", "cpu", "--run-dir", str(run_dir), "--seeds", "1", "--dry-run"]
    full_budget = [*argv, "--schedules", *TUNED_AND_OTHERS, "--budgets", "5ep"]
    assert main([*full_budget, "--raw-dir", str(shared_data / "multi30k/raw")]) == 0
    printed = capsys.readouterr().out
    assert "No multi30k data found" in printed and "preparing it from" in printed
    assert (tmp_path / "multi30k.de-en/data-bin/dict.de.txt").is_file()
    # the tuned knee's explore fraction fits the full budget only
    assert main([*argv, "--schedules", *(s for s in TUNED_AND_OTHERS if s != "knee"), "--budgets", "3ep"]) == 0
    printed += capsys.readouterr().out
    expected = _expected("cpu", data_bin=tmp_path / "multi30k.de-en/data-bin", run_dir=run_dir)
    plans = PLAN.findall(printed)
    assert plans == [(name, str(updates)) for name, updates, _ in expected]
    commands = [line.strip() for line in printed.splitlines() if line.startswith("  " + sys.executable)]
    assert commands == [command for _, _, command in expected]
    # the resolved config of each run is printed too
    assert "config knee-5ep (from " in printed and "    explore_ratio: 0.75" in printed
    with pytest.raises(SystemExit, match=r"explore_ratio 0\.729 at most fits this budget\)"):
        main([*argv, "--schedules", "knee", "--budgets", "3ep"])

    assert main(full_budget) == 0  # found where it was prepared: no second preparation
    assert "preparing" not in capsys.readouterr().out


@pytest.mark.slow
def test_tiny_end_to_end_on_real_multi30k(multi30k_text: Path, tiny_multi30k_configs, tmp_path: Path,
                                          monkeypatch, capsys) -> None:
    """inverse_sqrt and knee_explore50 for 2 epochs on 600 real pairs, a tiny model."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    tiny_multi30k_configs(["5ep", "3ep", "2ep"])
    run_dir = tmp_path / "run"

    assert main(["reproduce", "multi30k", "--preset", "cpu", "--schedules", "inverse_sqrt",
                 "knee_explore50", "--budgets", "2ep", "--seeds", "1", "--run-dir",
                 str(run_dir), "--data-dir", str(multi30k_text)]) == 0
    assert "| knee_explore50 (explore 0.5) |" in capsys.readouterr().out

    for name in ("results.md", "results.json", "lr_2ep.png"):
        assert (run_dir / name).is_file()
    knee = json.loads((run_dir / "runs/knee_explore50-2ep-seed1/result.json").read_text())
    schedule = knee_schedule(knee["lr_scheduler"], knee["peak_lr"], knee["max_update"])
    lrs = knee["curves"]["lr"]
    assert lrs[-1][0] == knee["max_update"] == 2 * knee["updates_per_epoch"]
    for update, lr in lrs:
        assert lr == pytest.approx(schedule(update), rel=1e-4, abs=1e-9)
    for run in ("knee_explore50", "inverse_sqrt"):
        result = json.loads((run_dir / f"runs/{run}-2ep-seed1/result.json").read_text())
        bleu = result["test"]["bleu_tokenized"]
        assert math.isfinite(bleu) and bleu >= 0 and result["test"]["sentences"] == 30
    summary = json.loads((run_dir / "results.json").read_text())
    assert not summary["synthetic_data"] and summary["unfinished_runs"] == []
    assert {row["schedule"] for row in summary["rows"]} == {"inverse_sqrt", "knee_explore50"}
