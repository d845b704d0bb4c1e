"""Config loading and validation: every shipped config, recipe values, and clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from knee_nlp.reproduce.config import (SCHEDULES, ConfigError, default_config_dir,
                                       knee_schedule, load_experiment, load_run_config)

EXPERIMENTS = {"iwslt14": ("50ep", "35ep"), "wmt14": ("70ep", "30ep")}


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
@pytest.mark.parametrize("preset", ["full", "tiny"])
def test_every_schedule_and_budget_has_a_valid_config(experiment: str, preset: str) -> None:
    spec = load_experiment(experiment)
    assert sorted(spec.available(preset)) == sorted(
        (s, b) for s in SCHEDULES for b in EXPERIMENTS[experiment])
    runs = [load_run_config(spec, preset, s, b) for s, b in spec.available(preset)]
    # runs of one preset differ only in their schedule and budget
    assert len({yaml.safe_dump(r.train) for r in runs}) == 1
    assert len({yaml.safe_dump(r.generate) for r in runs}) == 1
    assert len({(r.recipe_gpus, r.average_last_epochs, tuple(r.data.items())) for r in runs}) == 1
    warmups = {r.lr_scheduler["warmup_updates"] for r in runs}
    assert len(warmups) == 1


def test_full_iwslt_baseline_is_fairseqs_public_recipe() -> None:
    run = load_run_config(load_experiment("iwslt14"), "full", "inverse_sqrt", "50ep")
    assert run.train["arch"] == "transformer_iwslt_de_en"
    assert (run.train["lr"], run.train["max_tokens"], run.train["dropout"]) == (5e-4, 4096, 0.3)
    assert run.lr_scheduler == {"name": "inverse_sqrt", "warmup_updates": 4000,
                                "warmup_init_lr": 0.0}
    assert run.generate["beam"] == 5 and run.epochs == 50


def test_full_wmt_recipe_and_knee_variants() -> None:
    spec = load_experiment("wmt14")
    base = load_run_config(spec, "full", "inverse_sqrt", "70ep")
    assert (base.train["arch"], base.recipe_gpus, base.average_last_epochs) == (
        "transformer_vaswani_wmt_en_de_big", 8, 10)
    assert (base.generate["beam"], base.generate["lenpen"]) == (4, 0.6)
    fixed = load_run_config(spec, "full", "knee_explore50", "30ep")
    assert fixed.lr_scheduler["explore_ratio"] == 0.5
    schedule = knee_schedule(fixed.lr_scheduler, fixed.peak_lr, 100_000)
    assert schedule.warmup_steps == 4000 and schedule.explore_steps == 50_000
    assert schedule(100_000) == 0.0


def _copy_configs(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    shutil.copytree(default_config_dir(), root)
    return root


def _edit(path: Path, **changes) -> None:
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        target = data
        *parents, key = dotted.split("__")
        for parent in parents:
            target = target[parent]
        target[key] = value
    path.write_text(yaml.safe_dump(data))


def test_unknown_experiment_schedule_and_budget_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown experiment 'iwslt15'.*iwslt14"):
        load_experiment("iwslt15")
    spec = load_experiment("iwslt14")
    with pytest.raises(ConfigError, match=r"unknown budget '40ep'.*35ep"):
        load_run_config(spec, "tiny", "knee", "40ep")
    with pytest.raises(ConfigError, match=r"unknown schedule 'onecycle'"):
        load_run_config(spec, "tiny", "onecycle", "50ep")
    with pytest.raises(ConfigError, match="preset must be one of"):
        load_run_config(spec, "huge", "knee", "50ep")


def test_config_of_another_experiment_is_rejected(tmp_path: Path) -> None:
    root = _copy_configs(tmp_path)
    shutil.copy(root / "wmt14/tiny.yaml", root / "iwslt14/tiny.yaml")
    with pytest.raises(ConfigError, match="experiment 'wmt14', not 'iwslt14'"):
        load_run_config(load_experiment("iwslt14", root), "tiny", "knee", "50ep")


@pytest.mark.parametrize("edited, changes, message", [
    ("iwslt14/tiny.yaml", {"train__save_dir": "x"}, r"sets \['save_dir'\]"),
    ("schedules.yaml", {"knee__lr_scheduler__name": "cosine"}, "needs lr_scheduler.name 'knee'"),
    ("iwslt14/tiny.yaml", {"lr_scheduler__name": "knee"}, "lr_scheduler.name belongs in"),
    ("iwslt14/tiny.yaml", {"train__lr": -1}, "train.lr must be a finite number > 0"),
    ("schedules.yaml", {"knee__train": {"lr": 0}}, "train.lr must be a finite number > 0"),
    ("iwslt14/tiny.yaml", {"data__max_train_pairs": 0},
     "data.max_train_pairs must be an integer >= 1"),
    ("iwslt14/tiny.yaml", {"surprise": 1}, r"unknown \['surprise'\]"),
    ("schedules.yaml", {"knee__surprise": 1}, r"schedules.yaml: knee must have .*unknown \['surprise'\]"),
    ("iwslt14/experiment.yaml", {"budgets__tiny": ["50ep", "40 epochs"]},
     r"budgets.tiny: budget '40 epochs' must be '<whole epochs>ep'"),
])
def test_bad_values_fail_naming_the_file_and_key(tmp_path: Path, edited: str, changes: dict,
                                                 message: str) -> None:
    root = _copy_configs(tmp_path)
    _edit(root / edited, **changes)
    with pytest.raises(ConfigError, match=message) as error:
        load_run_config(load_experiment("iwslt14", root), "tiny", "knee", "50ep")
    assert str(error.value).startswith(str(root / edited))  # the file at fault
