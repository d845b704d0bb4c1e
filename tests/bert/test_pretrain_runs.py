"""Real pretraining runs of the tiny BERT on WikiText-2 (CPU): loss, LR trace, processes, resume, outputs."""

from __future__ import annotations

import json
import math
import os
import signal
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hf_integration.pretrain_bert.tracking import read_metrics
from knee_nlp.baselines import inverse_sqrt_lr, linear_lr
from knee_nlp.schedule import KneeSchedule

pytestmark = pytest.mark.slow

# tiny_config: warmup_ratio 0.1 of 30 updates, rounded up as the Trainer does: ceil(0.1 * 30) = 3
# (the float product is exactly 3.0; 0.1 of 20 is 2 and 0.1 of 6 is ceil(0.6000000000000001) = 1)
PEAK, TOTAL, WARMUP = 5e-3, 30, 3


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


def tensorboard_series(run_dir: Path, key: str, phase: str = "phase1") -> list[tuple[int, float]]:
    """``(step, value)`` of ``<phase>/<key>`` as TensorBoard shows it (``logs/<run>/<phase>/``)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir / "logs" / run_dir.name / phase))
    accumulator.Reload()
    return [(event.step, event.value) for event in accumulator.Scalars(f"{phase}/{key}")]


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


def test_saved_tokenizer_truncation_fits_the_saved_model(knee_run) -> None:
    """``tokenizer(long_text, truncation=True)`` stops at max_position_embeddings (512), which the model takes."""
    from transformers import AutoTokenizer, BertForMaskedLM

    final = knee_run[0] / "phase1" / "final"
    tokenizer = AutoTokenizer.from_pretrained(final)
    model = BertForMaskedLM.from_pretrained(final).eval()
    assert tokenizer.model_max_length == model.config.max_position_embeddings == 512
    inputs = tokenizer("the history of the city " * 400, truncation=True, return_tensors="pt")
    assert inputs["input_ids"].shape == (1, 512)
    with torch.no_grad():
        assert model(**inputs).logits.shape == (1, 512, 1024)


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
    """Killed after update 20 with its checkpoint at 15: updates 16..20 are redone, and neither
    metrics.jsonl nor TensorBoard shows them twice."""
    reference, _ = knee_run
    run_dir = tmp_path / "run"
    raw = tiny_config(run_dir)
    raw["logging"]["save_every"] = 15  # checkpoints do not change the trajectory
    process = pretrain_popen(raw, tmp_path / "config.yaml")
    for line in process.stdout:
        if "[phase1] update 20: eval loss" in line:  # logged after update 20, no checkpoint until the end
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run must be killed mid-phase"
    assert not (run_dir / "phase1" / "final").exists()
    metrics = run_dir / "logs" / "metrics.jsonl"
    assert max(read_metrics(metrics, "phase1/lr")) >= 20 and max(read_metrics(metrics, "phase1/eval_loss")) == 20
    assert max(step for step, _ in tensorboard_series(run_dir, "lr")) >= 20, "events of 16..20 are on disk"

    result = pretrain_cli(raw, tmp_path / "config.yaml")
    assert_finished(result, run_dir)
    assert "resumed from" in result.stdout and "at update 15" in result.stdout
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    counts = Counter((key, record["step"]) for record in records for key in record if key != "step")
    assert max(counts.values()) == 1, [item for item, count in counts.items() if count > 1]
    for key in ("lr", "train_loss", "train_mlm_accuracy", "examples_seen", "eval_loss"):
        assert series(run_dir, key) == pytest.approx(series(reference, key), rel=1e-6), key
        shown = tensorboard_series(run_dir, key)
        assert [step for step, _ in shown] == sorted(read_metrics(metrics, f"phase1/{key}")), key
        assert [value for _, value in shown] == pytest.approx(series(reference, key), rel=1e-5), key
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
