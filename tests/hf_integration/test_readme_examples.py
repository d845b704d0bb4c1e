"""The README's Hugging Face examples (files in ``readme_examples/``) run on CPU and follow the Knee schedule."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from knee_nlp.schedule import KneeSchedule

EXAMPLES = Path(__file__).with_name("readme_examples")


README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("name", ["plain_loop.py", "train_knee.py", "translate_knee.py"])
def test_readme_shows_each_example_file_verbatim(name: str) -> None:
    """The code the README shows is the file the tests run (the file's module docstring aside)."""
    source = (EXAMPLES / name).read_text(encoding="utf-8")
    code = source.split('"""', 2)[2].lstrip("\n")
    assert f"```python\n{code}```" in README.read_text(encoding="utf-8")


def run_example(name: str, *argv: str, cwd: Path) -> str:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *argv], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_plain_loop_example(tmp_path: Path) -> None:
    output = run_example("plain_loop.py", cwd=tmp_path)
    logged = {int(step): float(lr) for step, lr in re.findall(r"step +(\d+) +lr (\S+)", output)}
    schedule = KneeSchedule(peak_lr=1e-3, total_steps=100, warmup_steps=10, explore_ratio=0.5)
    assert list(logged) == list(range(10, 101, 10))
    assert list(logged.values()) == pytest.approx([float(f"{schedule(step):.2e}") for step in logged])


@pytest.mark.slow
def test_trainer_example_from_the_command_line(tmp_path: Path) -> None:
    output = run_example(
        "train_knee.py",
        "--output_dir", "knee-out", "--use_cpu", "--max_steps", "40", "--learning_rate", "1e-3",
        "--logging_steps", "1", "--lr_scheduler_type", "knee", "--explore_ratio", "0.5", "--warmup_steps", "0.1",
        "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
        cwd=tmp_path,
    )
    lrs = ast.literal_eval(output.split("lr per step:")[1].strip())
    schedule = KneeSchedule(peak_lr=1e-3, total_steps=40, warmup_steps=4, explore_ratio=0.5)
    assert lrs == pytest.approx([schedule(step) for step in range(40)], rel=1e-12)
