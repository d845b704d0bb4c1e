"""Fixtures of the reproduce tests: a tiny Multi30k setup on a slice of the real corpus."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from knee_nlp.reproduce.config import default_config_dir


@pytest.fixture
def multi30k_text(shared_data: Path, tmp_path: Path) -> Path:
    """Real Multi30k text (the release's tokenized files) as ``{train,valid,test}.{de,en}``."""
    root = tmp_path / "text"
    root.mkdir()
    for split, name in (("train", "train"), ("valid", "val"), ("test", "test_2016_flickr")):
        for lang in ("de", "en"):
            shutil.copy(shared_data / "multi30k/tok" / f"{name}.lc.norm.tok.{lang}", root / f"{split}.{lang}")
    return root


@pytest.fixture
def tiny_multi30k_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """``make(budgets, **train)``: a copy of the shipped configs whose multi30k ``cpu`` preset is a
    1+1-layer, 64-dim Transformer on the first 600/40/30 train/valid/test pairs with 4 warmup
    updates, the given budgets and ``train`` keys; ``$KNEE_NLP_CONFIG_DIR`` points at it."""

    def make(budgets: list[str], **train: Any) -> Path:
        configs = tmp_path / "configs"
        shutil.copytree(default_config_dir(), configs)
        experiment = yaml.safe_load((configs / "multi30k/experiment.yaml").read_text())
        experiment["budgets"]["cpu"] = budgets
        (configs / "multi30k/experiment.yaml").write_text(yaml.safe_dump(experiment))
        base = yaml.safe_load((configs / "multi30k/cpu.yaml").read_text())
        base["data"] = {"max_train_pairs": 600, "max_valid_pairs": 40, "max_test_pairs": 30}
        base["train"].update(encoder_layers=1, decoder_layers=1, encoder_embed_dim=64,
                             decoder_embed_dim=64, encoder_ffn_embed_dim=128,
                             decoder_ffn_embed_dim=128, max_tokens=1024, log_interval=1)
        base["train"].update(train)
        base["lr_scheduler"]["warmup_updates"] = 4
        (configs / "multi30k/cpu.yaml").write_text(yaml.safe_dump(base))
        monkeypatch.setenv("KNEE_NLP_CONFIG_DIR", str(configs))
        return configs

    return make
