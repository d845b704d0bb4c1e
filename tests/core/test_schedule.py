"""The core Knee schedule: expected values, phase boundaries, validation and properties."""

from __future__ import annotations

import dataclasses
import math
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knee_nlp import KneeSchedule, explore_steps_from_ratio, knee_lr

# (settings, expected LR after steps 0..total) in the style of transformers' schedule tests.
EXPECTED = [
    # The authors' trace (warmup 2, explore 3, total 10, peak 1).
    (dict(peak_lr=1.0, total_steps=10, warmup_steps=2, explore_steps=3),
     [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0]),
    # No warmup: starts at the peak; default explore ratio 0.5 of 8 = 4 steps.
    (dict(peak_lr=2.0, total_steps=8),
     [2.0, 2.0, 2.0, 2.0, 2.0, 1.5, 1.0, 0.5, 0.0]),
    # Warmup from an initial LR, decay to a floor.
    (dict(peak_lr=1.0, total_steps=6, warmup_steps=2, explore_steps=1, warmup_init_lr=0.2, end_lr=0.4),
     [0.2, 0.6, 1.0, 1.0, 0.8, 0.6, 0.4]),
    # Explore 0: warmup then straight linear decay.
    (dict(peak_lr=1.0, total_steps=5, warmup_steps=1, explore_steps=0),
     [0.0, 1.0, 0.75, 0.5, 0.25, 0.0]),
    # Explore fills the budget: the last step drops to end_lr.
    (dict(peak_lr=1.0, total_steps=4, warmup_steps=0, explore_ratio=1.0),
     [1.0, 1.0, 1.0, 1.0, 0.0]),
]


@pytest.mark.parametrize(("settings", "expected"), EXPECTED)
def test_expected_values(settings: dict, expected: list[float]) -> None:
    schedule = KneeSchedule(**settings)
    assert [schedule(step) for step in range(len(expected))] == pytest.approx(expected, abs=1e-12)


def test_knee_lr_matches_schedule_object() -> None:
    settings = dict(peak_lr=3e-4, total_steps=100, warmup_steps=10, explore_ratio=0.3)
    schedule = KneeSchedule(**settings)
    assert all(knee_lr(step, **settings) == schedule(step) for step in range(120))


def test_explore_ratio_is_fraction_of_whole_budget() -> None:
    schedule = KneeSchedule(peak_lr=1.0, total_steps=1000, warmup_steps=100, explore_ratio=0.5)
    assert schedule.explore_steps == 500
    assert schedule.boundaries() == {"start": 0, "warmup_end": 100, "explore_end": 600, "end": 1000}
    assert explore_steps_from_ratio(0.5, 7) == 4


def test_holds_end_lr_past_budget() -> None:
    schedule = KneeSchedule(peak_lr=1.0, total_steps=10, end_lr=0.1)
    assert [schedule(step) for step in (10, 11, 10_000)] == [0.1, 0.1, 0.1]


def test_phases() -> None:
    schedule = KneeSchedule(peak_lr=1.0, total_steps=10, warmup_steps=2, explore_steps=3)
    assert [schedule.phase(s) for s in range(12)] == (
        ["warmup"] * 2 + ["explore"] * 3 + ["exploit"] * 5 + ["end"] * 2
    )


def test_pickles_and_compares_equal() -> None:
    schedule = KneeSchedule(peak_lr=1.0, total_steps=10, warmup_steps=2)
    assert pickle.loads(pickle.dumps(schedule)) == schedule


def test_schedule_from_a_ratio_survives_replace_and_rebuild() -> None:
    schedule = KneeSchedule(peak_lr=1.0, total_steps=100, warmup_steps=10, explore_ratio=0.3)
    assert (schedule.explore_steps, schedule.explore_ratio) == (30, 0.3)
    assert dataclasses.replace(schedule, peak_lr=2.0).explore_steps == 30
    fields = {f.name: getattr(schedule, f.name) for f in dataclasses.fields(schedule) if f.init}
    assert KneeSchedule(**fields) == schedule
    resized = dataclasses.replace(schedule, total_steps=200, explore_steps=None)
    assert (resized.explore_steps, resized.decay_steps) == (60, 130)


def test_resizing_a_ratio_schedule_without_dropping_explore_steps_says_how() -> None:
    schedule = KneeSchedule(peak_lr=1.0, total_steps=100, explore_ratio=0.3)
    with pytest.raises(ValueError, match=r"not both: they disagree \(explore_ratio 0.3 of 200 total_steps is 60 "
                       r"steps\).*replace\(schedule, total_steps=\.\.\., explore_steps=None\)"):
        dataclasses.replace(schedule, total_steps=200)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(total_steps=None), "total_steps is required"),
        (dict(total_steps=0), "total_steps must be an integer >= 1, got 0"),
        (dict(total_steps=10.5), "total_steps must be an integer >= 1, got 10.5"),
        (dict(warmup_steps=-1), "warmup_steps must be an integer >= 0, got -1"),
        (dict(warmup_steps=2.5), "warmup_steps must be an integer >= 0, got 2.5"),
        (dict(explore_steps=-3), "explore_steps must be an integer >= 0, got -3"),
        (dict(explore_ratio=1.5), r"explore_ratio must be a number in \[0, 1\], got 1.5"),
        (dict(explore_ratio=-0.1), r"explore_ratio must be a number in \[0, 1\], got -0.1"),
        (dict(explore_steps=3, explore_ratio=0.5), "not both"),
        (dict(warmup_steps=6, explore_steps=5), r"warmup_steps \+ explore_steps must be <= total_steps \(10\)"),
        (dict(warmup_steps=6, explore_ratio=0.5), r"6 \+ 5 = 11"),
        (dict(peak_lr=0.0), "peak_lr must be a finite number > 0.0, got 0.0"),
        (dict(peak_lr=-1e-3), "peak_lr must be a finite number > 0.0"),
        (dict(peak_lr=math.nan), "peak_lr must be a finite number > 0.0"),
        (dict(end_lr=-1.0), "end_lr must be a finite number >= 0.0"),
        (dict(end_lr=2.0), r"end_lr must be in \[0, peak_lr=1.0\], got 2.0"),
        (dict(warmup_init_lr=5.0), r"warmup_init_lr must be in \[0, peak_lr=1.0\]"),
        (dict(total_steps=True), "total_steps must be an integer"),
    ],
)
def test_bad_input_raises_at_construction(settings: dict, message: str) -> None:
    arguments = dict(peak_lr=1.0, total_steps=10) | settings
    with pytest.raises(ValueError, match=message):
        KneeSchedule(**arguments)


def test_negative_step_is_rejected() -> None:
    with pytest.raises(ValueError, match="step must be an integer >= 0, got -1"):
        KneeSchedule(peak_lr=1.0, total_steps=10)(-1)


@st.composite
def schedules(draw: st.DrawFn) -> KneeSchedule:
    """Random valid schedules with at least one decay step (the degenerate W + E = T case is
    in EXPECTED)."""
    total = draw(st.integers(1, 5000))
    warmup = draw(st.integers(0, total - 1))
    explore = draw(st.integers(0, total - warmup - 1))
    peak = draw(st.floats(1e-6, 10.0))
    return KneeSchedule(
        peak_lr=peak, total_steps=total, warmup_steps=warmup, explore_steps=explore,
        warmup_init_lr=draw(st.floats(0.0, 1.0)) * peak, end_lr=draw(st.floats(0.0, 1.0)) * peak,
    )


@given(schedules())
def test_boundary_values_are_exact(schedule: KneeSchedule) -> None:
    if schedule.warmup_steps:
        assert schedule(0) == schedule.warmup_init_lr
    assert schedule(schedule.warmup_steps) == schedule.peak_lr or schedule.total_steps == schedule.warmup_steps
    if schedule.explore_end < schedule.total_steps:
        assert schedule(schedule.explore_end) == schedule.peak_lr
    assert schedule(schedule.total_steps) == schedule.end_lr
    assert schedule(schedule.total_steps + 7) == schedule.end_lr


@given(schedules())
def test_phases_are_monotonic_and_continuous(schedule: KneeSchedule) -> None:
    lrs = [schedule(step) for step in range(schedule.total_steps + 1)]
    warmup, explore_end = schedule.warmup_steps, schedule.explore_end
    assert all(a <= b + 1e-12 for a, b in zip(lrs[: warmup + 1], lrs[1 : warmup + 1]))
    assert all(lr == schedule.peak_lr for lr in lrs[warmup + 1 : explore_end + 1])
    assert all(a >= b - 1e-12 for a, b in zip(lrs[explore_end:], lrs[explore_end + 1 :]))
    # Continuity: no step changes the LR by more than one phase's per-step slope.
    slopes = [schedule.peak_lr - schedule.warmup_init_lr] if warmup else []
    slope = max([s / max(warmup, 1) for s in slopes]
                + [(schedule.peak_lr - schedule.end_lr) / max(schedule.decay_steps, 1)], default=0.0)
    assert all(abs(a - b) <= slope + 1e-9 for a, b in zip(lrs, lrs[1:]))
    assert all(min(schedule.warmup_init_lr, schedule.end_lr) - 1e-12 <= lr <= schedule.peak_lr for lr in lrs)


@given(st.integers(1, 10_000), st.floats(0.0, 1.0))
def test_ratio_to_steps_within_half_a_step(total: int, ratio: float) -> None:
    steps = explore_steps_from_ratio(ratio, total)
    assert 0 <= steps <= total
    assert abs(steps - ratio * total) <= 0.5


def test_argument_errors_survive_pickling_with_their_rename_template() -> None:
    """A worker process sends its error back pickled: the copy keeps message, fields and renames."""
    import pickle

    from knee_nlp.validation import ArgumentError

    error = ArgumentError("end_lr", 2.0, "in [0, ⟨peak_lr⟩=1.0]")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.argument, copy.value) == (ArgumentError, str(error), "end_lr", 2.0)
    assert str(copy.renamed({"end_lr": "--end-learning-rate"})) == "--end-learning-rate must be in [0, peak_lr=1.0], got 2.0"
