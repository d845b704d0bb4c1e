"""Bad and edge inputs of the Hugging Face integration: ``KneeTrainingArguments`` fields,
``lr_scheduler_kwargs`` (dict and JSON), ``HfArgumentParser`` flags and the Trainer mixin.

Every bad value fails when the arguments are built (a ``ValueError`` naming the argument and the
value; a flag of the wrong type is argparse's exit 2), never mid-training.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import HfArgumentParser, Trainer, TrainingArguments

from hf_integration import KneeSeq2SeqTrainingArguments, KneeTrainer, KneeTrainingArguments, KneeTrainingArgumentsMixin
from hf_integration.trainer import KneeTrainerMixin

BASE = {"output_dir": "unused-output", "use_cpu": True, "report_to": "none"}


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a Trainer creates ``output_dir``: keep it out of the working tree."""
    monkeypatch.chdir(tmp_path)


def _args(**kwargs: Any) -> KneeTrainingArguments:
    return KneeTrainingArguments(**{**BASE, "lr_scheduler_type": "knee", **kwargs})


def _parse(*argv: str) -> KneeTrainingArguments:
    flags = ["--output_dir", "unused-output", "--use_cpu", "--report_to", "none", *argv]
    (args,) = HfArgumentParser(KneeTrainingArguments).parse_args_into_dataclasses(flags)
    return args


# (case, call, message fragments)
BAD_ARGUMENTS: list[tuple[str, Callable[[], Any], tuple[str, ...]]] = [
    ("explore_ratio 1.5", lambda: _args(explore_ratio=1.5), ("explore_ratio", "got 1.5")),
    ("explore_ratio -0.1", lambda: _args(explore_ratio=-0.1), ("explore_ratio", "got -0.1")),
    ("explore_ratio nan", lambda: _args(explore_ratio=float("nan")), ("explore_ratio", "got nan")),
    ("explore_ratio string", lambda: _args(explore_ratio="0.5"), ("explore_ratio", "got '0.5'")),
    ("explore_steps -1", lambda: _args(explore_steps=-1), ("explore_steps", "got -1")),
    ("explore_steps 2.5", lambda: _args(explore_steps=2.5), ("explore_steps", "got 2.5")),
    ("both explore fields", lambda: _args(explore_steps=2, explore_ratio=0.5), ("explore_steps", "explore_ratio", "not both")),
    ("explore without knee", lambda: _args(lr_scheduler_type="linear", explore_ratio=0.5),
     ("explore_ratio=0.5", "lr_scheduler_type='knee'")),
    ("kwargs unknown key", lambda: _args(lr_scheduler_kwargs={"explore": 0.5}), ("lr_scheduler_kwargs", "'explore'")),
    ("kwargs a list", lambda: _args(lr_scheduler_kwargs=[0.5]), ("lr_scheduler_kwargs", "[0.5]")),
    ("kwargs broken JSON", lambda: _args(lr_scheduler_kwargs="{explore_ratio: 0.5"),
     ("lr_scheduler_kwargs", "JSON object", "'{explore_ratio: 0.5'")),
    ("kwargs JSON array", lambda: _args(lr_scheduler_kwargs="[1]"), ("lr_scheduler_kwargs", "JSON object", "'[1]'")),
    ("kwargs broken JSON, other schedule", lambda: _args(lr_scheduler_type="cosine", lr_scheduler_kwargs="{"),
     ("lr_scheduler_kwargs", "'{'")),
    ("kwargs explore_ratio 2", lambda: _args(lr_scheduler_kwargs={"explore_ratio": 2}),
     ("lr_scheduler_kwargs['explore_ratio']", "got 2")),
    ("kwargs JSON explore_ratio 2", lambda: _args(lr_scheduler_kwargs='{"explore_ratio": 2}'),
     ("lr_scheduler_kwargs['explore_ratio']", "got 2")),
    ("kwargs num_explore_steps -3", lambda: _args(lr_scheduler_kwargs={"num_explore_steps": -3}),
     ("lr_scheduler_kwargs['num_explore_steps']", "got -3")),
    ("kwargs both explore keys", lambda: _args(lr_scheduler_kwargs={"explore_ratio": 0.5, "num_explore_steps": 3}),
     ("lr_scheduler_kwargs['num_explore_steps']", "not both")),
    ("explore given twice", lambda: _args(explore_ratio=0.5, lr_scheduler_kwargs={"explore_ratio": 0.5}), ("given twice",)),
    ("kwargs min_lr_ratio 2", lambda: _args(lr_scheduler_kwargs={"min_lr_ratio": 2}), ("min_lr_ratio", "got 2")),
    ("kwargs min_lr_ratio string", lambda: _args(lr_scheduler_kwargs={"min_lr_ratio": "0"}), ("min_lr_ratio", "got '0'")),
    ("budget too short for warmup + explore", lambda: _args(max_steps=10, warmup_steps=8, explore_ratio=0.5),
     ("warmup_steps + explore_steps", "8 + 5 = 13")),
    ("fractional warmup + explore > 1", lambda: _args(warmup_steps=0.6, explore_ratio=0.5), ("warmup_steps + explore_ratio", "0.6 + 0.5")),
    ("fractional warmup + default explore > 1", lambda: _args(warmup_steps=0.6), ("explore_ratio (default 0.5)", "0.6 + 0.5")),
    ("warmup_steps -1", lambda: _args(warmup_steps=-1), ("warmup_steps", "-1")),
    ("learning_rate 0", lambda: _args(learning_rate=0.0), ("learning_rate", "got 0.0")),
    ("learning_rate negative", lambda: _args(learning_rate=-1e-4), ("learning_rate", "got -0.0001")),
    ("learning_rate nan", lambda: _args(learning_rate=float("nan")), ("learning_rate", "got nan")),
    ("scheduler type misspelt", lambda: _args(lr_scheduler_type="kne"), ("lr_scheduler_type", "knee", "got 'kne'")),
    ("scheduler type upper case", lambda: _args(lr_scheduler_type="KNEE"), ("lr_scheduler_type", "got 'KNEE'")),
    ("seq2seq explore_ratio 2", lambda: KneeSeq2SeqTrainingArguments(**BASE, lr_scheduler_type="knee", explore_ratio=2),
     ("explore_ratio", "got 2")),
    ("set_lr_scheduler explore 3", lambda: KneeTrainingArguments(**BASE).set_lr_scheduler(name="knee", explore_ratio=3),
     ("explore_ratio", "got 3")),
    ("set_lr_scheduler explore without knee",
     lambda: KneeTrainingArguments(**BASE).set_lr_scheduler(name="linear", explore_ratio=0.3), ("explore_ratio=0.3",)),
    ("flag --explore_ratio 2", lambda: _parse("--lr_scheduler_type", "knee", "--explore_ratio", "2"), ("explore_ratio", "got 2.0")),
    ("flag --lr_scheduler_kwargs not JSON", lambda: _parse("--lr_scheduler_type", "knee", "--lr_scheduler_kwargs", "{oops"),
     ("lr_scheduler_kwargs", "'{oops'")),
    ("flag --learning_rate 0", lambda: _parse("--lr_scheduler_type", "knee", "--learning_rate", "0"), ("learning_rate", "got 0.0")),
]


@pytest.mark.parametrize(("case", "call", "fragments"), BAD_ARGUMENTS, ids=[case[0] for case in BAD_ARGUMENTS])
def test_bad_arguments_fail_when_built_naming_the_argument(case: str, call: Callable[[], Any],
                                                           fragments: tuple[str, ...]) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    for fragment in fragments:
        assert fragment in str(raised.value), f"{fragment!r} not in {raised.value}"


@pytest.mark.parametrize(("case", "argv", "fragment"), [
    ("explore_ratio not a number", ["--lr_scheduler_type", "knee", "--explore_ratio", "abc"], "--explore_ratio"),
    ("explore_steps not an integer", ["--lr_scheduler_type", "knee", "--explore_steps", "1.5"], "--explore_steps"),
    ("unknown scheduler type", ["--lr_scheduler_type", "kneee"], "invalid choice: 'kneee'"),
], ids=lambda value: value if isinstance(value, str) and " " in value else "")
def test_flags_of_the_wrong_type_are_argparse_errors(case: str, argv: list[str], fragment: str,
                                                    capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as raised:
        _parse(*argv)
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert "error:" in error and fragment in error and "Traceback" not in error


@pytest.mark.parametrize(("case", "learning_rate"), [
    ("numpy float32", np.float32(5e-4)), ("torch tensor", torch.tensor(5e-4)), ("numpy min_lr_ratio", None),
])
def test_numpy_and_tensor_values_are_accepted(case: str, learning_rate: Any) -> None:
    if learning_rate is None:
        args = _args(max_steps=100, lr_scheduler_kwargs={"min_lr_ratio": np.float32(0.1)})
        assert args.knee_scheduler_kwargs["min_lr_ratio"] == np.float32(0.1)
    else:
        args = _args(max_steps=100, learning_rate=learning_rate, explore_ratio=np.float32(0.5))
        assert float(args.learning_rate) == pytest.approx(5e-4)


class _Regressor(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.mse_loss(self.linear(x), labels)}


def test_knee_with_its_own_scheduler_is_refused_by_the_trainer() -> None:
    model = _Regressor()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1)
    with pytest.raises(ValueError, match="lr_scheduler_type='knee' builds its own scheduler"):
        KneeTrainer(model=model, args=_args(), optimizers=(optimizer, scheduler))


def test_a_budget_that_cannot_hold_warmup_and_explore_fails_in_create_scheduler() -> None:
    """Budget in epochs (unknown when the arguments are built): the Trainer's own names in the error."""
    trainer = KneeTrainer(model=_Regressor(), args=_args(warmup_steps=8, explore_ratio=0.5))
    with pytest.raises(ValueError, match=r"warmup_steps \+ explore_steps must be <= total_steps \(10\)"):
        trainer.create_optimizer_and_scheduler(num_training_steps=10)


def test_the_mixin_after_the_trainer_is_refused() -> None:
    with pytest.raises(TypeError, match="list KneeTrainerMixin before the Trainer class"):
        type("Wrong", (Trainer, KneeTrainerMixin), {})


def test_the_arguments_mixin_after_training_arguments_is_refused() -> None:
    with pytest.raises(TypeError, match="list KneeTrainingArgumentsMixin before the TrainingArguments class"):
        type("Wrong", (TrainingArguments, KneeTrainingArgumentsMixin), {})
