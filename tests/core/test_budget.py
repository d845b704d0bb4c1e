"""Budget arithmetic: epochs, batches, processes and accumulation to optimizer updates."""

from __future__ import annotations

import pytest

from knee_nlp import batches_per_epoch, global_batch_size, updates_for_epochs, updates_from_batches


@pytest.mark.parametrize(
    ("batches", "update_freq", "processes", "expected"),
    [(1100, 1, 1, 1100), (1100, 2, 1, 550), (1101, 2, 1, 551), (1100, 1, 8, 138), (1000, 4, 2, 125)],
)
def test_updates_from_batches(batches: int, update_freq: int, processes: int, expected: int) -> None:
    assert updates_from_batches(batches, update_freq, processes) == expected


def test_batches_and_global_batch() -> None:
    assert batches_per_epoch(1000, 32) == 32
    assert batches_per_epoch(1000, 32, drop_last=True) == 31
    assert global_batch_size(64, num_processes=8, grad_accum=4) == 2048


def test_updates_for_epochs_rounds_up() -> None:
    assert updates_for_epochs(50, 1100) == 55_000
    assert updates_for_epochs(0.5, 7) == 4


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: updates_from_batches(0), "num_batches must be an integer >= 1, got 0"),
        (lambda: updates_from_batches(10, update_freq=0), "update_freq must be an integer >= 1"),
        (lambda: updates_for_epochs(0, 10), "epochs must be a finite number > 0.0, got 0"),
        (lambda: global_batch_size(8, grad_accum=1.5), "grad_accum must be an integer >= 1, got 1.5"),
    ],
)
def test_bad_input(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
