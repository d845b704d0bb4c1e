"""KneeTrainer under ``accelerate launch`` with 2 CPU processes (DDP over gloo): the same LR per step
as one process with the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from knee_nlp.schedule import KneeSchedule

TINY_MLM_PATH = Path(__file__).with_name("tiny_mlm.py")
SCHEDULE_ARGS = ["--lr_scheduler_type", "knee", "--explore_ratio", "0.5", "--warmup_steps", "0.1"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_processes_log_the_same_lr_as_one(tiny_mlm: ModuleType, shared_data: Path, tmp_path: Path) -> None:
    common = [
        "--use_cpu", "--learning_rate", "1e-3", "--num_train_epochs", "2", "--gradient_accumulation_steps", "2",
        "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
        "--seed", "7", "--num_examples", "50", *SCHEDULE_ARGS,
    ]
    # Global batch 8 in both runs: 2 processes x 2 examples x 2 accumulation, or 1 x 4 x 2.
    two = tmp_path / "two.json"
    launch = [
        str(Path(sys.executable).with_name("accelerate")), "launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), str(TINY_MLM_PATH),
        "--data", str(shared_data), "--result", str(two), "--output_dir", str(tmp_path / "out2"),
        "--per_device_train_batch_size", "2", *common,
    ]
    # `--cpu --num_processes 2` silently runs one process; ACCELERATE_USE_CPU with --multi_gpu runs DDP.
    env = os.environ | {"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]

    one = tmp_path / "one.json"
    tiny_mlm.main(
        ["--data", str(shared_data), "--result", str(one), "--output_dir", str(tmp_path / "out1"),
         "--per_device_train_batch_size", "4", *common]
    )

    two_processes, one_process = json.loads(two.read_text()), json.loads(one.read_text())
    assert (two_processes["world_size"], one_process["world_size"]) == (2, 1)
    assert two_processes["max_steps"] == one_process["max_steps"] == 2 * 7
    assert two_processes["lrs"] == one_process["lrs"]
    total = one_process["max_steps"]
    schedule = KneeSchedule(peak_lr=1e-3, total_steps=total, warmup_steps=2, explore_ratio=0.5)
    steps = [int(step) for step in two_processes["lrs"]]
    assert steps == list(range(1, total + 1))
    assert list(two_processes["lrs"].values()) == pytest.approx([schedule(step - 1) for step in steps], rel=1e-12)
    assert two_processes["final_lr"] == 0.0
