"""Bad and edge inputs of ``knee-nlp reproduce``: flags, configs, run directories, state files and
data folders. Every case is refused before any training, most before any data is read, with an
``error:`` naming the flag, file or key and the value; none writes into a run directory it refuses.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from knee_nlp.cli import main
from knee_nlp.reproduce.config import shipped_config_dir

CUDA = torch.cuda.is_available()


@pytest.fixture
def where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A working directory without data, a plain file, a recommendation without its key, a
    corrupt one and run directories with damaged or foreign manifests."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x\n")
    (tmp_path / "no-key.json").write_text('{"ratio": 0.5}')
    (tmp_path / "ratio-3.json").write_text(json.dumps({  # as the sweep writes it, edited to 3
        "explore_ratio": 3, "candidates": {"3": {"validation_mean": 1.0}}, "backend": "translation",
        "settings": {"backend_settings": {"experiment": "iwslt14", "preset": "tiny"}}}))
    (tmp_path / "old.json").write_text('{"explore_ratio": 0.5}')
    for name, text in (("cut-manifest", '{"experiment": "iwsl'), ("list-manifest", "[1, 2]"),
                       ("wmt-manifest", json.dumps({"experiment": "wmt14", "preset": "tiny"}))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "reproduce.json").write_text(text)
    (tmp_path / "fr-en").mkdir()
    for split in ("train", "valid", "test"):
        for lang in ("fr", "en"):
            (tmp_path / "fr-en" / f"{split}.{lang}").write_text("bonjour\n")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "train.de").write_text("hallo\n")
    return {"root": tmp_path, "run": tmp_path / "run"}


def _argv(argv: list[str], where: dict[str, Path]) -> list[str]:
    filled = [str(where["root"] / arg[1:]) if arg.startswith("@") else arg for arg in argv]
    if "--run-dir" not in filled:
        filled += ["--run-dir", str(where["run"])]
    return ["reproduce", *filled]


def _files(root: Path) -> dict[Path, bytes]:
    """Every file under ``root`` and its bytes, but run-directory lock files (emptied on release)."""
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file() and path.name != ".lock"}


TINY = ["iwslt14", "--preset", "tiny", "--dry-run"]

# (case, argv after ``knee-nlp reproduce`` (``@name``: a path in the test's folder), fragments)
BAD_FLAGS: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("gpus 0", [*TINY, "--gpus", "0"], ("--gpus", ">= 1", "'0'")),
    ("gpus negative", [*TINY, "--gpus", "-2"], ("--gpus", "'-2'")),
    ("gpus not a number", [*TINY, "--gpus", "two"], ("--gpus", "'two'")),
    ("seed negative", [*TINY, "--seeds", "-1"], ("--seeds", "'-1'")),
    ("seed not a number", [*TINY, "--seeds", "one"], ("--seeds", "'one'")),
    ("seed beyond 2^32", [*TINY, "--seeds", "99999999999"], ("--seeds", "4294967295", "'99999999999'")),
    ("seed repeated", [*TINY, "--seeds", "1", "2", "1"], ("--seeds must not repeat", "1 2 1")),
    ("schedule unknown", [*TINY, "--schedules", "step"], ("--schedules", "'step'")),
    ("schedule repeated", [*TINY, "--schedules", "knee", "knee"], ("--schedules must not repeat",)),
    ("budget unknown", [*TINY, "--budgets", "40ep"], ("unknown budget '40ep'", "50ep")),
    ("budget malformed", [*TINY, "--budgets", "fifty"], ("'fifty'",)),
    ("budget repeated", [*TINY, "--budgets", "50ep", "50ep"], ("--budgets must not repeat",)),
    ("explore ratio 2", [*TINY, "--explore-ratio", "2"], ("--explore-ratio", "got 2.0")),
    ("explore ratio nan", [*TINY, "--explore-ratio", "nan"], ("--explore-ratio", "got nan")),
    ("explore ratio negative", [*TINY, "--explore-ratio=-0.5"], ("--explore-ratio", "got -0.5")),
    ("explore-from missing", [*TINY, "--explore-from", "@none.json"], ("--explore-from", "none.json")),
    ("explore-from not JSON", [*TINY, "--explore-from", "@file"], ("--explore-from", "not a recommendation")),
    ("explore-from without the key", [*TINY, "--explore-from", "@no-key.json"], ("--explore-from", "'explore_ratio'")),
    ("explore-from ratio 3", [*TINY, "--explore-from", "@ratio-3.json"], ("--explore-from", "[0, 1]", "got 3")),
    ("explore-from a directory", [*TINY, "--explore-from", "@fr-en"], ("--explore-from", "is a directory")),
    ("explore-from an old file", [*TINY, "--explore-from", "@old.json"], ("--explore-from", "older knee-nlp")),
    ("explore-ratio without knee", [*TINY, "--schedules", "inverse_sqrt", "--explore-ratio", "0.5"],
     ("--explore-ratio", "'knee' schedule, which is not among the schedules")),
    ("explore twice", [*TINY, "--explore-ratio", "0.5", "--explore-from", "@no-key.json"], ("not allowed with",)),
    ("preset unknown", ["iwslt14", "--preset", "huge", "--dry-run"], ("preset must be one of", "'huge'")),
    ("experiment unknown", ["iwslt15", "--dry-run"], ("unknown experiment 'iwslt15'", "iwslt14")),
    ("config dir missing", [*TINY, "--config-dir", "@nowhere"], ("unknown experiment 'iwslt14'", "nowhere")),
    ("fp16 and bf16", [*TINY, "--fp16", "--bf16"], ("not allowed with",)),
    ("run dir is a file", [*TINY, "--run-dir", "@file"], ("--run-dir", "is a file, not a directory")),
    ("run dir under a file", [*TINY, "--run-dir", "@file/run"], ("--run-dir", "is a file")),
    ("run dir of another experiment", [*TINY, "--run-dir", "@wmt-manifest"], ("experiment differ", "'wmt14'", "'iwslt14'")),
    ("truncated reproduce.json", [*TINY, "--run-dir", "@cut-manifest"], ("reproduce.json is damaged", "run the same")),
    ("reproduce.json not an object", [*TINY, "--run-dir", "@list-manifest"], ("reproduce.json holds an array",)),
    ("data dir missing", [*TINY, "--data-dir", "@none"], ("data directory", "does not exist")),
    ("data dir is a file", [*TINY, "--data-dir", "@file"], ("data directory", "is a file")),
    ("data dir of another language pair", [*TINY, "--data-dir", "@fr-en"], ("holds languages ['en', 'fr']", "de->en")),
    ("data dir incomplete", [*TINY, "--data-dir", "@half"], ("neither a fairseq data-bin nor a text corpus", "valid.en")),
    ("raw dir for an experiment without a recipe", [*TINY, "--raw-dir", "@half"], ("--raw-dir", "iwslt14 has none")),
    ("raw dir and data dir", ["multi30k", "--preset", "cpu", "--dry-run", "--raw-dir", "@half", "--data-dir", "@half"],
     ("--data-dir", "--raw-dir", "not both")),
    *([] if CUDA else [
        ("fp16 without CUDA", ["iwslt14", "--preset", "tiny", "--fp16"], ("--fp16 needs CUDA",)),
        ("bf16 without CUDA", ["iwslt14", "--preset", "tiny", "--bf16"], ("--bf16 needs CUDA",)),
        ("8 GPUs on a CPU machine", ["iwslt14", "--preset", "tiny", "--gpus", "8"], ("--gpus 8 needs 8 CUDA devices",)),
    ]),
]


@pytest.mark.parametrize(("case", "argv", "fragments"), BAD_FLAGS, ids=[case[0] for case in BAD_FLAGS])
def test_bad_flags_are_refused_before_training(case: str, argv: list[str], fragments: tuple[str, ...],
                                               where: dict[str, Path], run: Callable) -> None:
    before = _files(where["root"])
    run(main, _argv(argv, where)).clean_error(*fragments)
    after = {path: text for path, text in _files(where["root"]).items()
             if path.parent != where["run"]}  # a fresh run dir may hold its first manifest
    assert after == before


# (case, file under the config dir, the text replaced -> its replacement, fragments)
BAD_CONFIGS: list[tuple[str, str, tuple[str, str], tuple[str, ...]]] = [
    ("negative warmup in the preset base", "iwslt14/tiny.yaml", ("warmup_updates: 40 ", "warmup_updates: -40 "),
     ("tiny.yaml", "lr_scheduler.warmup_updates", "got -40")),
    ("fractional warmup", "iwslt14/tiny.yaml", ("warmup_updates: 40 ", "warmup_updates: 40.5 "),
     ("lr_scheduler.warmup_updates", "got 40.5")),
    ("negative warmup init lr", "iwslt14/tiny.yaml", ("warmup_init_lr: 0.0 ", "warmup_init_lr: -0.1 "),
     ("lr_scheduler.warmup_init_lr", "got -0.1")),
    ("peak lr 0", "iwslt14/tiny.yaml", ("lr: 0.002 ", "lr: 0 "), ("train.lr", "got 0")),
    ("max tokens 0", "iwslt14/tiny.yaml", ("max_tokens: 1024 ", "max_tokens: 0 "), ("train.max_tokens", "got 0")),
    ("subset of 0 pairs", "iwslt14/tiny.yaml", ("max_train_pairs: 600 ", "max_train_pairs: 0 "),
     ("data.max_train_pairs", "got 0")),
    ("runner-owned flag", "iwslt14/tiny.yaml", ("update_freq: 1 ", "update_freq: 1\n  seed: 3 "), ("['seed']",)),
    ("knee explore ratio 2", "schedules.yaml", ("explore_ratio: 0.6 ", "explore_ratio: 2 "),
     ("schedules.yaml", "lr_scheduler.explore_ratio", "got 2")),
    ("negative end lr", "schedules.yaml", ("end_learning_rate: 0.0    # the paper decays to exactly 0\nknee_explore50",
                                           "end_learning_rate: -1.0\nknee_explore50"), ("lr_scheduler.end_learning_rate",)),
    ("cosine period 0", "schedules.yaml", ("lr_period_updates: -1 ", "lr_period_updates: 0 "),
     ("lr_scheduler.lr_period_updates", "got 0")),
    ("linear power 0", "schedules.yaml", ("power: 1.0 ", "power: 0 "), ("lr_scheduler.power", "got 0")),
    ("unknown scheduler name", "schedules.yaml", ("name: cosine", "name: cosin"), ("lr_scheduler.name", "'cosin'")),
    ("experiment.yaml not YAML", "iwslt14/experiment.yaml", ("experiment: iwslt14", "experiment: [iwslt14"), ("not valid YAML",)),
    ("unknown budget form", "iwslt14/experiment.yaml", ("tiny: [50ep, 35ep]", "tiny: [50 epochs]"), ("'50 epochs'",)),
]


@pytest.mark.parametrize(("case", "name", "change", "fragments"), BAD_CONFIGS, ids=[case[0] for case in BAD_CONFIGS])
def test_bad_config_values_fail_at_dry_run_naming_the_file_and_key(case: str, name: str, change: tuple[str, str],
                                                                   fragments: tuple[str, ...], where: dict[str, Path],
                                                                   run: Callable) -> None:
    """Every schedule's block is checked, not only Knee's: the baselines get the same flags."""
    configs = where["root"] / "configs"
    shutil.copytree(shipped_config_dir(), configs)
    path = configs / name
    assert change[0] in path.read_text(), "the shipped config changed: update this case"
    path.write_text(path.read_text().replace(change[0], change[1], 1))
    argv = [*TINY, "--config-dir", str(configs), "--schedules", "inverse_sqrt", "knee", "linear", "cosine"]
    run(main, _argv(argv, where)).clean_error(*fragments)
    assert not (where["run"] / "data").exists()


@pytest.mark.parametrize("name", ["reproduce.json", "plan.json", "result.json"])
@pytest.mark.parametrize(("case", "text", "problem"), [
    ("cut short", '{"schedule": "kn', "is damaged (not valid JSON"),
    ("empty", "", "is damaged (not valid JSON"),
    ("not an object", '["knee"]', "holds an array where an object belongs"),
    ("not UTF-8", b'{"schedule": "k\xe9"}', "is damaged"),
], ids=lambda value: value if value in ("cut short", "empty", "not an object", "not UTF-8") else None)
def test_a_damaged_state_file_names_itself_and_the_way_out(name: str, case: str, text: str | bytes, problem: str,
                                                           tmp_path: Path) -> None:
    """What the runner (plan.json before a run, result.json of a finished one), the pipeline and
    the report read; each says how to recover without losing finished runs."""
    from knee_nlp.reproduce.layout import RECOVERY, read_state
    from knee_nlp.state_files import StateFileError

    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(StateFileError) as raised:
        read_state(path)
    assert str(raised.value).startswith(f"{path} {problem}") and str(raised.value).endswith(RECOVERY[name])
