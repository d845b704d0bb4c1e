"""Real pretraining runs of the tiny BERT on WikiText-2 (CPU): loss, LR trace, processes, resume."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hf_integration.pretrain_bert.tracking import read_metrics
from knee_nlp.baselines import inverse_sqrt_lr, linear_lr
from knee_nlp.schedule import KneeSchedule

pytestmark = pytest.mark.slow

PEAK, TOTAL, WARMUP = 5e-3, 30, 3  # tiny_config: warmup_ratio 0.1 of 30 updates


def core_lr(schedule: str, total: int = TOTAL, warmup: int = WARMUP) -> list[float]:
    """The core functions' LR after updates 1..total."""
    functions = {
        "knee": KneeSchedule(peak_lr=PEAK, total_steps=total, warmup_steps=warmup, explore_ratio=0.5),
        "linear": lambda s: linear_lr(s, peak_lr=PEAK, total_steps=total, warmup_steps=warmup),
        "inverse_sqrt": lambda s: inverse_sqrt_lr(s, peak_lr=PEAK, warmup_steps=warmup),
    }
    return [functions[schedule](step) for step in range(1, total + 1)]


def series(run_dir: Path, key: str, phase: str = "phase1") -> list[float]:
    values = read_metrics(run_dir / "logs" / "metrics.jsonl", f"{phase}/{key}")
    assert sorted(values) == list(range(min(values), max(values) + 1)) or key.startswith("eval")
    return [values[step] for step in sorted(values)]


def assert_finished(result, run_dir: Path, phase: str = "phase1") -> None:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert (run_dir / phase / "final" / "model.safetensors").is_file()


@pytest.fixture(scope="module")
def knee_run(tmp_path_factory: pytest.TempPathFactory, tiny_config, pretrain_cli) -> tuple[Path, str]:
    """The uninterrupted knee run (checkpoints every 10 updates): also the resume reference."""
    root = tmp_path_factory.mktemp("knee")
    result = pretrain_cli(tiny_config(root / "run"), root / "config.yaml")
    assert_finished(result, root / "run")
    return root / "run", result.stdout


@pytest.mark.parametrize("schedule", ["knee", "linear", "inverse_sqrt"])
def test_loss_falls_and_lr_is_the_core_function(
    schedule: str, tmp_path: Path, tiny_config, pretrain_cli, request: pytest.FixtureRequest
) -> None:
    if schedule == "knee":
        run_dir, stdout = request.getfixturevalue("knee_run")
    else:
        raw = tiny_config(tmp_path / "run")
        raw["schedule"] = schedule
        result = pretrain_cli(raw, tmp_path / "config.yaml")
        assert_finished(result, tmp_path / "run")
        run_dir, stdout = tmp_path / "run", result.stdout
    assert "1 process(es)" in stdout
    assert series(run_dir, "lr") == pytest.approx(core_lr(schedule), rel=1e-12, abs=1e-15)
    loss = series(run_dir, "train_loss")
    assert sum(loss[-5:]) / 5 < sum(loss[:5]) / 5 - 0.2, loss
    eval_loss = series(run_dir, "eval_loss")
    assert len(eval_loss) == 3 and eval_loss[-1] < eval_loss[0], eval_loss
    assert series(run_dir, "examples_seen") == [16 * step for step in range(1, TOTAL + 1)]
    assert list((run_dir / "logs").rglob("events.out.tfevents.*")), "TensorBoard events"
    from transformers import BertForMaskedLM

    assert BertForMaskedLM.from_pretrained(run_dir / "phase1" / "final").config.vocab_size == 1024


def test_gradient_accumulation_counts_updates_not_micro_batches(
    tmp_path: Path, tiny_config, pretrain_cli
) -> None:
    raw = tiny_config(
        tmp_path / "run", per_device_batch_size=8, gradient_accumulation_steps=2, total_steps=20
    )
    result = pretrain_cli(raw, tmp_path / "config.yaml")
    assert_finished(result, tmp_path / "run")
    assert "global batch 16 = 8 per device x 1 processes x 2 accumulation; 20 updates" in result.stdout
    assert series(tmp_path / "run", "lr") == pytest.approx(core_lr("knee", 20, 2), rel=1e-12, abs=1e-15)
    assert series(tmp_path / "run", "examples_seen") == [16 * step for step in range(1, 21)]


def test_two_processes_with_accumulation(
    tmp_path: Path, tiny_config, pretrain_cli, accelerate_cpu_launch
) -> None:
    raw = tiny_config(
        tmp_path / "run", per_device_batch_size=8, gradient_accumulation_steps=2, total_steps=20
    )
    result = pretrain_cli(raw, tmp_path / "config.yaml", launcher=accelerate_cpu_launch)
    assert_finished(result, tmp_path / "run")
    assert "2 process(es)" in result.stdout, "the launcher must start a world of 2 ranks"
    assert "global batch 32 = 8 per device x 2 processes x 2 accumulation; 20 updates" in result.stdout
    assert series(tmp_path / "run", "lr") == pytest.approx(core_lr("knee", 20, 2), rel=1e-12, abs=1e-15)
    assert series(tmp_path / "run", "examples_seen") == [32 * step for step in range(1, 21)]
    loss = series(tmp_path / "run", "train_loss")
    assert sum(loss[-5:]) / 5 < sum(loss[:5]) / 5 - 0.2, loss


def test_kill_and_resume_continue_the_exact_trajectory(
    tmp_path: Path, tiny_config, pretrain_cli, pretrain_popen, knee_run
) -> None:
    reference, _ = knee_run
    raw = tiny_config(tmp_path / "run")
    process = pretrain_popen(raw, tmp_path / "config.yaml")
    for line in process.stdout:
        if "saved checkpoint" in line and line.rstrip().endswith("step_00000010"):
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run must be killed mid-phase"
    assert not (tmp_path / "run" / "phase1" / "final").exists()

    result = pretrain_cli(raw, tmp_path / "config.yaml")
    assert_finished(result, tmp_path / "run")
    assert "resumed from" in result.stdout and "at update 10" in result.stdout
    for key in ("lr", "train_loss", "train_mlm_accuracy", "examples_seen", "eval_loss"):
        assert series(tmp_path / "run", key) == pytest.approx(series(reference, key), rel=1e-6), key
    resumed = load_file(tmp_path / "run" / "phase1" / "final" / "model.safetensors")
    straight = load_file(reference / "phase1" / "final" / "model.safetensors")
    assert all(torch.allclose(resumed[name], straight[name], atol=1e-6) for name in straight)

    again = pretrain_cli(raw, tmp_path / "config.yaml")  # a finished run is not trained again
    assert again.returncode == 0 and "[phase1] already finished" in again.stdout


def test_two_phases_in_bf16(tmp_path: Path, tiny_config, pretrain_cli) -> None:
    raw = tiny_config(tmp_path / "run", total_steps=20)
    raw["mixed_precision"] = "bf16"
    second = dict(
        raw["phases"][0],
        name="phase2",
        max_seq_length=128,
        per_device_batch_size=8,
        total_steps=6,
        peak_lr=2.5e-3,
    )
    raw["phases"].append(second)
    result = pretrain_cli(raw, tmp_path / "config.yaml")
    assert_finished(result, tmp_path / "run", "phase2")
    assert "mixed precision bf16" in result.stdout
    first_loss, second_loss = (
        series(tmp_path / "run", "train_loss"),
        series(tmp_path / "run", "train_loss", "phase2"),
    )
    assert all(math.isfinite(value) for value in first_loss + second_loss)
    assert sum(first_loss[-5:]) / 5 < sum(first_loss[:5]) / 5 - 0.2, first_loss
    # phase 2 starts from phase 1's weights, not from a fresh model (initial loss ~ ln 1024 = 6.93)
    assert second_loss[0] < first_loss[0] - 0.2, (first_loss[0], second_loss[0])
    assert series(tmp_path / "run", "lr", "phase2") == pytest.approx(
        [
            KneeSchedule(peak_lr=2.5e-3, total_steps=6, warmup_steps=1, explore_ratio=0.5)(s)
            for s in range(1, 7)
        ]
    )
