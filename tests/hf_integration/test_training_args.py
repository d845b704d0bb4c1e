"""KneeTrainingArguments: command-line round trip, errors at argument time, serialisation, DeepSpeed."""

from __future__ import annotations

import dataclasses
import doctest
import json
import pickle
from pathlib import Path

import pytest
from transformers import HfArgumentParser
from transformers.trainer_utils import SchedulerType

import hf_integration.training_args
from hf_integration import KneeTrainingArguments

BASE = ["--output_dir", "unused-output", "--use_cpu", "--report_to", "none"]


def parse(*argv: str) -> KneeTrainingArguments:
    (args,) = HfArgumentParser(KneeTrainingArguments).parse_args_into_dataclasses([*BASE, *argv])
    return args


def test_command_line_round_trip() -> None:
    args = parse("--lr_scheduler_type", "knee", "--explore_ratio", "0.5", "--warmup_steps", "0.1")
    assert args.lr_scheduler_type == "knee"
    assert (args.explore_ratio, args.explore_steps, args.warmup_steps) == (0.5, None, 0.1)
    assert args.knee_scheduler_kwargs == {"num_explore_steps": None, "explore_ratio": 0.5}
    assert args.get_warmup_steps(1000) == 100

    as_dict = json.loads(args.to_json_string())
    assert as_dict["lr_scheduler_type"] == "knee"
    (again,) = HfArgumentParser(KneeTrainingArguments).parse_dict(as_dict)
    assert (again.lr_scheduler_type, again.explore_ratio, again.warmup_steps) == ("knee", 0.5, 0.1)


def test_explore_steps_and_min_lr_ratio_from_the_command_line() -> None:
    args = parse(
        "--lr_scheduler_type", "knee", "--explore_steps", "40", "--warmup_steps", "10", "--max_steps", "100",
        "--lr_scheduler_kwargs", '{"min_lr_ratio": 0.1}',
    )
    assert args.knee_scheduler_kwargs == {"num_explore_steps": 40, "explore_ratio": None, "min_lr_ratio": 0.1}


def test_help_lists_knee_and_the_explore_arguments() -> None:
    text = HfArgumentParser(KneeTrainingArguments).format_help()
    assert "warmup_stable_decay,greedy,knee}" in text
    assert "--explore_ratio EXPLORE_RATIO" in text and "--explore_steps EXPLORE_STEPS" in text


def test_other_scheduler_types_are_transformers_own() -> None:
    args = parse("--lr_scheduler_type", "cosine")
    assert args.lr_scheduler_type is SchedulerType.COSINE
    assert parse().lr_scheduler_type is SchedulerType.LINEAR


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--explore_ratio", "1.5"], r"explore_ratio must be a number in \[0, 1\], got 1.5"),
        (["--explore_steps", "-3"], r"explore_steps must be an integer >= 0, got -3"),
        (["--explore_ratio", "0.5", "--explore_steps", "3"], r"give explore_steps \(3\) or explore_ratio \(0.5\), not both"),
        (["--max_steps", "10", "--warmup_steps", "6", "--explore_steps", "5"], r"must be <= total_steps \(10\)"),
        (["--warmup_steps", "0.6", "--explore_ratio", "0.5"], r"warmup_steps \+ explore_ratio must be <= 1"),
        (["--lr_scheduler_kwargs", '{"min_lr_ratio": 2}'], r"min_lr_ratio must be in \[0, peak=1.0\], got 2"),
        (["--lr_scheduler_kwargs", '{"num_decay_steps": 3}'], r"may only hold \['min_lr_ratio'\]"),
    ],
)
def test_bad_knee_values_fail_when_parsed(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse("--lr_scheduler_type", "knee", *argv)


def test_explore_without_knee_is_refused() -> None:
    message = r"explore_ratio=0.5 is only used with lr_scheduler_type='knee', got lr_scheduler_type='linear'"
    with pytest.raises(ValueError, match=message):
        parse("--explore_ratio", "0.5")


def test_unknown_scheduler_name_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--lr_scheduler_type", "kne")
    error = " ".join(capsys.readouterr().err.split())
    assert "argument --lr_scheduler_type/--lr-scheduler-type: invalid choice: 'kne'" in error and "'knee')" in error


def test_pickle_and_replace_keep_knee(tmp_path: Path) -> None:
    args = KneeTrainingArguments(tmp_path, use_cpu=True, lr_scheduler_type="knee", explore_steps=7)
    assert pickle.loads(pickle.dumps(args)).lr_scheduler_type == "knee"
    changed = dataclasses.replace(args, explore_steps=None, explore_ratio=0.25)
    assert changed.lr_scheduler_type == "knee"
    assert changed.knee_scheduler_kwargs == {"num_explore_steps": None, "explore_ratio": 0.25}


@pytest.mark.parametrize("as_file", [False, True])
def test_deepspeed_config_with_its_own_scheduler_is_refused(tmp_path: Path, as_file: bool) -> None:
    config = {"scheduler": {"type": "WarmupDecayLR", "params": {}}, "train_micro_batch_size_per_gpu": "auto"}
    if as_file:
        path = tmp_path / "ds.json"
        path.write_text(json.dumps(config))
        config = str(path)
    with pytest.raises(ValueError, match=r"conflicts with the DeepSpeed config's own scheduler \('WarmupDecayLR'\)"):
        KneeTrainingArguments(tmp_path, use_cpu=True, lr_scheduler_type="knee", deepspeed=config)


def test_set_lr_scheduler_accepts_knee(tmp_path: Path) -> None:
    args = KneeTrainingArguments(tmp_path, use_cpu=True).set_lr_scheduler(
        name="knee", max_steps=100, warmup_steps=0.1, explore_steps=40
    )
    assert (args.lr_scheduler_type, args.max_steps, args.explore_steps) == ("knee", 100, 40)
    with pytest.raises(ValueError, match=r"warmup_steps \+ explore_steps must be <= total_steps \(100\)"):
        args.set_lr_scheduler(name="knee", max_steps=100, warmup_steps=70, explore_steps=40)
    with pytest.raises(ValueError, match=r"explore_ratio=0.5 is only used with lr_scheduler_type='knee'"):
        args.set_lr_scheduler(name="cosine", explore_ratio=0.5)
    assert args.set_lr_scheduler(name="cosine").lr_scheduler_type is SchedulerType.COSINE


def test_docstring_example() -> None:
    assert doctest.testmod(hf_integration.training_args).failed == 0
