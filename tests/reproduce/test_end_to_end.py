"""End to end on real IWSLT'14 text: train, interrupt, resume, score, report, refuse a changed run.

Trains the tiny preset's Knee and inverse-sqrt configs for 2 epochs on 400 pairs of the
reference IWSLT'14 valid set (test on a 30-pair slice of the test set), kills the reproduce
process during the Knee run, and checks that a second invocation keeps the finished run and
continues the interrupted one from its checkpoint on the exact Knee LR trajectory.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from knee_nlp.cli import main
from knee_nlp.data.binarize import fairseq_preprocess
from knee_nlp.reproduce.config import default_config_dir, knee_schedule

pytestmark = pytest.mark.slow
SLICES = {"train": ("valid", 0, 400), "valid": ("valid", 400, 430), "test": ("test", 0, 30)}


@pytest.fixture(scope="module")
def iwslt_bin(shared_data: Path, tmp_path_factory) -> Path:
    """A data-bin of real IWSLT'14 BPE text, built with the project's fairseq_preprocess."""
    root = tmp_path_factory.mktemp("iwslt")
    source = shared_data / "iwslt14-de-en" / "fairseq-bpe"
    for split, (origin, start, stop) in SLICES.items():
        for lang in ("de", "en"):
            lines = (source / f"{origin}.{lang}").read_text(encoding="utf-8").splitlines()
            (root / f"{split}.{lang}").write_text("\n".join(lines[start:stop]) + "\n", encoding="utf-8")
    return fairseq_preprocess("de", "en", root / "bin", trainpref=root / "train",
                              validpref=root / "valid", testpref=root / "test")


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory) -> Path:
    """The shipped configs with a 2-epoch budget for the tiny preset, on all the given data
    (with a warmup that fits its ~30 updates)."""
    root = tmp_path_factory.mktemp("configs") / "configs"
    shutil.copytree(default_config_dir(), root)
    experiment = yaml.safe_load((root / "iwslt14/experiment.yaml").read_text())
    experiment["budgets"]["tiny"].append("2ep")
    (root / "iwslt14/experiment.yaml").write_text(yaml.safe_dump(experiment))
    base = yaml.safe_load((root / "iwslt14/tiny.yaml").read_text())
    base["data"] = {"max_train_pairs": None, "max_valid_pairs": None, "max_test_pairs": None}
    base["lr_scheduler"]["warmup_updates"] = 8
    (root / "iwslt14/tiny.yaml").write_text(yaml.safe_dump(base))
    return root


def _args(run_dir: Path, data: Path, configs: Path) -> list[str]:
    return ["reproduce", "iwslt14", "--preset", "tiny", "--schedules", "inverse_sqrt", "knee",
            "--budgets", "2ep", "--seeds", "1", "--run-dir", str(run_dir), "--data-dir", str(data),
            "--config-dir", str(configs)]


def _interrupt_during_knee(argv: list[str], run_dir: Path) -> None:
    """Start reproduce, SIGTERM it once the Knee run has saved its first epoch checkpoint."""
    process = subprocess.Popen([sys.executable, "-m", "knee_nlp", *argv],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    marker = run_dir / "runs/knee-2ep-seed1/checkpoints/checkpoint1.pt"
    deadline = time.monotonic() + 900
    while not marker.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert marker.is_file(), output[-3000:]
    assert process.returncode != 0 and "interrupted; run the same command again" in output


def test_reproduce_interrupt_resume_and_report(iwslt_bin: Path, config_dir: Path, tmp_path: Path,
                                               capsys) -> None:
    run_dir = tmp_path / "run"
    argv = _args(run_dir, iwslt_bin, config_dir)
    _interrupt_during_knee(argv, run_dir)
    baseline_dir, knee_dir = run_dir / "runs/inverse_sqrt-2ep-seed1", run_dir / "runs/knee-2ep-seed1"
    assert (baseline_dir / "result.json").is_file() and not (knee_dir / "result.json").exists()
    baseline_log = (baseline_dir / "train.log").read_text()

    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "inverse_sqrt-2ep-seed1: finished earlier" in printed
    assert "knee-2ep-seed1: resuming from checkpoint" in printed
    assert (baseline_dir / "train.log").read_text() == baseline_log  # not retrained
    knee_log = (knee_dir / "train.log").read_text()
    knee = json.loads((knee_dir / "result.json").read_text())
    assert "No existing checkpoint found" in knee_log
    resumed_at = knee["updates_per_epoch"]  # the interruption came after epoch 1's checkpoint
    assert re.search(rf"Loaded checkpoint \S+/checkpoint(1|_last)\.pt \(epoch \d @ {resumed_at} "
                     r"updates\)", knee_log)

    schedule = knee_schedule(knee["lr_scheduler"], knee["peak_lr"], knee["max_update"])
    lrs = knee["curves"]["lr"]
    assert lrs[-1][0] == knee["max_update"] == 2 * knee["updates_per_epoch"]
    for update, lr in lrs:  # the whole logged trajectory, before and after the resume
        assert lr == pytest.approx(schedule(update), rel=1e-4, abs=1e-9)

    for result in (knee, json.loads((baseline_dir / "result.json").read_text())):
        bleu = result["test"]["bleu_tokenized"]
        assert math.isfinite(bleu) and bleu >= 0 and math.isfinite(result["test"]["sacrebleu"])
        assert result["test"]["sentences"] == 30
        losses = [loss for _, loss in result["curves"]["train_loss"]]
        assert all(map(math.isfinite, losses)) and losses[-1] < losses[0] - 1.0
        valid = [loss for _, loss in result["curves"]["valid_loss"]]
        assert len(valid) == 2 and all(map(math.isfinite, valid)) and valid[1] < valid[0]

    summary = json.loads((run_dir / "results.json").read_text())
    assert not summary["synthetic_data"] and summary["unfinished_runs"] == []
    rows = {row["schedule"]: row for row in summary["rows"]}
    assert set(rows) == {"inverse_sqrt", "knee"}
    assert rows["knee"]["lr_max_relative_error"] < 1e-4
    assert rows["knee"]["delta_bleu_vs_baseline"] == pytest.approx(
        rows["knee"]["bleu_tokenized"]["mean"] - rows["inverse_sqrt"]["bleu_tokenized"]["mean"])
    markdown = (run_dir / "results.md").read_text()
    explore = rows["knee"]["lr_scheduler"]["explore_ratio"]
    assert f"| knee (explore {explore:g}) |" in markdown and "| inverse_sqrt |" in markdown
    assert "SYNTHETIC" not in markdown and f"- evaluated checkpoint, 2ep: {knee['checkpoint']} (" in markdown
    assert [run["validation_curves"]["valid_loss"] for run in summary["runs"] if run["schedule"] == "knee"] \
        == [knee["curves"]["valid_loss"]]
    for name in ("lr_2ep.png", "valid_loss_2ep.png", "bleu_vs_budget.png"):
        assert (run_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main(["report", str(run_dir)]) == 0
    assert f"| knee (explore {explore:g}) |" in capsys.readouterr().out

    changed = yaml.safe_load((config_dir / "schedules.yaml").read_text())
    changed["knee"]["train"] = {"lr": 0.001}  # the knee run only
    (config_dir / "schedules.yaml").write_text(yaml.safe_dump(changed))
    with pytest.raises(SystemExit, match="was started with different settings"):
        main(argv)
