"""KneeTrainingArguments and the mixin: command-line round trip, explore in lr_scheduler_kwargs, errors at argument
time, serialisation, Seq2Seq and third-party argument classes, warmup rounding, DeepSpeed."""

from __future__ import annotations

import dataclasses
import doctest
import json
import pickle
from pathlib import Path

import pytest
from transformers import HfArgumentParser, Seq2SeqTrainingArguments, TrainingArguments
from transformers.trainer_utils import SchedulerType

import hf_integration.training_args
from hf_integration import KneeSeq2SeqTrainingArguments, KneeTrainingArguments, KneeTrainingArgumentsMixin
from knee_nlp.budget import warmup_steps_from

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
        (["--max_steps", "10", "--warmup_steps", "6", "--explore_steps", "5"], r"must be <= max_steps \(10\)"),
        (["--warmup_steps", "nan"], r"warmup_steps must be a finite number >= 0.0, got nan"),
        (["--warmup_steps", "0.6", "--explore_ratio", "0.5"], r"warmup_steps \+ explore_ratio must be <= 1"),
        (["--lr_scheduler_kwargs", '{"min_lr_ratio": 2}'], r"min_lr_ratio must be in \[0, peak=1.0\], got 2"),
        (
            ["--lr_scheduler_kwargs", '{"num_decay_steps": 3}'],
            r"may only hold \['num_explore_steps', 'explore_ratio', 'min_lr_ratio'\], got \{'num_decay_steps': 3\}",
        ),
        (
            ["--lr_scheduler_kwargs", '{"explore_ratio": 1.5}'],
            r"lr_scheduler_kwargs\['explore_ratio'\] must be a number in \[0, 1\], got 1.5",
        ),
        (
            ["--lr_scheduler_kwargs", '{"explore_ratio": 0.5, "num_explore_steps": 3}'],
            r"give lr_scheduler_kwargs\['num_explore_steps'\] \(3\) or lr_scheduler_kwargs\['explore_ratio'\] "
            r"\(0.5\), not both",
        ),
        (
            ["--max_steps", "10", "--warmup_steps", "6", "--lr_scheduler_kwargs", '{"num_explore_steps": 5}'],
            r"warmup_steps \+ lr_scheduler_kwargs\['num_explore_steps'\] must be <= max_steps \(10\)",
        ),
        (
            ["--warmup_steps", "0.6", "--lr_scheduler_kwargs", '{"explore_ratio": 0.5}'],
            r"warmup_steps \+ lr_scheduler_kwargs\['explore_ratio'\] must be <= 1",
        ),
    ],
)
def test_bad_knee_values_fail_when_parsed(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse("--lr_scheduler_type", "knee", *argv)


@pytest.mark.parametrize(
    ("kwargs", "knee_kwargs"),
    [
        ('{"explore_ratio": 0.25}', {"num_explore_steps": None, "explore_ratio": 0.25}),
        ('{"num_explore_steps": 40, "min_lr_ratio": 0.1}', {"num_explore_steps": 40, "explore_ratio": None, "min_lr_ratio": 0.1}),
    ],
)
def test_explore_in_lr_scheduler_kwargs_from_the_command_line(kwargs: str, knee_kwargs: dict) -> None:
    args = parse("--lr_scheduler_type", "knee", "--lr_scheduler_kwargs", kwargs, "--warmup_steps", "10")
    assert (args.explore_ratio, args.explore_steps) == (None, None)
    assert args.knee_scheduler_kwargs == knee_kwargs
    (again,) = HfArgumentParser(KneeTrainingArguments).parse_dict(json.loads(args.to_json_string()))
    assert again.knee_scheduler_kwargs == knee_kwargs


@pytest.mark.parametrize(
    ("field", "kwargs", "message"),
    [
        (
            {"explore_ratio": 0.5}, {"explore_ratio": 0.5},
            r"the Knee explore phase is given twice: explore_ratio=0.5 and lr_scheduler_kwargs\['explore_ratio'\]=0.5",
        ),
        (
            {"explore_steps": 30}, {"explore_ratio": 0.5, "min_lr_ratio": 0.1},
            r"given twice: explore_steps=30 and lr_scheduler_kwargs\['explore_ratio'\]=0.5",
        ),
        (
            {"explore_ratio": 0.5}, {"num_explore_steps": 30},
            r"given twice: explore_ratio=0.5 and lr_scheduler_kwargs\['num_explore_steps'\]=30",
        ),
    ],
)
def test_explore_given_twice_fails_when_the_arguments_are_built(
    tmp_path: Path, field: dict, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        KneeTrainingArguments(tmp_path, use_cpu=True, lr_scheduler_type="knee", lr_scheduler_kwargs=kwargs, **field)
    with pytest.raises(ValueError, match=message):
        KneeSeq2SeqTrainingArguments(
            tmp_path, use_cpu=True, lr_scheduler_type="knee", lr_scheduler_kwargs=json.dumps(kwargs), **field
        )
    args = KneeTrainingArguments(tmp_path, use_cpu=True, lr_scheduler_type="knee", lr_scheduler_kwargs=kwargs)
    with pytest.raises(ValueError, match=r"given twice"):
        args.set_lr_scheduler(name="knee", **field)


def test_seq2seq_arguments_from_the_command_line() -> None:
    argv = [*BASE, "--lr_scheduler_type", "knee", "--lr_scheduler_kwargs", '{"explore_ratio": 0.5}',
            "--predict_with_generate", "--generation_max_length", "24"]
    (args,) = HfArgumentParser(KneeSeq2SeqTrainingArguments).parse_args_into_dataclasses(argv)
    assert isinstance(args, Seq2SeqTrainingArguments)
    assert (args.lr_scheduler_type, args.predict_with_generate, args.generation_max_length) == ("knee", True, 24)
    assert args.knee_scheduler_kwargs == {"num_explore_steps": None, "explore_ratio": 0.5}
    assert json.loads(args.to_json_string())["lr_scheduler_type"] == "knee"


def test_the_mixin_gives_knee_to_another_arguments_class(tmp_path: Path) -> None:
    @dataclasses.dataclass
    class ThirdPartyConfig(TrainingArguments):
        packing: bool = False

    @dataclasses.dataclass
    class KneeThirdPartyConfig(KneeTrainingArgumentsMixin, ThirdPartyConfig):
        pass

    (args,) = HfArgumentParser(KneeThirdPartyConfig).parse_args_into_dataclasses(
        [*BASE, "--packing", "--lr_scheduler_type", "knee", "--explore_steps", "7"]
    )
    assert (args.packing, args.lr_scheduler_type, args.explore_steps) == (True, "knee", 7)

    class Undecorated(KneeTrainingArgumentsMixin, ThirdPartyConfig):
        pass

    with pytest.raises(TypeError, match=r"Undecorated must be decorated with @dataclass"):
        Undecorated(output_dir=str(tmp_path), lr_scheduler_type="knee")


@pytest.mark.parametrize("warmup_steps", [0, 0.05, 0.1, 0.128, 0.2843, 0.5, 0.999, 1, 1.0, 7, 40.0])
@pytest.mark.parametrize("total", [1, 13, 30, 1563, 7038])
def test_warmup_rounds_as_transformers_does(tmp_path: Path, warmup_steps: float, total: int) -> None:
    """A fractional warmup rounds up, by the core's warmup_steps_from, exactly as transformers' own rule."""
    ours = KneeTrainingArguments(tmp_path, use_cpu=True, warmup_steps=warmup_steps)
    theirs = TrainingArguments(tmp_path, use_cpu=True, warmup_steps=warmup_steps)
    assert ours.get_warmup_steps(total) == theirs.get_warmup_steps(total) == warmup_steps_from(warmup_steps, total)


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
    with pytest.raises(ValueError, match=r"warmup_steps \+ explore_steps must be <= max_steps \(100\)"):
        args.set_lr_scheduler(name="knee", max_steps=100, warmup_steps=70, explore_steps=40)
    with pytest.raises(ValueError, match=r"explore_ratio=0.5 is only used with lr_scheduler_type='knee'"):
        args.set_lr_scheduler(name="cosine", explore_ratio=0.5)
    assert args.set_lr_scheduler(name="cosine").lr_scheduler_type is SchedulerType.COSINE


def test_docstring_example() -> None:
    assert doctest.testmod(hf_integration.training_args).failed == 0
