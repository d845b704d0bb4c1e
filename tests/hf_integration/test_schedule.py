"""get_knee_schedule_with_warmup and get_scheduler: core multipliers, transformers equivalences,
per-group peaks, pickling, save/reload mid-run and argument errors."""

from __future__ import annotations

import doctest
import io
import pickle

import pytest
import torch
import transformers
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import get_linear_schedule_with_warmup, get_wsd_schedule

import hf_integration.schedule
from hf_integration import get_knee_schedule_with_warmup, get_scheduler
from knee_nlp.schedule import KneeSchedule


def make_optimizer(*group_lrs: float) -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in group_lrs]
    return torch.optim.AdamW([{"params": [p], "lr": lr} for p, lr in zip(params, group_lrs)])


def lr_trace(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list:
    """The first group's LR used by each of ``steps`` optimizer steps (read before ``scheduler.step()``)."""
    trace = []
    for _ in range(steps):
        trace.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return trace


@st.composite
def budgets(draw: st.DrawFn) -> tuple[int, int, int]:
    """(warmup, explore, total) with warmup + explore <= total."""
    total = draw(st.integers(1, 300))
    warmup = draw(st.integers(0, total))
    explore = draw(st.integers(0, total - warmup))
    return warmup, explore, total


def test_authors_trace() -> None:
    optimizer = make_optimizer(1.0)
    scheduler = get_knee_schedule_with_warmup(optimizer, 2, 10, num_explore_steps=3)
    assert lr_trace(optimizer, scheduler, 12)[1:] == pytest.approx(
        [0.5, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0]
    )


def test_docstring_example() -> None:
    assert doctest.testmod(hf_integration.schedule).failed == 0


@settings(max_examples=60, deadline=None)
@given(budget=budgets(), peak=st.floats(1e-6, 1.0), min_lr_ratio=st.floats(0.0, 1.0))
def test_multipliers_come_from_the_core(budget: tuple[int, int, int], peak: float, min_lr_ratio: float) -> None:
    warmup, explore, total = budget
    optimizer = make_optimizer(peak)
    scheduler = get_knee_schedule_with_warmup(
        optimizer, warmup, total, num_explore_steps=explore, min_lr_ratio=min_lr_ratio
    )
    core = KneeSchedule(
        peak_lr=peak, total_steps=total, warmup_steps=warmup, explore_steps=explore, end_lr=min_lr_ratio * peak
    )
    expected = [core(step) for step in range(total + 3)]
    assert lr_trace(optimizer, scheduler, total + 3) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_explore_ratio_is_a_fraction_of_the_whole_budget() -> None:
    optimizer = make_optimizer(1.0)
    scheduler = get_knee_schedule_with_warmup(optimizer, 10, 100, explore_ratio=0.3)
    trace = lr_trace(optimizer, scheduler, 101)
    assert trace[10:41] == [1.0] * 31
    assert trace[41] < 1.0


def test_default_explore_is_half_the_budget() -> None:
    optimizer = make_optimizer(1.0)
    trace = lr_trace(optimizer, get_knee_schedule_with_warmup(optimizer, 0, 100), 101)
    assert trace[:51] == [1.0] * 51
    assert trace[51] < 1.0


@settings(max_examples=60, deadline=None)
@given(budget=budgets())
def test_equals_transformers_wsd_with_linear_warmup_and_decay(budget: tuple[int, int, int]) -> None:
    warmup, explore, total = budget
    knee_optimizer, wsd_optimizer = make_optimizer(1e-3), make_optimizer(1e-3)
    knee = get_knee_schedule_with_warmup(knee_optimizer, warmup, total, num_explore_steps=explore)
    wsd = get_wsd_schedule(
        wsd_optimizer,
        num_warmup_steps=warmup,
        num_decay_steps=total - warmup - explore,
        num_training_steps=total,
        warmup_type="linear",
        decay_type="linear",
        min_lr_ratio=0.0,
    )
    assert lr_trace(knee_optimizer, knee, total + 3) == pytest.approx(
        lr_trace(wsd_optimizer, wsd, total + 3), rel=1e-12, abs=1e-18
    )


@settings(max_examples=60, deadline=None)
@given(budget=budgets())
def test_equals_transformers_linear_when_explore_is_zero(budget: tuple[int, int, int]) -> None:
    warmup, _, total = budget
    knee_optimizer, linear_optimizer = make_optimizer(1e-3), make_optimizer(1e-3)
    knee = get_knee_schedule_with_warmup(knee_optimizer, warmup, total, num_explore_steps=0)
    linear = get_linear_schedule_with_warmup(linear_optimizer, warmup, total)
    assert lr_trace(knee_optimizer, knee, total + 3) == pytest.approx(
        lr_trace(linear_optimizer, linear, total + 3), rel=1e-12, abs=1e-18
    )


def test_each_group_keeps_its_own_peak() -> None:
    optimizer = make_optimizer(1e-3, 1e-4)
    scheduler = get_knee_schedule_with_warmup(optimizer, 2, 10, num_explore_steps=3)
    for _ in range(6):
        optimizer.step()
        scheduler.step()
        first, second = (group["lr"] for group in optimizer.param_groups)
        assert second == pytest.approx(first / 10)


def test_pickles() -> None:
    optimizer = make_optimizer(1e-3)
    scheduler = get_knee_schedule_with_warmup(optimizer, 3, 20, explore_ratio=0.5)
    lr_trace(optimizer, scheduler, 7)
    optimizer_copy, scheduler_copy = pickle.loads(pickle.dumps((optimizer, scheduler)))
    assert scheduler_copy.last_epoch == 7
    assert lr_trace(optimizer_copy, scheduler_copy, 15) == lr_trace(optimizer, scheduler, 15)


@settings(max_examples=25, deadline=None)
@given(stop=st.integers(0, 30))
def test_save_and_reload_mid_run_continues_the_trajectory(stop: int) -> None:
    def build() -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        torch.manual_seed(0)
        optimizer = make_optimizer(1e-3, 5e-4)
        return optimizer, get_knee_schedule_with_warmup(optimizer, 4, 30, num_explore_steps=12)

    optimizer, scheduler = build()
    uninterrupted = lr_trace(optimizer, scheduler, 33)

    optimizer, scheduler = build()
    before = lr_trace(optimizer, scheduler, stop)
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer)
    optimizer, scheduler = build()
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    assert before + lr_trace(optimizer, scheduler, 33 - stop) == uninterrupted


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(num_warmup_steps=-1), r"num_warmup_steps must be an integer >= 0, got -1"),
        (dict(num_training_steps=0), r"num_training_steps must be an integer >= 1, got 0"),
        (dict(num_explore_steps=2.5), r"num_explore_steps must be an integer >= 0, got 2.5"),
        (dict(explore_ratio=1.2), r"explore_ratio must be a number in \[0, 1\], got 1.2"),
        (dict(min_lr_ratio=-0.1), r"min_lr_ratio must be a number in \[0, 1\], got -0.1"),
        (dict(num_explore_steps=5, explore_ratio=0.5), r"not both"),
        (dict(num_warmup_steps=6, num_explore_steps=5), r"warmup_steps \+ explore_steps must be <= total_steps"),
    ],
)
def test_bad_arguments_are_named(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_knee_schedule_with_warmup(
            make_optimizer(1.0), **(dict(num_warmup_steps=1, num_training_steps=10) | arguments)
        )


def test_get_scheduler_builds_knee_from_its_name() -> None:
    knee_optimizer, direct_optimizer = make_optimizer(1e-3), make_optimizer(1e-3)
    by_name = get_scheduler(
        "knee",
        knee_optimizer,
        num_warmup_steps=2,
        num_training_steps=20,
        scheduler_specific_kwargs={"explore_ratio": 0.25, "min_lr_ratio": 0.1},
    )
    direct = get_knee_schedule_with_warmup(direct_optimizer, 2, 20, explore_ratio=0.25, min_lr_ratio=0.1)
    assert lr_trace(knee_optimizer, by_name, 22) == lr_trace(direct_optimizer, direct, 22)


@pytest.mark.parametrize(("name", "kwargs"), [("cosine", {}), ("warmup_stable_decay", {"num_decay_steps": 5})])
def test_get_scheduler_delegates_other_names_to_transformers(name: str, kwargs: dict) -> None:
    ours_optimizer, theirs_optimizer = make_optimizer(1e-3), make_optimizer(1e-3)
    ours = get_scheduler(name, ours_optimizer, 3, 20, scheduler_specific_kwargs=kwargs)
    theirs = transformers.get_scheduler(name, theirs_optimizer, 3, 20, scheduler_specific_kwargs=kwargs)
    assert type(ours) is type(theirs)
    assert lr_trace(ours_optimizer, ours, 22) == lr_trace(theirs_optimizer, theirs, 22)


def test_get_scheduler_errors() -> None:
    with pytest.raises(ValueError, match="knee requires `num_training_steps`"):
        get_scheduler("knee", make_optimizer(1.0), num_warmup_steps=0)
    with pytest.raises(TypeError, match="num_decay_steps"):
        get_scheduler("knee", make_optimizer(1.0), 0, 10, scheduler_specific_kwargs={"num_decay_steps": 3})
    with pytest.raises(ValueError, match="not a valid SchedulerType"):
        get_scheduler("kneee", make_optimizer(1.0), 0, 10)
