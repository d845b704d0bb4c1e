"""Composed configs: base + schedule block + budget resolve to one run; errors name file and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from knee_nlp.reproduce.config import (ConfigError, SCHEDULES, default_config_dir,
                                       load_experiment, load_run_config, shipped_config_dir)

BASE = {
    "experiment": "toy", "preset": "small", "recipe_gpus": 1,
    "data": {"max_train_pairs": 100, "max_valid_pairs": None, "max_test_pairs": None},
    "train": {"arch": "transformer", "lr": 0.001, "max_tokens": 512, "update_freq": 1,
              "dropout": 0.1},
    "lr_scheduler": {"warmup_updates": 10, "warmup_init_lr": 0.0},
    "evaluate": {"average_last_epochs": 2, "generate": {"beam": 5}},
}
EXPERIMENT = {
    "experiment": "toy", "title": "Toy", "source_lang": "de", "target_lang": "en",
    "data": {"search_dirs": ["toy"], "prepare": "nothing to prepare"},
    "budgets": {"small": ["4ep", "2ep"]},
    "defaults": {"small": {"schedules": ["knee"], "budgets": ["4ep"], "seeds": [1]}},
    "paper": {"source": "none", "note": "none", "bleu": None},
}


def _write(root: Path, experiment: dict = EXPERIMENT, base: dict = BASE) -> Path:
    shutil.copy(shipped_config_dir() / "schedules.yaml", root / "schedules.yaml")
    (root / "toy").mkdir(exist_ok=True)
    (root / "toy/experiment.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False))
    (root / "toy/small.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    return root


def test_base_block_and_budget_resolve_to_one_run(tmp_path: Path) -> None:
    spec = load_experiment("toy", _write(tmp_path))
    assert spec.presets == ("small",)
    assert sorted(spec.available("small")) == sorted((s, b) for s in SCHEDULES
                                                     for b in ("4ep", "2ep"))
    knee = load_run_config(spec, "small", "knee", "2ep")
    assert (knee.schedule, knee.budget, knee.epochs) == ("knee", "2ep", 2)
    # name first, then the base's keys, then the block's own
    assert list(knee.lr_scheduler.items()) == [
        ("name", "knee"), ("warmup_updates", 10), ("warmup_init_lr", 0.0),
        ("explore_ratio", 0.6), ("end_learning_rate", 0.0)]
    assert knee.train == BASE["train"] and knee.average_last_epochs == 2
    assert knee.data == BASE["data"] and knee.generate == {"beam": 5}
    # a null in a block drops the base's key
    linear = load_run_config(spec, "small", "linear", "4ep")
    assert linear.lr_scheduler == {"name": "polynomial_decay", "warmup_updates": 10,
                                   "power": 1.0, "end_learning_rate": 0.0}
    # the full resolved config is printable as one stand-alone run file
    printed = yaml.safe_load(knee.to_yaml())
    assert printed["lr_scheduler"] == knee.lr_scheduler and printed["epochs"] == 2
    assert printed["evaluate"] == {"average_last_epochs": 2, "generate": {"beam": 5}}
    assert str(tmp_path / "toy/small.yaml") in knee.source and "schedules.yaml" in knee.source


def test_experiment_blocks_replace_shared_ones_and_may_set_train_keys(tmp_path: Path) -> None:
    experiment = {**EXPERIMENT, "schedules": {"knee": {
        "lr_scheduler": {"name": "knee", "explore_ratio": 0.3}, "train": {"lr": 0.002}}}}
    spec = load_experiment("toy", _write(tmp_path, experiment))
    knee = load_run_config(spec, "small", "knee", "4ep")
    assert knee.lr_scheduler == {"name": "knee", "warmup_updates": 10, "warmup_init_lr": 0.0,
                                 "explore_ratio": 0.3}
    assert knee.peak_lr == 0.002 and knee.train["dropout"] == 0.1
    assert "experiment.yaml (schedules.knee)" in knee.source
    cosine = load_run_config(spec, "small", "cosine", "4ep")  # still the shared block
    assert cosine.lr_scheduler["t_mult"] == 1.0 and cosine.peak_lr == 0.001


@pytest.mark.parametrize("where, change, message", [
    ("base", {"train": {**BASE["train"], "lr": "fast"}}, r"small.yaml: train.lr must be"),
    ("base", {"optimizer": "adam"}, r"small.yaml: top level .*unknown \['optimizer'\]"),
    ("base", {"lr_scheduler": {"warmup_updates": 10, "name": "knee"}},
     r"small.yaml: lr_scheduler.name belongs in the schedule blocks"),
    ("experiment", {"schedules": {"knee": {"lr_scheduler": {"name": "knee"}, "optimizer": 1}}},
     r"experiment.yaml: schedules.knee must have .*unknown \['optimizer'\]"),
    ("experiment", {"schedules": {"onecycle": {"lr_scheduler": {"name": "onecycle"}}}},
     r"experiment.yaml: schedules.onecycle.lr_scheduler.name must name a fairseq "
     r"--lr-scheduler of knee_nlp.registry"),
    ("experiment", {"schedules": {"knee": {"lr_scheduler": {"name": "cosine"}}}},
     r"experiment.yaml \(schedules.knee\): schedule 'knee' needs lr_scheduler.name 'knee'"),
    ("experiment", {"schedules": {"knee": {"lr_scheduler": {"name": "knee"},
                                           "train": {"max_tokens": 0}}}},
     r"experiment.yaml \(schedules.knee\): train.max_tokens must be an integer >= 1"),
    ("experiment", {"budgets": {"small": ["4 epochs"]}},
     r"experiment.yaml: budgets.small: budget '4 epochs' must be '<whole epochs>ep'"),
    ("experiment", {"budgets": {"small": ["2.5ep"]}},
     r"experiment.yaml: budgets.small: budget '2.5ep' must be '<whole epochs>ep' \(an integer >= 1\)"),
    ("experiment", {"budgets": {"small": ["0ep"]}}, r"budget '0ep' must be '<whole epochs>ep'"),
    ("experiment", {"data": {"search_dirs": [], "prepare": "x", "mirror": "y"}},
     r"experiment.yaml: data must have .*unknown \['mirror'\]"),
    ("experiment", {"defaults": {"tiny": EXPERIMENT["defaults"]["small"]}},
     r"experiment.yaml: defaults preset must be one of \('small',\)"),
])
def test_errors_name_the_file_and_the_key(tmp_path: Path, where: str, change: dict,
                                          message: str) -> None:
    experiment, base = dict(EXPERIMENT), dict(BASE)
    (experiment if where == "experiment" else base).update(change)
    root = _write(tmp_path, experiment, base)
    with pytest.raises(ConfigError, match=message):
        load_run_config(load_experiment("toy", root), "small", "knee", "4ep")


def test_unknown_preset_names_the_experiments_presets() -> None:
    with pytest.raises(ConfigError, match=r"multi30k: preset must be one of \('cpu', 'full'\)"):
        load_run_config(load_experiment("multi30k"), "tiny", "knee", "5ep")


def test_configs_are_package_data_and_the_env_overrides(monkeypatch, tmp_path: Path) -> None:
    shipped = shipped_config_dir()
    assert shipped.parts[-3:] == ("knee_nlp", "configs", "reproduce")
    assert {p.parent.name for p in shipped.glob("*/experiment.yaml")} >= {
        "iwslt14", "wmt14", "multi30k"}
    monkeypatch.setenv("KNEE_NLP_CONFIG_DIR", str(_write(tmp_path)))
    assert default_config_dir() == tmp_path
    assert load_experiment("toy").presets == ("small",)


def test_schedule_blocks_configure_the_registrys_fairseq_schedulers(tmp_path: Path) -> None:
    from knee_nlp.registry import SCHEDULES as REGISTRY
    from knee_nlp.reproduce.config import SCHEDULES, _schedule_blocks

    assert set(SCHEDULES.values()) <= {spec.fairseq_scheduler for spec in REGISTRY.values()}
    with pytest.raises(ConfigError, match=r"schedules.yaml: step.lr_scheduler.name must name a "
                                          r"fairseq --lr-scheduler of knee_nlp.registry"):
        _schedule_blocks({"step": {"lr_scheduler": {"name": "fixed"}}}, tmp_path / "schedules.yaml")
