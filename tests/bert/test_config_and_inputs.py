"""Bad input fails before training with a message naming the key, value and allowed range."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hf_integration.pretrain_bert import cli
from hf_integration.pretrain_bert.checkpoint import check_run_dir
from hf_integration.pretrain_bert.config import apply_overrides, config_from_dict, load_config
from knee_nlp.errors import InputFileError

TINY = Path(__file__).resolve().parents[2] / "hf_integration" / "pretrain_bert" / "presets" / "tiny.yaml"
#: the data files the presets leave to the command line (not read by load_config)
DATA = ["data.train_files=[train.txt]", "data.validation_files=[valid.txt]"]


def _run_cli(tmp_path: Path, raw: dict, capsys: pytest.CaptureFixture, *flags: str) -> str:
    """The one ``error: ...`` line of a user error (status 2, no traceback)."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--config", str(path), *flags])
    assert exit_info.value.code == 2
    assert not (tmp_path / "run").exists(), "nothing may be written before the inputs are checked"
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1
    return stderr.strip()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["schedule=step"], "schedule must be one of knee, inverse_sqrt, linear, cosine, got 'step'"),
        (["optimizer.name=sgd"], "optimizer.name must be one of lamb, adamw, got 'sgd'"),
        (
            ["phases.0.warmup_ratio=null", "phases.0.warmup_steps=200", "phases.0.total_steps=300"],
            "budget too short or bad explore: warmup_steps + explore_steps must be <= total_steps (300), got 200 + 150",
        ),
        (
            ["schedule=linear", "phases.0.warmup_ratio=null", "phases.0.warmup_steps=400"],
            "warmup (400 steps) must be <= total_steps (300)",
        ),
        (
            ["schedule=inverse_sqrt", "phases.0.warmup_ratio=null", "phases.0.warmup_steps=0"],
            "(schedule inverse_sqrt): warmup must be >= 1 step, got 0",
        ),
        (["phases.0.warmup_steps=5"], "give warmup_steps or warmup_ratio, not both"),
        (["phases.0.peak_lr=0"], "phases[0] (phase1).peak_lr must be a finite number > 0.0, got 0"),
        (
            ["phases.0.max_seq_length=1024"],
            "max_seq_length must be <= model.max_position_embeddings (512), got 1024",
        ),
        (["mixed_precision=fp8"], "mixed_precision must be null or one of no, bf16, fp16, got 'fp8'"),
        (["logging.colour=red"], "unknown key(s) ['colour'] in logging"),
        (["model.hiden_size=64"], "unknown key(s) ['hiden_size'] in model (transformers.BertConfig arguments)"),
        (["colour=red"], "colour: unknown key(s) ['colour'] in the config; allowed: ['data', 'logging',"),
        (["phases.0.totl=3"], "phases.0.totl: unknown key(s) ['totl'] in phases.0; allowed: ['explore_ratio',"),
        (
            ["phases.5.total_steps=3"],
            "phases.5.total_steps: phases has 2 item(s); index '5' is out of range (allowed: 0..1)",
        ),
        (["optimizer.betas.2=0.5"], "optimizer.betas has 2 item(s); index '2' is out of range (allowed: 0..1)"),
        (["seed=abc"], "seed: Value 'abc' of type 'str' could not be converted to Integer"),
        (["phases.0.total_steps=1.5"], "phases[0].total_steps: Value '1.5' of type 'float' could not be"),
        (["model.hidden_size=abc"], "model: not valid transformers.BertConfig arguments: "),
        (
            ["model.hidden_size=100", "model.num_attention_heads=3"],
            "model.hidden_size (100) must be a multiple of model.num_attention_heads (3)",
        ),
        (["seed.x=3"], "seed.x: seed is a value, not a section"),
    ],
)
def test_bad_config_values_are_rejected(overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError) as error:
        load_config(TINY, [*DATA, *overrides])
    assert message in str(error.value)


def test_a_string_where_a_list_is_expected_is_one_item() -> None:
    cfg = load_config(TINY, ["data.train_files=/a.txt", "data.validation_files=/b.txt", "logging.trackers=jsonl"])
    assert cfg.data.train_files == ["/a.txt"] and cfg.logging.trackers == ["jsonl"]
    raw = yaml.safe_load(TINY.read_text())
    raw["data"].update(train_files="/a.txt", validation_files="/b.txt")
    assert config_from_dict(raw).data.validation_files == ["/b.txt"]


@pytest.mark.parametrize("preset", sorted(TINY.parent.glob("*.yaml")), ids=lambda path: path.name)
def test_data_files_are_required_and_named_with_the_override_syntax(preset: Path) -> None:
    raw = yaml.safe_load(preset.read_text())
    assert raw["data"]["train_files"] == raw["data"]["validation_files"] == "???", "no default data paths"
    assert "../shared" not in preset.read_text()
    with pytest.raises(ValueError) as error:
        load_config(preset)
    assert str(error.value) == (
        "data.train_files, data.validation_files are required (??? or absent in the config): set them in "
        "the config file or on the command line, e.g. --config FILE 'data.train_files=[path/to/train.txt]' "
        "'data.validation_files=[path/to/valid.txt]'"
    )
    with pytest.raises(ValueError, match=r"^data.validation_files is required .* 'data.validation_files=\["):
        load_config(preset, ["data.train_files=[corpus/]"])
    del raw["data"]["train_files"]  # absent is the same as ???
    with pytest.raises(ValueError, match=r"^data.train_files is required"):
        config_from_dict(raw, ["data.validation_files=[v.txt]"])
    cfg = load_config(preset, ["data.train_files=[a.txt, corpus/]", "data.validation_files=v.txt"])
    assert cfg.data.train_files == ["a.txt", "corpus/"] and cfg.data.validation_files == ["v.txt"]


def test_missing_data_files_are_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = yaml.safe_load(TINY.read_text())
    raw["run_dir"] = str(tmp_path / "run")
    message = _run_cli(tmp_path, raw, capsys, "--check")
    assert message.startswith("error: data.train_files, data.validation_files are required")


@pytest.mark.parametrize(
    ("ratio", "total", "expected"),
    [
        (0.1, 30, 3),  # 0.1 * 30 is exactly 3.0 in binary floating point
        (0.11, 20, 3),  # 2.2: up (half-up rounding gave 2)
        (0.07, 100, 8),  # 7.000000000000001 in floating point: up, as the Trainer
        (0.125, 20, 3),  # 2.5
        (0.128, 1563, 201),  # NVIDIA's phase 2 (bert-base/large presets): 200.064
        (0.2843, 7038, 2001),  # NVIDIA's phase 1: 2000.9034
        (0.0, 50, 0),
    ],
)
def test_fractional_warmup_rounds_up_as_the_trainer(ratio: float, total: int, expected: int, tmp_path: Path) -> None:
    from transformers import TrainingArguments

    from hf_integration.pretrain_bert.config import PhaseConfig

    phase = PhaseConfig("p", 8, 1, total_steps=total, peak_lr=1e-3, warmup_ratio=ratio)
    assert phase.num_warmup_steps == expected
    trainer = TrainingArguments(output_dir=str(tmp_path), warmup_steps=ratio, report_to=[])
    assert trainer.get_warmup_steps(total) == expected, "the Trainer's own rounding"


def test_help_does_not_import_transformers() -> None:
    code = (
        "import sys\nfrom hf_integration.pretrain_bert.cli import parse_args\n"
        "try:\n    parse_args(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('transformers', 'torch', 'accelerate') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--check" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_check_validates_without_building_a_model(
    tmp_path: Path, wikitext: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from hf_integration.pretrain_bert import model

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("--check built a model")

    monkeypatch.setattr(model.BertForMaskedLM, "__init__", refuse)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_tiny(tmp_path, wikitext)))
    cli.main(["--config", str(path), "--check"])
    assert capsys.readouterr().out.strip() == f"{path}: OK"
    raw = _tiny(tmp_path, wikitext, model__num_attention_heads=3)
    assert _run_cli(tmp_path, raw, capsys, "--check") == (
        "error: model.hidden_size (128) must be a multiple of model.num_attention_heads (3)"
    )


def test_bad_override_is_one_error_line(tmp_path: Path, wikitext: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_tiny(tmp_path, wikitext)))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--config", str(path), "phases.5.total_steps=3"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "error: phases.5.total_steps: phases has 2 item(s); index '5' is out of range (allowed: 0..1)\n"
    )


def test_overrides_set_nested_and_list_values() -> None:
    raw = apply_overrides(
        {"phases": [{"total_steps": 1}], "data": {}}, ["phases.0.total_steps=40", "data.train_files=[a, b]"]
    )
    assert raw == {"phases": [{"total_steps": 40}], "data": {"train_files": ["a", "b"]}}
    with pytest.raises(ValueError, match="dotted.key=value"):
        apply_overrides({}, ["schedule"])


def test_presets_are_valid_and_explicit() -> None:
    for preset in sorted(TINY.parent.glob("*.yaml")):
        raw = yaml.safe_load(preset.read_text())
        cfg = config_from_dict(raw, DATA)
        for phase in raw["phases"]:  # every hyperparameter is written out, none left to a default
            assert {
                "max_seq_length",
                "per_device_batch_size",
                "gradient_accumulation_steps",
                "total_steps",
                "peak_lr",
            } <= set(phase)
        assert cfg.schedule == "knee", preset


def _tiny(tmp_path: Path, wikitext: dict[str, Path], **changes: object) -> dict:
    raw = yaml.safe_load(TINY.read_text())
    raw["run_dir"] = str(tmp_path / "run")
    raw["data"]["train_files"] = [str(wikitext["train"])]
    raw["data"]["validation_files"] = [str(wikitext["valid"])]
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    for key, value in changes.items():
        section, _, name = key.partition("__")
        raw[section][name] = value
    return raw


def test_missing_data_file(tmp_path: Path, wikitext: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    raw = _tiny(tmp_path, wikitext, data__train_files=[str(tmp_path / "nope.txt")])
    assert (
        _run_cli(tmp_path, raw, capsys) == f"error: data.train_files: {tmp_path / 'nope.txt'} does not exist"
    )


def test_empty_data_file_and_directory(
    tmp_path: Path, wikitext: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "empty.txt").write_text("")
    raw = _tiny(tmp_path, wikitext, data__validation_files=[str(tmp_path / "empty.txt")])
    assert (
        _run_cli(tmp_path, raw, capsys) == f"error: data.validation_files: {tmp_path / 'empty.txt'} is empty"
    )
    (tmp_path / "nothing").mkdir()
    raw = _tiny(tmp_path, wikitext, data__train_files=[str(tmp_path / "nothing")])
    assert "contains no files" in _run_cli(tmp_path, raw, capsys)


def test_vocabulary_must_match_vocab_size(
    tmp_path: Path, wikitext: dict[str, Path], prepared: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    raw = _tiny(tmp_path, wikitext, tokenizer__vocab_file=str(prepared["vocab"]), model__vocab_size=2048)
    assert _run_cli(tmp_path, raw, capsys) == (
        "error: model.vocab_size (2048) does not match the vocabulary: 1024 tokens; set model.vocab_size: 1024"
    )
    raw = _tiny(
        tmp_path,
        wikitext,
        tokenizer__vocab_file=str(prepared["vocab"]),
        tokenizer__pad_vocab_to_multiple_of=1000,
    )
    assert "1024 tokens padded to a multiple of 1000 = 2000" in _run_cli(tmp_path, raw, capsys)


def test_trained_vocabulary_too_small_for_vocab_size(
    tmp_path: Path, wikitext: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    small = tmp_path / "small.txt"
    small.write_text("the cat sat on the mat\n" * 50)
    raw = _tiny(tmp_path, wikitext, data__train_files=[str(small)])
    message = _run_cli(tmp_path, raw, capsys)
    assert message.startswith("error: model.vocab_size (1024) does not match the vocabulary:")


def test_run_dir_is_never_silently_reused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert check_run_dir(run, {"seed": 1}) == "new"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not a pretraining run directory"):
        check_run_dir(run, {"seed": 1})
    (run / "notes.txt").unlink()
    (run / "config.yaml").write_text(yaml.safe_dump({"seed": 1, "phases": [{"total_steps": 30}]}))
    assert check_run_dir(run, {"seed": 1, "phases": [{"total_steps": 30}]}) == "resume"
    with pytest.raises(FileExistsError, match=r"different config \(phases.0.total_steps: 30 -> 60\)"):
        check_run_dir(run, {"seed": 1, "phases": [{"total_steps": 60}]})


@pytest.mark.parametrize("preset", ["tiny", "bert-base", "bert-large"])
def test_presets_are_found_by_name_without_a_checkout_path(preset: str, tmp_path: Path) -> None:
    cfg = load_config(preset, [f"data.train_files=[{tmp_path / 'a.txt'}]",
                               f"data.validation_files=[{tmp_path / 'b.txt'}]"])
    assert cfg.phases and cfg.schedule == "knee"


def test_an_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(InputFileError, match="neither a file nor a preset.*bert-base, bert-large, tiny"):
        load_config("tny")
