"""The launcher's outputs are complete: a saved tokenizer that knows the model's limit, logs without
the updates a resume redoes, and the ``knee-pretrain-bert`` command (fast; real runs are in
test_pretrain_runs.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hf_integration.pretrain_bert.tracking import JsonlTracker, PhaseTensorBoardTracker

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "hf_integration" / "pretrain_bert" / "presets" / "tiny.yaml"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}

WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog"]


def tensorboard_scalars(directory: Path, tag: str) -> list[tuple[int, float]]:
    """``(step, value)`` of ``tag`` as TensorBoard shows it (its reader applies ``purge_step``)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(directory))
    accumulator.Reload()
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def test_saved_tokenizer_truncates_to_what_the_saved_model_takes(tmp_path: Path) -> None:
    from accelerate import Accelerator
    from transformers import AutoTokenizer, BertForMaskedLM

    from hf_integration.pretrain_bert.checkpoint import save_final
    from hf_integration.pretrain_bert.data import SPECIAL_TOKENS, load_tokenizer
    from hf_integration.pretrain_bert.model import SparseMLM, new_bert

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL_TOKENS + WORDS) + "\n")
    tokenizer = load_tokenizer(vocab, lowercase=True)
    model = SparseMLM(
        new_bert(
            {"vocab_size": 12, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
             "intermediate_size": 32, "max_position_embeddings": 24}
        )
    )
    save_final(Accelerator(cpu=True), model, tokenizer, tmp_path / "final")
    assert tokenizer.model_max_length > 10**20, "the tokenizer used for packing stays unbounded"

    saved = json.loads((tmp_path / "final" / "tokenizer_config.json").read_text())
    assert saved["model_max_length"] == 24
    loaded = AutoTokenizer.from_pretrained(tmp_path / "final")
    inputs = loaded(" ".join(WORDS * 20), truncation=True, return_tensors="pt")
    assert inputs["input_ids"].shape == (1, 24)
    mlm = BertForMaskedLM.from_pretrained(tmp_path / "final")
    with torch.no_grad():
        assert mlm(**inputs).logits.shape == (1, 24, 12)


def _log(tracker: object, phase: str, steps: range, offset: float = 0.0) -> None:
    for step in steps:
        tracker.log({f"{phase}/lr": step + offset, f"{phase}/eval_loss": -step - offset}, step=step)


def test_a_resumed_phase_forgets_its_redone_updates_in_both_trackers(tmp_path: Path) -> None:
    """Phase 1 finished (1..30), phase 2 killed after update 8 with a checkpoint at 5: the resumed
    phase 2 logs 6..10 again. Each (metric, update) is recorded once, phase 1 untouched."""
    logs = tmp_path / "logs"
    jsonl, board = JsonlTracker("run", logs), PhaseTensorBoardTracker("run", logs)
    board.start()
    for phase, steps in (("phase1", range(1, 31)), ("phase2", range(1, 9))):
        for tracker in (jsonl, board):
            tracker.start_phase(phase, 0)
            _log(tracker, phase, steps)
    board.finish()

    jsonl, board = JsonlTracker("run", logs), PhaseTensorBoardTracker("run", logs)  # the resumed process
    board.start()
    for tracker in (jsonl, board):
        tracker.start_phase("phase2", 5)
        _log(tracker, "phase2", range(6, 11), offset=0.5)
    board.finish()

    records = [json.loads(line) for line in (logs / "metrics.jsonl").read_text().splitlines()]
    keys = [(key, record["step"]) for record in records for key in record if key != "step"]
    assert len(keys) == len(set(keys)), "a (metric, update) recorded twice"
    phase2 = {record["step"]: record["phase2/lr"] for record in records if "phase2/lr" in record}
    assert phase2 == {**{s: float(s) for s in range(1, 6)}, **{s: s + 0.5 for s in range(6, 11)}}
    assert sorted(r["step"] for r in records if "phase1/lr" in r) == list(range(1, 31))

    assert tensorboard_scalars(logs / "run" / "phase1", "phase1/lr") == [(s, float(s)) for s in range(1, 31)]
    shown = tensorboard_scalars(logs / "run" / "phase2", "phase2/lr")
    assert shown == [(s, float(s)) for s in range(1, 6)] + [(s, s + 0.5) for s in range(6, 11)]


def test_a_new_run_writes_no_purge_and_a_fresh_phase_starts_its_own_directory(tmp_path: Path) -> None:
    board = PhaseTensorBoardTracker("run", tmp_path)
    board.start()
    board.start_phase("phase1", 0)
    _log(board, "phase1", range(1, 4))
    board.finish()
    assert tensorboard_scalars(tmp_path / "run" / "phase1", "phase1/lr") == [(1, 1.0), (2, 2.0), (3, 3.0)]
    JsonlTracker("run", tmp_path).start_phase("phase1", 0)  # no metrics file yet: nothing to do
    assert not (tmp_path / "metrics.jsonl").exists()


@pytest.fixture(scope="module")
def console_script() -> str:
    script = shutil.which("knee-pretrain-bert", path=str(Path(sys.executable).parent))
    assert script, "knee-pretrain-bert is not installed: run `pip install -e .` (pyproject [project.scripts])"
    return script


def test_console_script_is_the_module_entry_point(console_script: str) -> None:
    result = subprocess.run([console_script, "--help"], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: knee-pretrain-bert [-h] --config CONFIG [--check]")
    module = subprocess.run(
        [sys.executable, "-m", "hf_integration.pretrain_bert", "--help"],
        capture_output=True, text=True, env=ENV, timeout=120, cwd=REPO,
    )
    assert module.returncode == 0 and module.stdout.startswith("usage: python -m hf_integration.pretrain_bert")
    assert result.stdout.split("\n\n", 1)[1] == module.stdout.split("\n\n", 1)[1], "the same parser"


def test_console_script_check(console_script: str, tmp_path: Path, wikitext: dict[str, Path]) -> None:
    data = [f"data.train_files=[{wikitext['train']}]", f"data.validation_files=[{wikitext['valid']}]"]
    command = [console_script, "--config", str(TINY), "--check", f"run_dir={tmp_path / 'run'}"]
    result = subprocess.run([*command, *data], capture_output=True, text=True, env=ENV, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{TINY}: OK"

    missing = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300, cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("error: data.train_files, data.validation_files are required")
    assert "'data.train_files=[path/to/train.txt]'" in missing.stderr
    assert not (tmp_path / "run").exists()
