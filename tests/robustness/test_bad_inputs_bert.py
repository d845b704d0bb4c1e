"""Bad and edge inputs of the BERT launcher (``knee-pretrain-bert`` / ``python -m
hf_integration.pretrain_bert``), through its ``main(argv)`` with ``--check``.

Every mistake is one ``error:`` line naming the key and the value (exit status 2), before anything
is written; ``--check`` runs every check of the real run, which refuses the same inputs the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from hf_integration.pretrain_bert.cli import main
from hf_integration.pretrain_bert.config import load_config


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Two small text files, a plain file, a foreign directory and a run dir of another config."""
    (tmp_path / "train.txt").write_text("the cat sat on the mat .\n" * 40)
    (tmp_path / "valid.txt").write_text("a dog ran in the park .\n" * 40)
    (tmp_path / "file").write_text("x\n")
    (tmp_path / "latin1.txt").write_bytes("ok\nein Stück Käse\n".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.yaml").write_text("seed: 1\n")
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "config.yaml").write_text("seed: [1\n")
    return {path.name: path for path in tmp_path.iterdir()} | {"root": tmp_path}


def _argv(files: dict[str, Path], *overrides: str, check: bool = True) -> list[str]:
    base = [f"data.train_files=[{files['train.txt']}]", f"data.validation_files=[{files['valid.txt']}]",
            f"run_dir={files['root'] / 'run'}", f"data.cache_dir={files['root'] / 'cache'}"]
    return ["--config", "tiny", *(["--check"] if check else []), *base, *overrides]


# (case, overrides (``{name}`` is a path of the ``files`` fixture), message fragments)
BAD_OVERRIDES: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("misspelt model key", ["model.hiden_size=64"], ("unknown key(s) ['hiden_size'] in model", "hidden_size")),
    ("misspelt phase key", ["phases.0.peak_l=1e-3"], ("phases.0.peak_l", "unknown key(s) ['peak_l']", "peak_lr")),
    ("misspelt section", ["loging.log_every=5"], ("unknown key(s) ['loging']", "logging")),
    ("misspelt data key", ["data.train_file=[a.txt]"], ("unknown key(s) ['train_file'] in data",)),
    ("phase index out of range", ["phases.5.total_steps=3"], ("phases.5.total_steps", "index '5' is out of range", "0..1")),
    ("negative phase index", ["phases.-1.total_steps=3"], ("index '-1' is out of range",)),
    ("phase index not a number", ["phases.x.total_steps=3"], ("index 'x' is out of range",)),
    ("index into a value", ["seed.x=1"], ("seed.x", "seed is a value, not a section")),
    ("override without '='", ["seedless"], ("dotted.key=value", "'seedless'")),
    ("value that is not YAML", ["phases.0.total_steps=[1"], ("phases.0.total_steps", "'[1' is not valid YAML")),
    ("seed not a number", ["seed=abc"], ("seed", "'abc'")),
    ("seed negative", ["seed=-1"], ("seed must be an integer >= 0", "got -1")),
    ("masking probability 0", ["data.mlm_probability=0"], ("data.mlm_probability", "(0, 1]", "got 0.0")),
    ("masking probability negative", ["data.mlm_probability=-0.1"], ("data.mlm_probability", "got -0.1")),
    ("masking probability 1.5", ["data.mlm_probability=1.5"], ("data.mlm_probability", "got 1.5")),
    ("tracker not installed", ["logging.trackers=[wandb]"], ("logging.trackers", "'wandb'", "not installed")),
    ("tracker unknown", ["logging.trackers=[tensorbord]"], ("logging.trackers", "'tensorbord'", "tensorboard")),
    ("schedule unknown", ["schedule=step"], ("schedule must be one of knee", "got 'step'")),
    ("optimizer unknown", ["optimizer.name=sgd"], ("optimizer.name", "got 'sgd'")),
    ("three betas", ["optimizer.betas=[0.9,0.9,0.9]"], ("optimizer.betas", "two numbers")),
    ("beta 1.0", ["optimizer.betas=[0.9,1.0]"], ("optimizer.betas", "[0, 1)")),
    ("eps 0", ["optimizer.eps=0"], ("optimizer.eps", "got 0.0")),
    ("mixed precision fp8", ["mixed_precision=fp8"], ("mixed_precision", "got 'fp8'")),
    ("peak lr 0", ["phases.0.peak_lr=0"], ("peak_lr", "got 0.0")),
    ("total steps 0", ["phases.0.total_steps=0"], ("total_steps", "got 0")),
    ("warmup given twice", ["phases.0.warmup_steps=3", "phases.0.warmup_ratio=0.1"], ("warmup_steps or warmup_ratio",)),
    ("warmup negative", ["phases.0.warmup_ratio=null", "phases.0.warmup_steps=-3"], ("warmup_steps", "got -3")),
    ("explore ratio 2", ["phases.0.explore_ratio=2"], ("explore_ratio", "got 2.0")),
    ("warmup + explore over budget", ["phases.0.warmup_ratio=0.6", "phases.0.explore_ratio=0.6"],
     ("warmup_steps + explore_steps must be <= total_steps",)),
    ("sequence shorter than 8", ["phases.0.max_seq_length=4"], ("max_seq_length", "got 4")),
    ("sequence over the positions", ["phases.0.max_seq_length=100000"], ("max_position_embeddings", "100000")),
    ("batch size 0", ["phases.0.per_device_batch_size=0"], ("per_device_batch_size", "got 0")),
    ("no phases", ["phases=[]"], ("phases must list at least one phase",)),
    ("duplicate phase names", ["phases=[{name: a, max_seq_length: 64, per_device_batch_size: 2, total_steps: 10, "
                               "peak_lr: 0.001}, {name: a, max_seq_length: 64, per_device_batch_size: 2, "
                               "total_steps: 10, peak_lr: 0.001}]"], ("phase names must be unique", "'a'")),
    ("phase that is not a mapping", ["phases.0=3"], ("phases[0]", "3")),
    ("unknown key in a new phase", ["phases=[{name: a, bogus: 1}]"], ("phases", "bogus")),
    ("heads do not divide hidden", ["model.num_attention_heads=7"], ("model.hidden_size (128)", "(7)")),
    ("unknown activation", ["model.hidden_act=gelo"], ("model.hidden_act", "got 'gelo'")),
    ("dropout 1.5", ["model.hidden_dropout_prob=1.5"], ("model.hidden_dropout_prob", "got 1.5")),
    ("zero layers", ["model.num_hidden_layers=0"], ("model.num_hidden_layers", "got 0")),
    ("vocab size 4", ["model.vocab_size=4"], ("model.vocab_size", "got 4")),
    ("model not a mapping", ["model=3"], ("model",)),
    ("keep 0 checkpoints", ["logging.keep_checkpoints=0"], ("logging.keep_checkpoints", "got 0")),
    ("num_proc 0", ["data.num_proc=0"], ("data.num_proc", "got 0")),
    ("pad to 0", ["tokenizer.pad_vocab_to_multiple_of=0"], ("tokenizer.pad_vocab_to_multiple_of", "got 0")),
    ("no train files", ["data.train_files=[]"], ("data.train_files must list at least one",)),
    ("missing train file", ["data.train_files=[{root}/nope.txt]"], ("data.train_files", "nope.txt does not exist")),
    ("empty train file", ["data.train_files=[{empty.txt}]"], ("data.train_files", "is empty")),
    ("directory without files", ["data.validation_files=[{empty-dir}]"], ("data.validation_files", "contains no files")),
    ("train file not UTF-8", ["data.train_files=[{latin1.txt}]"], ("data.train_files", "latin1.txt, line 2", "not UTF-8")),
    ("vocab file missing", ["tokenizer.vocab_file={root}/vocab.txt"], ("tokenizer.vocab_file", "does not exist")),
    ("vocab file without special tokens", ["tokenizer.vocab_file={file}"], ("tokenizer.vocab_file", "special token")),
    ("run_dir is a file", ["run_dir={file}"], ("run_dir", "is a file, not a directory")),
    ("run_dir under a file", ["run_dir={file}/run"], ("run_dir", "is a file")),
    ("cache_dir is a file", ["data.cache_dir={file}"], ("data.cache_dir", "is a file, not a directory")),
    ("run_dir of another config", ["run_dir={other}"], ("run_dir", "holds a run with a different config")),
    ("run_dir not a run directory", ["run_dir={foreign}"], ("run_dir", "not a pretraining run directory")),
    ("run_dir with a damaged config.yaml", ["run_dir={damaged}"], ("config.yaml is damaged",)),
]


def _format(overrides: list[str], files: dict[str, Path]) -> list[str]:
    """Each ``{name}`` of a ``files`` entry replaced by its path (other braces are YAML)."""
    return [re.sub(r"\{([\w.-]+)\}", lambda match: str(files.get(match[1], match[0])), override)
            for override in overrides]


@pytest.mark.parametrize(("case", "overrides", "fragments"), BAD_OVERRIDES, ids=[case[0] for case in BAD_OVERRIDES])
def test_check_refuses_bad_overrides_naming_the_key(case: str, overrides: list[str], fragments: tuple[str, ...],
                                                    files: dict[str, Path], run: Callable) -> None:
    run(main, _argv(files, *_format(overrides, files))).clean_error(*fragments)
    assert not (files["root"] / "run").exists()


@pytest.mark.parametrize(("case", "argv", "fragment"), [
    ("no --config", [], "--config"),
    ("config neither file nor preset", ["--config", "huge"], "neither a file nor a preset"),
    ("config file that is not a mapping", ["--config", "{file}"], "must be a mapping"),
    ("data files not given", ["--config", "tiny", "--check"], "data.train_files, data.validation_files are required"),
], ids=lambda value: value if isinstance(value, str) and " " in value else "")
def test_bad_command_lines_are_clean_errors(case: str, argv: list[str], fragment: str, files: dict[str, Path],
                                            run: Callable) -> None:
    run(main, _format(argv, files) + (["--check"] if "--check" not in argv and argv else [])).clean_error(fragment)


def test_a_scalar_where_a_list_of_files_is_expected_is_one_file(files: dict[str, Path], run: Callable) -> None:
    """``data.train_files=/a.txt`` is the one file ``/a.txt``, never its characters."""
    cfg = load_config("tiny", [f"data.train_files={files['train.txt']}", f"data.validation_files={files['valid.txt']}"])
    assert cfg.data.train_files == [str(files["train.txt"])]
    assert "OK" in run(main, ["--config", "tiny", "--check", f"data.train_files={files['train.txt']}",
                              f"data.validation_files={files['valid.txt']}",
                              f"run_dir={files['root'] / 'run'}"]).accepted()


@pytest.mark.parametrize(("case", "overrides", "fragment"), [
    ("run_dir of another config", ["run_dir={other}"], "holds a run with a different config"),
    ("run_dir not a run directory", ["run_dir={foreign}"], "not a pretraining run directory"),
    ("tracker not installed", ["logging.trackers=[wandb]"], "not installed"),
    ("run_dir is a file", ["run_dir={file}"], "is a file, not a directory"),
], ids=lambda value: value if isinstance(value, str) and " " in value else "")
def test_the_real_run_refuses_what_check_refuses_before_writing(case: str, overrides: list[str], fragment: str,
                                                                files: dict[str, Path], run: Callable) -> None:
    argv = _format(overrides, files)
    before = sorted(str(path) for path in files["root"].rglob("*"))
    check = run(main, _argv(files, *argv)).clean_error(fragment)
    real = run(main, _argv(files, *argv, check=False)).clean_error(fragment)
    assert check == real
    assert sorted(str(path) for path in files["root"].rglob("*")) == before


def test_too_little_text_for_a_later_phase_fails_before_the_first_phase(tmp_path: Path, run: Callable) -> None:
    """Phase 2's global batch is checked with phase 1's before anything trains or is written."""
    (tmp_path / "train.txt").write_text("the cat sat on the mat .\n" * 3000)  # ~47 sequences of 512
    (tmp_path / "valid.txt").write_text("a dog ran in the park .\n" * 400)
    argv = ["--config", "tiny", f"data.train_files=[{tmp_path / 'train.txt'}]",
            f"data.validation_files=[{tmp_path / 'valid.txt'}]", f"run_dir={tmp_path / 'run'}",
            f"data.cache_dir={tmp_path / 'cache'}", "model.vocab_size=27", "phases.1.per_device_batch_size=64",
            "logging.trackers=[]"]
    run(main, argv).clean_error("[phase2] (max_seq_length 512)", "data.train_files hold",
                                "fewer than one global batch of 64")
    assert not (tmp_path / "run").exists()
