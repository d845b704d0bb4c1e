"""KneeLR, the one torch adapter: per-group peaks, state round trip, exact resume, pickling, and
equivalence with transformers' schedules (``get_knee_schedule_with_warmup`` is an alias, tested for
its names in ``tests/hf_integration/test_schedule.py``)."""

from __future__ import annotations

import io
import pickle
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import get_linear_schedule_with_warmup, get_wsd_schedule

from knee_nlp import KneeLR, KneeSchedule
from knee_nlp.torch_scheduler import KneeScheduleChangedWarning


def make_optimizer(*group_lrs: float) -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in group_lrs]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, group_lrs)])


def run(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list[float]:
    """LRs of every group, group after group, after each of ``steps`` optimizer+scheduler steps."""
    trace = []
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        trace.extend(group["lr"] for group in optimizer.param_groups)
    return trace


def test_each_group_follows_its_own_peak() -> None:
    optimizer = make_optimizer(1.0, 0.1)
    scheduler = KneeLR(optimizer, total_steps=10, warmup_steps=2, explore_steps=3)
    schedule = KneeSchedule(peak_lr=1.0, total_steps=10, warmup_steps=2, explore_steps=3)
    trace = run(optimizer, scheduler, 12)
    for step, (lr_a, lr_b) in enumerate(zip(trace[::2], trace[1::2]), start=1):
        assert lr_a == pytest.approx(schedule(step))
        assert lr_b == pytest.approx(0.1 * schedule(step))


def test_initial_lr_is_step_zero_value() -> None:
    optimizer = make_optimizer(0.5)
    KneeLR(optimizer, total_steps=10, warmup_steps=4, warmup_start_factor=0.1)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(total_steps=0), "total_steps must be an integer >= 1"),
        (dict(warmup_steps=8, explore_steps=5), "warmup_steps \\+ explore_steps must be <= total_steps"),
        (dict(end_factor=1.5), "end_factor must be in \\[0, peak=1.0\\], got 1.5"),
        (dict(warmup_start_factor=-0.1), "warmup_start_factor must be a finite number >= 0.0"),
    ],
)
def test_bad_input(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KneeLR(make_optimizer(1.0), **(dict(total_steps=10) | settings))


@settings(max_examples=40, deadline=None)
@given(
    total=st.integers(2, 60),
    warmup_fraction=st.floats(0.0, 0.5),
    explore_fraction=st.floats(0.0, 0.5),
    stop_fraction=st.floats(0.0, 1.2),
)
def test_resume_continues_exact_trajectory(
    total: int, warmup_fraction: float, explore_fraction: float, stop_fraction: float
) -> None:
    kwargs = dict(total_steps=total, warmup_steps=int(warmup_fraction * total),
                  explore_steps=int(explore_fraction * total))
    stop = min(int(stop_fraction * total), total + 3)
    reference_optimizer = make_optimizer(1e-3, 3e-4)
    reference = run(reference_optimizer, KneeLR(reference_optimizer, **kwargs), total + 3)

    optimizer = make_optimizer(1e-3, 3e-4)
    scheduler = KneeLR(optimizer, **kwargs)
    first = run(optimizer, scheduler, stop)
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)

    # A fresh process: new objects built with the *peak* LRs, then the checkpoint restored.
    buffer.seek(0)
    state = torch.load(buffer)  # weights_only, as the Trainer loads it on resume
    resumed_optimizer = make_optimizer(1e-3, 3e-4)
    resumed_scheduler = KneeLR(resumed_optimizer, **kwargs)
    resumed_optimizer.load_state_dict(state["optimizer"])
    resumed_scheduler.load_state_dict(state["scheduler"])
    rest = run(resumed_optimizer, resumed_scheduler, total + 3 - stop)
    assert first + rest == reference


def test_load_state_dict_sets_optimizer_lr_even_without_optimizer_state() -> None:
    optimizer = make_optimizer(1.0)
    scheduler = KneeLR(optimizer, total_steps=10, warmup_steps=2, explore_steps=3)
    run(optimizer, scheduler, 7)
    fresh_optimizer = make_optimizer(1.0)
    fresh = KneeLR(fresh_optimizer, total_steps=10, warmup_steps=2, explore_steps=3)
    fresh.load_state_dict(scheduler.state_dict())
    assert fresh_optimizer.param_groups[0]["lr"] == pytest.approx(0.6)
    assert fresh.get_last_lr() == pytest.approx([0.6])


def test_resume_with_another_budget_follows_the_new_schedule_and_warns() -> None:
    """Extending a run (a larger total_steps on resume) must not keep the old budget's decay to 0."""
    optimizer = make_optimizer(1.0)
    scheduler = KneeLR(optimizer, total_steps=20, explore_steps=10)
    run(optimizer, scheduler, 15)
    assert scheduler.get_last_lr() == pytest.approx([0.5])
    extended_optimizer = make_optimizer(1.0)
    extended = KneeLR(extended_optimizer, total_steps=40, explore_steps=25)
    with pytest.warns(KneeScheduleChangedWarning, match=r"total_steps=20.*total_steps=40.*step 15 \(LR factor 0.5 -> 1\)"):
        extended.load_state_dict(scheduler.state_dict())
    assert extended.last_epoch == 15 and extended_optimizer.param_groups[0]["lr"] == 1.0
    reference_optimizer = make_optimizer(1.0)
    reference = run(reference_optimizer, KneeLR(reference_optimizer, total_steps=40, explore_steps=25), 40)
    assert run(extended_optimizer, extended, 25) == reference[15:]
    assert extended.state_dict()["schedule"]["total_steps"] == 40


def test_resume_with_the_same_settings_does_not_warn() -> None:
    optimizer = make_optimizer(1.0)
    scheduler = KneeLR(optimizer, total_steps=20, explore_ratio=0.5)
    run(optimizer, scheduler, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KneeLR(make_optimizer(1.0), total_steps=20, explore_steps=10).load_state_dict(scheduler.state_dict())


def test_state_dict_pickles() -> None:
    optimizer = make_optimizer(1.0)
    scheduler = KneeLR(optimizer, total_steps=10, explore_ratio=0.3)
    run(optimizer, scheduler, 4)
    state = pickle.loads(pickle.dumps(scheduler.state_dict()))
    assert state["last_epoch"] == 4
    assert state["base_lrs"] == [1.0]
    restored = KneeSchedule(peak_lr=1.0, **state["schedule"])
    assert [restored(s) for s in range(12)] == [KneeSchedule(peak_lr=1.0, total_steps=10, explore_ratio=0.3)(s) for s in range(12)]


@st.composite
def budgets(draw: st.DrawFn) -> tuple[int, int, int]:
    """(warmup, explore, total) with warmup + explore <= total."""
    total = draw(st.integers(1, 300))
    warmup = draw(st.integers(0, total))
    explore = draw(st.integers(0, total - warmup))
    return warmup, explore, total


@settings(max_examples=60, deadline=None)
@given(budget=budgets())
def test_equals_transformers_wsd_with_linear_warmup_and_decay(budget: tuple[int, int, int]) -> None:
    warmup, explore, total = budget
    knee_optimizer, wsd_optimizer = make_optimizer(1e-3), make_optimizer(1e-3)
    knee = run(knee_optimizer, KneeLR(knee_optimizer, total_steps=total, warmup_steps=warmup,
                                      explore_steps=explore), total + 3)
    wsd = run(wsd_optimizer, get_wsd_schedule(
        wsd_optimizer, num_warmup_steps=warmup, num_decay_steps=total - warmup - explore,
        num_training_steps=total, warmup_type="linear", decay_type="linear", min_lr_ratio=0.0), total + 3)
    assert knee == pytest.approx(wsd, rel=1e-12, abs=1e-18)


@settings(max_examples=60, deadline=None)
@given(budget=budgets())
def test_explore_zero_equals_linear_schedule_with_warmup(budget: tuple[int, int, int]) -> None:
    warmup, _, total = budget
    knee_optimizer, linear_optimizer = make_optimizer(1e-3), make_optimizer(1e-3)
    knee = run(knee_optimizer, KneeLR(knee_optimizer, total_steps=total, warmup_steps=warmup,
                                      explore_steps=0), total + 3)
    linear = run(linear_optimizer, get_linear_schedule_with_warmup(linear_optimizer, warmup, total), total + 3)
    assert knee == pytest.approx(linear, rel=1e-12, abs=1e-18)


def test_scheduler_pickles_mid_run() -> None:
    optimizer = make_optimizer(1e-3)
    scheduler = KneeLR(optimizer, total_steps=20, warmup_steps=3, explore_ratio=0.5)
    run(optimizer, scheduler, 7)
    optimizer_copy, scheduler_copy = pickle.loads(pickle.dumps((optimizer, scheduler)))
    assert scheduler_copy.last_epoch == 7
    assert run(optimizer_copy, scheduler_copy, 15) == run(optimizer, scheduler, 15)
