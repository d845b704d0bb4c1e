"""KneeTrainer on a real Trainer run (tiny BERT, WikiText-2): the logged LR of every optimizer step is
the core Knee value, with gradient accumulation, epochs or max_steps, bf16, skipped steps and resume."""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import ModuleType

import pytest
import torch
from transformers import TrainerCallback
from transformers.optimization import _get_cosine_schedule_with_warmup_lr_lambda

import hf_integration.trainer
from hf_integration import KneeTrainer, get_knee_schedule_with_warmup
from knee_nlp import KneeLR
from knee_nlp.schedule import KneeSchedule

PEAK = 1e-3
NUM_EXAMPLES = 50  # 13 batches of 4 per epoch: the last batch and accumulation window are partial


def expected_warmup(warmup_steps: float, total: int) -> int:
    """transformers' documented rule, written out: a float in (0, 1) is a ratio rounded up."""
    return math.ceil(warmup_steps * total) if 0 < warmup_steps < 1 else int(warmup_steps)


def expected_schedule(trainer: KneeTrainer) -> KneeSchedule:
    total = trainer.state.max_steps
    return KneeSchedule(
        peak_lr=PEAK,
        total_steps=total,
        warmup_steps=expected_warmup(trainer.args.warmup_steps, total),
        explore_steps=trainer.args.explore_steps,
        explore_ratio=trainer.args.explore_ratio,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("settings", "total_steps"),
    [
        (dict(gradient_accumulation_steps=1, num_train_epochs=2), 2 * 13),
        (dict(gradient_accumulation_steps=4, num_train_epochs=3), 3 * 4),
        (dict(gradient_accumulation_steps=4, num_train_epochs=50, max_steps=9), 9),
        (dict(gradient_accumulation_steps=2, num_train_epochs=2, bf16=True), 2 * 7),
    ],
    ids=["accumulation-1", "accumulation-4", "max-steps-over-epochs", "bf16"],
)
def test_logged_lr_of_every_step_is_the_core_value(
    tiny_mlm: ModuleType, shared_data: Path, tmp_path: Path, settings: dict, total_steps: int
) -> None:
    args = tiny_mlm.training_args(tmp_path, warmup_steps=0.1, explore_ratio=0.5, **settings)
    trainer = tiny_mlm.build_trainer(shared_data, args, NUM_EXAMPLES)
    trainer.train()

    assert trainer.state.global_step == trainer.state.max_steps == total_steps
    schedule = expected_schedule(trainer)
    lrs = tiny_mlm.logged_lrs(trainer)
    assert list(lrs) == list(range(1, total_steps + 1))
    assert list(lrs.values()) == pytest.approx([schedule(step - 1) for step in lrs], rel=1e-12, abs=1e-18)
    assert {"warmup", "explore", "exploit"} <= {schedule.phase(step - 1) for step in lrs}
    assert trainer.lr_scheduler.get_last_lr() == [0.0, 0.0]  # the budget ends exactly at the last step
    if settings.get("bf16"):
        assert trainer.accelerator.mixed_precision == "bf16"


def test_trainer_logs_for_update_k_the_lr_update_k_used(
    tiny_mlm: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    """The documented convention: the Trainer's ``learning_rate`` for global step k is ``lr(k - 1)`` (what
    ``_get_learning_rate()`` returns before that step's ``scheduler.step()``), not ``lr(k)``."""
    args = tiny_mlm.training_args(tmp_path, warmup_steps=4, explore_steps=2, max_steps=10)
    trainer = tiny_mlm.build_trainer(shared_data, args)
    trainer.train()
    schedule = KneeSchedule(peak_lr=PEAK, total_steps=10, warmup_steps=4, explore_steps=2)
    logged = tiny_mlm.logged_lrs(trainer)
    assert logged == pytest.approx({k: schedule(k - 1) for k in range(1, 11)}, rel=1e-12, abs=1e-18)
    assert logged[1] == 0.0 and logged[10] == pytest.approx(schedule(9)) != schedule(10)


@pytest.mark.slow
def test_resume_from_a_mid_explore_checkpoint_continues_the_trajectory(
    tiny_mlm: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    settings = dict(
        warmup_steps=3, explore_steps=12, num_train_epochs=2, save_strategy="steps", save_steps=8
    )
    uninterrupted = tiny_mlm.build_trainer(shared_data, tiny_mlm.training_args(tmp_path / "a", **settings))
    uninterrupted.train()
    expected = tiny_mlm.logged_lrs(uninterrupted)
    checkpoint = tmp_path / "a" / "checkpoint-8"
    assert expected_schedule(uninterrupted).phase(8) == "explore"

    resumed = tiny_mlm.build_trainer(shared_data, tiny_mlm.training_args(tmp_path / "b", **settings))
    resumed.train(resume_from_checkpoint=str(checkpoint))
    # The log history holds steps 1-8 from the checkpoint's trainer state and 9-24 from the resumed run.
    continued = tiny_mlm.logged_lrs(resumed)
    assert list(continued) == list(range(1, 25))
    assert continued == expected
    schedule = expected_schedule(resumed)
    assert list(continued.values()) == pytest.approx([schedule(step - 1) for step in continued], rel=1e-12)


@pytest.mark.slow
def test_resume_with_a_larger_max_steps_follows_the_new_schedule(
    tiny_mlm: ModuleType, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Extending a run: the resumed steps follow the 40-step schedule (not the checkpoint's 20-step
    decay to 0), and a logged warning names both schedules."""
    short = dict(warmup_steps=2, explore_ratio=0.5, max_steps=20, save_strategy="steps", save_steps=10)
    tiny_mlm.build_trainer(shared_data, tiny_mlm.training_args(tmp_path / "a", **short)).train()
    extended = tiny_mlm.build_trainer(shared_data, tiny_mlm.training_args(tmp_path / "b", **{**short, "max_steps": 40}))
    logged: list[str] = []
    monkeypatch.setattr(hf_integration.trainer.logger, "warning", logged.append)
    extended.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-10"))
    assert len(logged) == 1 and re.search(r"total_steps=20.*total_steps=40.*from step 10 \(LR factor 1 -> 1\)", logged[0])
    schedule = expected_schedule(extended)
    assert schedule.total_steps == 40
    resumed = {step: lr for step, lr in tiny_mlm.logged_lrs(extended).items() if step > 10}
    assert list(resumed) == list(range(11, 41))
    assert list(resumed.values()) == pytest.approx([schedule(step - 1) for step in resumed], rel=1e-12, abs=1e-18)


def test_resume_with_a_knee_lr_passed_in_optimizers_continues_the_trajectory(
    tiny_mlm: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    """A plain Trainer with ``optimizers=(optimizer, KneeLR(...))``: the checkpoint's scheduler state is plain
    numbers, read under ``torch.load(weights_only=True)`` (the Trainer's resume), and the LR trace continues."""
    schedule = KneeSchedule(peak_lr=PEAK, total_steps=24, warmup_steps=3, explore_steps=12)

    def knee_optimizers(model: torch.nn.Module) -> tuple[torch.optim.Optimizer, KneeLR]:
        optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK)
        return optimizer, KneeLR(optimizer, total_steps=24, warmup_steps=3, explore_steps=12)

    settings = dict(lr_scheduler_type="linear", num_train_epochs=2, save_strategy="steps", save_steps=8)
    uninterrupted = tiny_mlm.build_trainer(
        shared_data, tiny_mlm.training_args(tmp_path / "a", **settings), optimizers=knee_optimizers
    )
    uninterrupted.train()
    expected = tiny_mlm.logged_lrs(uninterrupted)
    assert list(expected.values()) == pytest.approx([schedule(step - 1) for step in range(1, 25)], rel=1e-12)

    checkpoint = tmp_path / "a" / "checkpoint-8"
    state = torch.load(checkpoint / "scheduler.pt", weights_only=True)
    assert state["last_epoch"] == 8 and schedule.phase(8) == "explore"
    assert state["schedule"] == dict(
        total_steps=24, warmup_steps=3, explore_steps=12, warmup_init_lr=0.0, end_lr=0.0
    )

    resumed = tiny_mlm.build_trainer(
        shared_data, tiny_mlm.training_args(tmp_path / "b", **settings), optimizers=knee_optimizers
    )
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert isinstance(resumed.lr_scheduler, KneeLR) and resumed.lr_scheduler.last_epoch == 24
    assert tiny_mlm.logged_lrs(resumed) == expected


class SkippedSteps(TrainerCallback):
    """Records, for every optimizer step, whether mixed precision skipped it."""

    def __init__(self) -> None:
        self.trainer: KneeTrainer | None = None
        self.skipped: list[bool] = []

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201 (TrainerCallback signature)
        self.skipped.append(self.trainer.accelerator.optimizer_step_was_skipped)


@pytest.mark.slow
def test_skipped_optimizer_steps_do_not_advance_the_schedule(
    tiny_mlm: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    # accelerate only creates a GradScaler for fp16 on accelerators. On CPU the test gives the run a real
    # torch.amp.GradScaler whose scale overflows fp32 gradients at the start and again each time it has grown
    # back, so the Trainer really skips optimizer steps in several phases of the schedule.
    # (A fused optimizer would skip the update inside its kernel, unseen by accelerate: use the plain AdamW.)
    args = tiny_mlm.training_args(
        tmp_path, warmup_steps=2, explore_steps=6, max_steps=20, max_grad_norm=0.0, optim="adamw_torch"
    )
    trainer = tiny_mlm.build_trainer(shared_data, args)
    trainer.accelerator.scaler = torch.amp.GradScaler(
        "cpu", init_scale=2.0**64, growth_factor=2.0**4, backoff_factor=2.0**-4, growth_interval=3
    )
    recorder = SkippedSteps()
    recorder.trainer = trainer
    trainer.add_callback(recorder)
    trainer.train()

    applied_before = [sum(not skipped for skipped in recorder.skipped[:index]) for index in range(20)]
    schedule = expected_schedule(trainer)
    skipped_in = {schedule.phase(applied) for applied, skipped in zip(applied_before, recorder.skipped) if skipped}
    assert skipped_in == {"warmup", "explore", "exploit"}
    lrs = tiny_mlm.logged_lrs(trainer)
    assert list(lrs.values()) == pytest.approx([schedule(applied) for applied in applied_before], rel=1e-12)
    assert trainer.lr_scheduler.last_epoch == 20 - sum(recorder.skipped)


def test_other_scheduler_types_are_left_to_transformers(
    tiny_mlm: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    trainer = tiny_mlm.build_trainer(shared_data, tiny_mlm.training_args(tmp_path, lr_scheduler_type="cosine"))
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    assert trainer.lr_scheduler.lr_lambdas[0].func is _get_cosine_schedule_with_warmup_lr_lambda


def test_knee_with_a_scheduler_of_your_own_is_refused(tiny_mlm: ModuleType, shared_data: Path, tmp_path: Path) -> None:
    model = tiny_mlm.build_trainer(shared_data, tiny_mlm.training_args(tmp_path)).model
    optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK)
    scheduler = get_knee_schedule_with_warmup(optimizer, 1, 10)
    with pytest.raises(ValueError, match=r"pass optimizers=\(optimizer, None\)"):
        KneeTrainer(model=model, args=tiny_mlm.training_args(tmp_path), optimizers=(optimizer, scheduler))


def test_epoch_budget_that_cannot_hold_warmup_and_explore_fails_before_training(
    tiny_mlm: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    args = tiny_mlm.training_args(tmp_path, warmup_steps=10, explore_steps=10, num_train_epochs=1)
    trainer = tiny_mlm.build_trainer(shared_data, args, NUM_EXAMPLES)
    with pytest.raises(ValueError, match=r"warmup_steps \+ explore_steps must be <= total_steps \(13\)"):
        trainer.train()
    assert trainer.state.global_step == 0
