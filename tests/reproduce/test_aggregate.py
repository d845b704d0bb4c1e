"""Report aggregation: spread over seeds, delta vs baseline, updates to reach the baseline."""

from __future__ import annotations

import math

import pytest

from knee_nlp.errors import InvalidInputError
from knee_nlp.reproduce.aggregate import aggregate, lr_max_relative_error
from knee_nlp.schedule import KneeSchedule

KNEE = {"name": "knee", "warmup_updates": 10, "warmup_init_lr": 0.0, "explore_ratio": 0.5,
        "end_learning_rate": 0.0}


def _result(schedule: str, seed: int, bleu: float, valid_loss: list[float],
            valid_bleu: list[float], lr: list[list[float]] | None = None) -> dict:
    updates = [25 * (i + 1) for i in range(len(valid_loss))]
    return {
        "schedule": schedule, "budget": "4ep", "epochs": 4, "seed": seed, "max_update": 100,
        "peak_lr": 1e-3, "lr_scheduler": KNEE if schedule == "knee" else {"name": schedule},
        "test": {"bleu_tokenized": bleu, "sacrebleu": bleu - 1.0},
        "curves": {"lr": lr or [], "train_loss": [],
                   "valid_loss": [list(p) for p in zip(updates, valid_loss)],
                   "valid_bleu": [list(p) for p in zip(updates, valid_bleu)]},
    }


def _knee_lrs(scale: float = 1.0) -> list[list[float]]:
    schedule = KneeSchedule(peak_lr=1e-3, total_steps=100, warmup_steps=10, explore_ratio=0.5)
    return [[u, schedule(u) * (scale if u == 70 else 1.0)] for u in range(5, 101, 5)]


def test_rows_hold_mean_spread_delta_and_updates_to_reach_the_baseline() -> None:
    results = [
        _result("inverse_sqrt", 1, 20.0, [5.0, 4.0, 3.6, 3.5], [5, 10, 15, 20]),
        _result("inverse_sqrt", 2, 22.0, [5.0, 4.1, 3.6, 3.5], [5, 11, 16, 22]),
        _result("knee", 1, 23.0, [5.2, 3.9, 3.4, 3.2], [4, 12, 21, 24], _knee_lrs()),
        _result("knee", 2, 25.0, [5.1, 4.0, 3.5, 3.3], [4, 13, 19, 26], _knee_lrs()),
    ]
    rows = aggregate(results)
    base, knee = rows[("4ep", "inverse_sqrt")], rows[("4ep", "knee")]
    assert base["bleu_tokenized"] == {"mean": 21.0, "std": pytest.approx(math.sqrt(2)), "n": 2}
    assert knee["delta_bleu_vs_baseline"] == pytest.approx(3.0)
    assert knee["delta_sacrebleu_vs_baseline"] == pytest.approx(3.0)
    assert knee["valid_loss"]["mean"] == pytest.approx(3.25)
    # baseline final valid BLEU 21 and loss 3.5: knee seed 1 reaches both at update 75,
    # seed 2 reaches BLEU at 100 and loss at 75
    assert knee["updates_to_baseline_valid_bleu"] == math.ceil((75 + 100) / 2)
    assert knee["updates_to_baseline_valid_bleu_per_seed"] == {1: 75, 2: 100}
    assert knee["updates_to_baseline_valid_loss"] == 75
    assert base["updates_to_baseline_valid_loss"] == 100  # the baseline reaches itself at its end
    assert knee["lr_max_relative_error"] == pytest.approx(0.0, abs=1e-12)
    assert base["lr_max_relative_error"] is None


def test_a_schedule_that_never_reaches_the_baseline_says_so() -> None:
    rows = aggregate([
        _result("inverse_sqrt", 1, 20.0, [5.0, 3.0], [5, 20]),
        _result("cosine", 1, 19.0, [5.0, 3.1], [5, 19]),
    ])
    cosine = rows[("4ep", "cosine")]
    assert cosine["updates_to_baseline_valid_bleu"] is None
    assert cosine["updates_to_baseline_valid_loss"] is None
    assert cosine["delta_bleu_vs_baseline"] == pytest.approx(-1.0)


def test_without_a_baseline_run_there_is_no_delta() -> None:
    rows = aggregate([_result("knee", 1, 20.0, [5.0, 3.0], [5, 20], _knee_lrs())])
    assert rows[("4ep", "knee")]["delta_bleu_vs_baseline"] is None
    assert rows[("4ep", "knee")]["updates_to_baseline_valid_bleu"] is None


def test_lr_check_detects_a_logged_lr_off_the_core_schedule() -> None:
    bad = _result("knee", 1, 20.0, [5.0], [5], _knee_lrs(scale=1.01))
    assert lr_max_relative_error(bad) == pytest.approx(0.01 * 0.75, rel=1e-6)  # lr(70) = 0.75 peak


def test_seeds_trained_with_other_schedule_settings_are_not_averaged() -> None:
    other = _result("knee", 2, 30.0, [3.0], [30.0])
    other["lr_scheduler"] = {**KNEE, "explore_ratio": 0.3}
    with pytest.raises(InvalidInputError, match=r"the knee-4ep runs differ in their lr_scheduler settings .*"
                       r"seed 1: .*0\.5.*seed 2: .*0\.3"):
        aggregate([_result("knee", 1, 30.0, [3.0], [30.0]), other])
    bigger_batch = {**_result("knee", 2, 30.0, [3.0], [30.0]), "batching": {"gpus": 8, "max_tokens": 4096}}
    with pytest.raises(InvalidInputError, match=r"the knee-4ep runs differ in their batching settings"):
        aggregate([_result("knee", 1, 30.0, [3.0], [30.0]), bigger_batch])
