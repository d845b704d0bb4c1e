"""Fixtures for the BERT pretraining tests: a tiny config on WikiText-2, tokenized once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "hf_integration" / "pretrain_bert" / "presets" / "tiny.yaml"
SEQ = 64  # short sequences keep the CPU runs to a few seconds


@pytest.fixture(scope="session")
def wikitext(shared_data: Path) -> dict[str, Path]:
    root = shared_data / "wikitext-2" / "tokens"
    return {"train": root / "test.txt", "valid": root / "valid.txt"}


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory, wikitext: dict[str, Path]) -> dict[str, Path]:
    """A WordPiece vocab trained on the training file and the packed-block cache for SEQ tokens."""
    from hf_integration.pretrain_bert.data import load_tokenizer, packed_blocks, train_wordpiece

    root = tmp_path_factory.mktemp("bert-data")
    vocab = train_wordpiece(
        [wikitext["train"]], 1024, lowercase=True, min_frequency=2, out_dir=root / "vocab"
    )
    tokenizer = load_tokenizer(vocab, lowercase=True)
    for split in ("train", "valid"):
        packed_blocks([wikitext[split]], tokenizer, SEQ, root / "cache")
    return {"vocab": vocab, "cache": root / "cache"}


def _tiny_config(
    run_dir: Path, wikitext: dict[str, Path], prepared: dict[str, Path], **phase: Any
) -> dict[str, Any]:
    raw = yaml.safe_load(TINY.read_text())
    raw["run_dir"] = str(run_dir)
    raw["tokenizer"]["vocab_file"] = str(prepared["vocab"])
    raw["data"].update(
        train_files=[str(wikitext["train"])],
        validation_files=[str(wikitext["valid"])],
        cache_dir=str(prepared["cache"]),
    )
    raw["logging"].update(log_every=1, eval_every=10, eval_batches=2, save_every=10, trackers=["tensorboard"])
    first = raw["phases"][0]
    first.update(max_seq_length=SEQ, per_device_batch_size=16, total_steps=30, peak_lr=5e-3, warmup_ratio=0.1)
    first.update(phase)
    raw["phases"] = [first]
    return raw


@pytest.fixture(scope="session")
def tiny_config(wikitext: dict[str, Path], prepared: dict[str, Path]) -> Callable[..., dict[str, Any]]:
    """``tiny_config(run_dir, **phase_overrides)``: the tiny preset cut to one short phase
    (30 updates of 16 x 64 tokens) on the session's tokenized WikiText-2."""
    return lambda run_dir, **phase: _tiny_config(run_dir, wikitext, prepared, **phase)


@pytest.fixture(scope="session")
def pretrain_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``pretrain_cli(config_dict, config_path, launcher=None)``: write the YAML and run the module
    to completion (1 thread per process: the box has 2 cores)."""

    def run(
        raw: dict[str, Any], path: Path, launcher: list[str] | None = None
    ) -> subprocess.CompletedProcess:
        path.write_text(yaml.safe_dump(raw))
        return _run_module(path, launcher)

    return run


ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def module_command(config: Path, launcher: list[str] | None = None) -> list[str]:
    """``python -m hf_integration.pretrain_bert --config CONFIG`` (or under ``launcher``)."""
    return [*(launcher or [sys.executable]), "-m", "hf_integration.pretrain_bert", "--config", str(config)]


def _run_module(
    config: Path, launcher: list[str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        module_command(config, launcher), cwd=REPO, env=ENV, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def pretrain_popen() -> Callable[..., subprocess.Popen]:
    """``pretrain_popen(config_dict, config_path)``: start the module with stdout piped (for kills)."""

    def start(raw: dict[str, Any], path: Path) -> subprocess.Popen:
        path.write_text(yaml.safe_dump(raw))
        return subprocess.Popen(
            module_command(path),
            cwd=REPO,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    return start


@pytest.fixture
def accelerate_cpu_launch(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """configs/accelerate/cpu_2proc.yaml with ACCELERATE_USE_CPU=1: 2 CPU ranks over gloo."""
    import socket

    monkeypatch.setitem(ENV, "ACCELERATE_USE_CPU", "1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    config = REPO / "configs" / "accelerate" / "cpu_2proc.yaml"
    return [accelerate, "launch", "--config_file", str(config), "--main_process_port", str(port)]
