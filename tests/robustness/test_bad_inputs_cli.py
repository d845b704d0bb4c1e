"""Bad and edge inputs of ``knee-nlp plot``, ``knee-nlp report``, ``knee-nlp sharpness`` and the
fairseq flags of ``--lr-scheduler knee`` (through ``knee-fairseq-train``'s own option parsing).

Each is a clean ``error:`` naming the flag and the value, before any file is written; a few edge
inputs are accepted as documented.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from knee_nlp.cli import main

PLOT = ["plot", "--peak-lr", "1e-3", "--total-steps", "100"]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "file").write_text("x\n")
    (tmp_path / "mine.png").write_bytes(b"mine")
    (tmp_path / "lr.png").write_bytes(b"mine")
    (tmp_path / "dir").mkdir()
    return {"root": tmp_path, "file": tmp_path / "file", "dir": tmp_path / "dir"}


def _fill(argv: list[str], paths: dict[str, Path]) -> list[str]:
    return [str(paths["root"] / arg[1:]) if arg.startswith("@") else arg for arg in argv]


# (case, argv after ``knee-nlp`` (``@name`` is a path in the test's folder), message fragments)
BAD_PLOT: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("total 0", ["plot", "--peak-lr", "1", "--total-steps", "0", "-o", "@a.png"], ("total_steps", "got 0")),
    ("total not a number", ["plot", "--peak-lr", "1", "--total-steps", "ten"], ("--total-steps", "'ten'")),
    ("peak missing", ["plot", "--total-steps", "10"], ("--peak-lr",)),
    ("peak 0", ["plot", "--peak-lr", "0", "--total-steps", "10", "-o", "@a.png"], ("peak_lr", "got 0.0")),
    ("peak nan", ["plot", "--peak-lr", "nan", "--total-steps", "10", "-o", "@a.png"], ("peak_lr", "got nan")),
    ("peak inf", ["plot", "--peak-lr", "inf", "--total-steps", "10", "-o", "@a.png"], ("peak_lr", "got inf")),
    ("warmup -1", [*PLOT, "--warmup-steps", "-1", "-o", "@a.png"], ("warmup_steps", "got -1")),
    ("warmup + explore over budget", [*PLOT, "--warmup-steps", "60", "-o", "@a.png"], ("warmup_steps + explore_steps",)),
    ("explore ratio 2", [*PLOT, "--explore-ratio", "2", "-o", "@a.png"], ("explore_ratio", "got 2.0")),
    ("explore steps -3", [*PLOT, "--explore-steps", "-3", "-o", "@a.png"], ("explore_steps", "got -3")),
    ("explore twice", [*PLOT, "--explore-ratio", "0.5", "--explore-steps", "2"], ("--explore-steps", "--explore-ratio")),
    ("end lr above peak", [*PLOT, "--end-lr", "1", "-o", "@a.png"], ("end_lr", "got 1.0")),
    ("init lr negative", [*PLOT, "--warmup-init-lr", "-1", "-o", "@a.png"], ("warmup_init_lr", "got -1.0")),
    ("unknown baseline", [*PLOT, "--baselines", "step"], ("--baselines", "'step'")),
    ("output without suffix guards lr.png", [*PLOT, "-o", "@lr"], ("lr.png already exists",)),
    ("output exists", [*PLOT, "-o", "@mine.png"], ("mine.png already exists", "--overwrite")),
    ("output not png", [*PLOT, "-o", "@a.jpg"], ("--output must be a .png file", "a.jpg")),
    ("output is a directory", [*PLOT, "-o", "@dir"], ("--output", "is a directory")),
    ("output under a file", [*PLOT, "-o", "@file/a.png"], ("--output", "is a file")),
    ("report of a missing dir", ["report", "@nowhere"], ("not a knee-nlp reproduce run directory",)),
    ("report of a file", ["report", "@file"], ("not a knee-nlp reproduce run directory",)),
    ("report of an empty run dir", ["report", "@empty-run"], ("has no finished run yet",)),
    ("report with a truncated reproduce.json", ["report", "@cut-run"], ("reproduce.json", "damaged")),
    ("report with a truncated result.json", ["report", "@cut-result"], ("result.json", "damaged")),
    ("sharpness: checkpoint missing", ["sharpness", "fairseq", "@no.pt", "@dir", "-o", "@s.json"],
     ("checkpoint", "no.pt is not a file")),
    ("sharpness: checkpoint not a checkpoint", ["sharpness", "fairseq", "@file", "@dir", "-o", "@s.json"],
     ("checkpoint", "cannot be loaded as a fairseq checkpoint")),
    ("sharpness: data not a directory", ["sharpness", "fairseq", "@file", "@file", "-o", "@s.json"], ("data", "not a directory")),
    ("sharpness: model dir missing", ["sharpness", "hf", "@nomodel", "@file", "-o", "@s.json"], ("model_dir", "no config.json")),
    ("sharpness: model dir damaged", ["sharpness", "hf", "@broken-model", "@file", "-o", "@s.json"],
     ("model_dir", "cannot be loaded")),
    ("sharpness: eps -1", ["sharpness", "hf", "@dir", "@file", "--eps", "-1", "-o", "@s.json"], ("--eps", "got -1.0")),
    ("sharpness: eps nan", ["sharpness", "hf", "@dir", "@file", "--eps", "nan", "-o", "@s.json"], ("--eps", "got nan")),
    ("sharpness: steps 0", ["sharpness", "hf", "@dir", "@file", "--steps", "0", "-o", "@s.json"], ("--steps", "got 0")),
    ("sharpness: lr 0", ["sharpness", "hf", "@dir", "@file", "--lr", "0", "-o", "@s.json"], ("--lr", "got 0.0")),
    ("sharpness: max batches 0", ["sharpness", "hf", "@dir", "@file", "--max-batches", "0", "-o", "@s.json"],
     ("--max-batches", "got 0")),
    ("sharpness: subspace -1", ["sharpness", "hf", "@dir", "@file", "--subspace-dim", "-1", "-o", "@s.json"],
     ("--subspace-dim", "got -1")),
    ("sharpness: seed -1", ["sharpness", "hf", "@dir", "@file", "--seed", "-1", "-o", "@s.json"], ("--seed", "got -1")),
    ("sharpness: masking 0", ["sharpness", "hf", "@dir", "@file", "--mlm-probability", "0", "-o", "@s.json"],
     ("--mlm-probability", "(0, 1]", "got 0.0")),
    ("sharpness: batch size 0", ["sharpness", "hf", "@dir", "@file", "--batch-size", "0", "-o", "@s.json"],
     ("--batch-size", "got 0")),
    ("sharpness: sequence 2", ["sharpness", "hf", "@dir", "@file", "--max-seq-length", "2", "-o", "@s.json"],
     ("--max-seq-length", "got 2")),
    ("sharpness: max tokens 0", ["sharpness", "fairseq", "@file", "@dir", "--max-tokens", "0", "-o", "@s.json"],
     ("--max-tokens", "got 0")),
    ("sharpness: device unknown", ["sharpness", "hf", "@dir", "@file", "--device", "tpu", "-o", "@s.json"],
     ("--device", "'tpu'")),
    ("sharpness: output exists", ["sharpness", "hf", "@dir", "@file", "-o", "@mine.png"], ("already exists",)),
    ("sharpness: output under a file", ["sharpness", "hf", "@dir", "@file", "-o", "@file/s.json"], ("--output", "is a file")),
    ("sharpness: output a directory", ["sharpness", "hf", "@dir", "@file", "-o", "@dir"], ("--output", "is a directory")),
]


@pytest.fixture
def run_dirs(paths: dict[str, Path]) -> None:
    """Run directories for ``report``: empty, with a cut-off manifest, with a cut-off result."""
    root = paths["root"]
    manifest = json.dumps({"experiment": "iwslt14", "preset": "tiny"})
    for name in ("empty-run", "cut-result"):
        (root / name).mkdir()
        (root / name / "reproduce.json").write_text(manifest)
    (root / "cut-run").mkdir()
    (root / "cut-run" / "reproduce.json").write_text(manifest[:20])
    (root / "cut-result" / "runs" / "knee-50ep-seed1").mkdir(parents=True)
    (root / "cut-result" / "runs" / "knee-50ep-seed1" / "result.json").write_text('{"schedule": "kn')
    (root / "broken-model").mkdir()
    (root / "broken-model" / "config.json").write_text('{"model_type": "bert", "vocab')


@pytest.mark.parametrize(("case", "argv", "fragments"), BAD_PLOT, ids=[case[0] for case in BAD_PLOT])
def test_bad_plot_report_and_sharpness_input_is_a_clean_error(case: str, argv: list[str], fragments: tuple[str, ...],
                                                              paths: dict[str, Path], run_dirs: None,
                                                              run: Callable) -> None:
    before = {path: path.read_bytes() for path in paths["root"].rglob("*") if path.is_file()}
    run(main, _fill(argv, paths)).clean_error(*fragments)
    after = {path: path.read_bytes() for path in paths["root"].rglob("*") if path.is_file()}
    assert after == before, "an error must leave every file as it was"


@pytest.mark.parametrize(("case", "argv", "written"), [
    ("a name without suffix writes .png", [*PLOT, "-o", "@knee"], "knee.png"),
    ("upper-case suffix", [*PLOT, "-o", "@KNEE.PNG"], "KNEE.PNG"),
    ("no baselines", [*PLOT, "--baselines", "-o", "@only.png"], "only.png"),
    ("overwrite replaces", [*PLOT, "-o", "@mine.png", "--overwrite"], "mine.png"),
    ("a budget of 10^10 updates is drawn from a sample", ["plot", "--peak-lr", "1", "--total-steps", "10000000000",
                                                          "-o", "@huge.png"], "huge.png"),
], ids=lambda value: value if isinstance(value, str) and " " in value else "")
def test_plot_edge_inputs_are_accepted(case: str, argv: list[str], written: str, paths: dict[str, Path],
                                       run: Callable) -> None:
    output = run(main, _fill(argv, paths)).accepted()
    assert f"wrote {paths['root'] / written}" in output
    assert (paths["root"] / written).read_bytes()[:4] == b"\x89PNG"


# --------------------------------------------------------------------------------------------
# fairseq: ``--lr-scheduler knee`` flags through fairseq's own parser (knee-fairseq-train)
# --------------------------------------------------------------------------------------------

FAIRSEQ = ["unused-data-bin", "--arch", "transformer_iwslt_de_en", "--optimizer", "adam", "--max-tokens", "64",
           "--lr-scheduler", "knee", "--max-update", "100"]

BAD_FAIRSEQ: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("explore ratio 2", ["--lr", "1e-3", "--explore-ratio", "2"], ("--explore-ratio", "got 2.0")),
    ("explore ratio nan", ["--lr", "1e-3", "--explore-ratio", "nan"], ("--explore-ratio", "got nan")),
    ("explore ratio not a number", ["--lr", "1e-3", "--explore-ratio", "half"], ("--explore-ratio", "'half'")),
    ("explore updates -1", ["--lr", "1e-3", "--explore-updates", "-1"], ("--explore-updates", "got -1")),
    ("explore updates 1.5", ["--lr", "1e-3", "--explore-updates", "1.5"], ("--explore-updates", "'1.5'")),
    ("explore twice (even agreeing)", ["--lr", "1e-3", "--explore-updates", "50", "--explore-ratio", "0.5"],
     ("--explore-updates (50)", "--explore-ratio (0.5)", "not both")),
    ("warmup -5", ["--lr", "1e-3", "--warmup-updates", "-5"], ("--warmup-updates", "got -5")),
    ("warmup over the budget", ["--lr", "1e-3", "--warmup-updates", "200", "--explore-updates", "0"],
     ("--warmup-updates + --explore-updates", "(100)", "200 + 0")),
    ("warmup + explore over the budget", ["--lr", "1e-3", "--warmup-updates", "60", "--explore-ratio", "0.5"],
     ("60 + 50 = 110",)),
    ("lr 0", ["--lr", "0"], ("--lr", "got 0.0")),
    ("lr negative", ["--lr=-1e-3"], ("--lr", "got -0.001")),
    ("two lrs", ["--lr", "1e-3,2e-3"], ("--lr takes exactly one value", "[0.001, 0.002]")),
    ("lr not a number", ["--lr", "fast"], ("--lr", "'fast'")),
    ("warmup init lr above the peak", ["--lr", "1e-3", "--warmup-init-lr", "1"], ("--warmup-init-lr", "--lr=0.001", "got 1.0")),
    ("end lr above the peak", ["--lr", "1e-3", "--end-learning-rate", "1"], ("--end-learning-rate", "got 1.0")),
    ("end lr negative", ["--lr", "1e-3", "--end-learning-rate", "-1"], ("--end-learning-rate", "got -1.0")),
    ("total updates 0", ["--lr", "1e-3", "--total-num-update", "0"], ("--total-num-update", "got 0")),
    ("total updates -5", ["--lr", "1e-3", "--total-num-update", "-5"], ("--total-num-update", "got -5")),
    ("total updates 2.5", ["--lr", "1e-3", "--total-num-update", "2.5"], ("--total-num-update", "invalid int value", "'2.5'")),
    ("total updates text", ["--lr", "1e-3", "--total-num-update", "abc"], ("--total-num-update", "invalid int value")),
    ("misspelt knee flag", ["--lr", "1e-3", "--explore-rato", "0.5"], ("unrecognized arguments", "--explore-rato")),
]


@pytest.mark.parametrize(("case", "flags", "fragments"), BAD_FAIRSEQ, ids=[case[0] for case in BAD_FAIRSEQ])
def test_bad_knee_flags_stop_fairseq_train_before_any_data_is_read(case: str, flags: list[str],
                                                                   fragments: tuple[str, ...], run: Callable) -> None:
    from fairseq_plugin.cli import train

    outcome = run(train, [*FAIRSEQ, *flags])
    assert outcome.status == 2
    outcome.clean_error(*fragments)


def test_no_horizon_is_an_error_and_an_explicit_one_is_accepted(run: Callable) -> None:
    from fairseq_plugin.cli import check_knee_arguments, train

    bare = [arg for arg in FAIRSEQ if arg not in ("--max-update", "100")]
    run(train, [*bare, "--lr", "1e-3"]).clean_error("no training horizon", "--max-update")
    check_knee_arguments([*bare, "--lr", "1e-3", "--total-num-update", "50"])  # accepted: no exception


# --------------------------------------------------------------------------------------------
# knee-nlp sweep-explore bert | translation: refused before any run trains
# --------------------------------------------------------------------------------------------

@pytest.fixture
def sweep_files(paths: dict[str, Path]) -> None:
    root = paths["root"]
    (root / "train.txt").write_text(" = A = \n" + "the cat sat on the mat .\n" * 40)
    (root / "valid.txt").write_text(" = B = \n" + "a dog ran .\n" * 20 + " = C = \n" + "a bird flew .\n" * 20)
    (root / "latin1.txt").write_bytes(" = B = \nein Stück Käse\n = C = \nx\n".encode("latin-1"))
    (root / "cut-sweep").mkdir()
    (root / "cut-sweep" / "sweep.json").write_text('{"settings": {"back')


BERT = ["sweep-explore", "bert", "--sweep-dir", "@sweep", "--train-file", "@train.txt", "--validation-file", "@valid.txt"]
TRANSLATION = ["sweep-explore", "translation", "--sweep-dir", "@sweep"]

BAD_SWEEP: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("bert: no training file", ["sweep-explore", "bert", "--sweep-dir", "@sweep"], ("--train-file is required",)),
    ("bert: explore ratio 1", [*BERT, "--explore-ratios", "1"], ("--explore-ratios", "[0, 1)", "'1'")),
    ("bert: explore ratio negative", [*BERT, "--explore-ratios=-0.1"], ("--explore-ratios", "'-0.1'")),
    ("bert: explore ratio not a number", [*BERT, "--explore-ratios", "half"], ("--explore-ratios", "'half'")),
    ("bert: explore ratio repeated", [*BERT, "--explore-ratios", "0.5", "0.5"], ("--explore-ratios must not repeat",)),
    ("bert: explore leaves no room for warmup", [*BERT, "--explore-ratios", "0.99"], ("--explore-ratios 0.99 does not fit this config", "warmup_steps + explore_steps")),
    ("bert: seed negative", [*BERT, "--seeds=-1"], ("--seeds", "'-1'")),
    ("bert: seed beyond 2^32", [*BERT, "--seeds", "99999999999"], ("--seeds", "4294967295")),
    ("bert: seed repeated", [*BERT, "--seeds", "1", "1"], ("--seeds must not repeat",)),
    ("bert: sharpness steps 0", [*BERT, "--sharpness-steps", "0"], ("--sharpness-steps", "got 0")),
    ("bert: sharpness batches 0", [*BERT, "--sharpness-batches", "0"], ("--sharpness-batches", "got 0")),
    ("bert: sharpness lr nan", [*BERT, "--sharpness-lr", "nan"], ("--sharpness-lr", "got nan")),
    ("bert: eps negative", [*BERT, "--eps", "-1"], ("--eps", "got -1")),
    ("bert: training file missing", [*BERT[:4], "--train-file", "@none.txt", "--validation-file", "@valid.txt"],
     ("--train-file", "none.txt is not a file")),
    ("bert: held-out file is the training file", [*BERT[:4], "--train-file", "@train.txt", "--validation-file", "@train.txt"],
     ("--validation-file must not be the --train-file",)),
    ("bert: held-out file not UTF-8", [*BERT[:4], "--train-file", "@train.txt", "--validation-file", "@latin1.txt"],
     ("latin1.txt, line 2", "not UTF-8")),
    ("bert: config missing", [*BERT, "--config", "@none.yaml"], ("--config", "none.yaml is not a file")),
    ("bert: misspelt launcher key", [*BERT, "--set", "model.hiden_size=64"], ("unknown key(s) ['hiden_size'] in model",)),
    ("bert: launcher value out of range", [*BERT, "--set", "data.mlm_probability=0"], ("data.mlm_probability", "got 0")),
    ("bert: a key the sweep sets", [*BERT, "--set", "seed=3"], ("--set seed is chosen by the sweep itself",)),
    ("bert: override without '='", [*BERT, "--set", "seedless"], ("--set must look like dotted.key=value",)),
    ("bert: device unknown", [*BERT, "--device", "tpu"], ("--device", "'tpu'")),
    ("bert: sweep dir is a file", [*BERT[:2], "--sweep-dir", "@file", *BERT[4:]], ("--sweep-dir", "is a file, not a directory")),
    ("bert: sweep dir under a file", [*BERT[:2], "--sweep-dir", "@file/sweep", *BERT[4:]], ("--sweep-dir", "is a file")),
    ("bert: report of an empty folder", ["sweep-explore", "bert", "--sweep-dir", "@dir", "--report-only"],
     ("has no sweep.json",)),
    ("bert: report with a damaged sweep.json", ["sweep-explore", "bert", "--sweep-dir", "@cut-sweep", "--report-only"],
     ("sweep.json is damaged", "new --sweep-dir")),
    ("bert: resume with a damaged sweep.json", [*BERT[:2], "--sweep-dir", "@cut-sweep", *BERT[4:]], ("sweep.json is damaged",)),
    ("translation: no data dir", TRANSLATION, ("--data-dir is required",)),
    ("translation: data dir missing", [*TRANSLATION, "--data-dir", "@none"], ("--data-dir", "does not exist")),
    ("translation: data dir is a file", [*TRANSLATION, "--data-dir", "@file"], ("--data-dir", "is a file, not a directory")),
    ("translation: experiment unknown", [*TRANSLATION, "--data-dir", "@dir", "--experiment", "iwslt15"],
     ("unknown experiment 'iwslt15'",)),
    ("translation: preset unknown", [*TRANSLATION, "--data-dir", "@dir", "--preset", "huge"], ("--preset", "'huge'")),
    ("translation: explore ratio 1", [*TRANSLATION, "--data-dir", "@dir", "--explore-ratios", "1"], ("--explore-ratios", "'1'")),
]


@pytest.mark.parametrize(("case", "argv", "fragments"), BAD_SWEEP, ids=[case[0] for case in BAD_SWEEP])
def test_bad_sweep_input_is_refused_before_any_run(case: str, argv: list[str], fragments: tuple[str, ...],
                                                   paths: dict[str, Path], sweep_files: None, run: Callable) -> None:
    run(main, _fill(argv, paths)).clean_error(*fragments)
    assert not (paths["root"] / "sweep" / "runs").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
@pytest.mark.parametrize(("case", "argv", "fragment"), [
    ("plot into a read-only folder", [*PLOT, "-o", "@read-only/a.png"], "--output's folder"),
    ("reproduce into a read-only folder", ["reproduce", "iwslt14", "--preset", "tiny", "--dry-run", "--run-dir",
                                           "@read-only/run"], "--run-dir"),
    ("data into a read-only folder", ["data", "iwslt14", "--raw-dir", "@dir", "--output-dir", "@read-only/out"],
     "--output-dir"),
], ids=lambda value: value if isinstance(value, str) and value.endswith("folder") else "")
def test_a_read_only_output_folder_is_named(case: str, argv: list[str], fragment: str, paths: dict[str, Path],
                                            run: Callable) -> None:
    folder = paths["root"] / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        run(main, _fill(argv, paths)).clean_error(fragment, "is not writable")
    finally:
        folder.chmod(0o700)
