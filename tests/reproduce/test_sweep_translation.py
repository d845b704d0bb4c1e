"""``knee-nlp sweep-explore translation``: early errors, and a tiny real sweep (2 explore settings x
2 seeds) of a tiny Transformer on a slice of the real Multi30k corpus, resumed and refused."""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

import pytest

from knee_nlp.cli import main
from knee_nlp.reproduce.config import knee_schedule
from knee_nlp.reproduce.explore import read_recommendation
from knee_nlp.reproduce.scoring import fairseq_bleu
from knee_nlp.sweep.runner import load_results
from knee_nlp.state_files import StateFileError
from knee_nlp.sweep.translation import TranslationBackend, full_budget


def _text_dir(root: Path) -> Path:
    """A folder of the right shape for de-en text (empty files: enough for the early checks)."""
    root.mkdir()
    for split in ("train", "valid", "test"):
        for lang in ("de", "en"):
            (root / f"{split}.{lang}").write_text("")
    return root


def test_full_budget_is_the_largest() -> None:
    assert full_budget(("5ep", "3ep")) == "5ep" and full_budget(("30ep", "50ep", "2ep")) == "50ep"


def test_cli_rejects_bad_input_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep = tmp_path / "s"
    base = ["sweep-explore", "translation", "--sweep-dir", str(sweep)]
    text = _text_dir(tmp_path / "text")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ([], "--data-dir is required"),
        (["--data-dir", str(tmp_path / "missing")],
         r"--data-dir .*missing does not exist; prepare it with: knee-nlp data multi30k"),
        (["--data-dir", str(empty)], r"--data-dir: .*empty is neither a fairseq data-bin nor a text corpus"),
        (["--data-dir", str(text), "--preset", "huge"],
         r"--preset must be one of \['cpu', 'full'\] for multi30k, got 'huge'"),
        (["--data-dir", str(text), "--experiment", "nope"], "unknown experiment 'nope'"),
        (["--data-dir", str(text), "--seeds", "1", "1"], "--seeds must not repeat a value"),
    ]
    for flags, message in cases:
        with pytest.raises(SystemExit, match=message):
            main([*base, *flags])
    with pytest.raises(SystemExit):  # a BERT flag is not a translation flag
        main([*base, "--data-dir", str(text), "--train-file", "x.txt"])
    assert "unrecognized arguments: --train-file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--data-dir", str(text), "--explore-ratios", "1"])
    assert "--explore-ratios: must be numbers in [0, 1), got '1'" in capsys.readouterr().err
    assert not sweep.exists()


def test_help_names_both_backends(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["sweep-explore", "--help"])
    text = capsys.readouterr().out
    assert re.search(r"^ +bert +Tiny BERT", text, re.M) and re.search(r"^ +translation$", text, re.M)
    with pytest.raises(SystemExit):
        main(["sweep-explore", "translation", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--gen-subset valid" in text and "--data-dir" in text and "default multi30k" in text


@pytest.mark.slow
def test_tiny_translation_sweep_through_the_cli(multi30k_text: Path, tiny_multi30k_configs, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    """Knee at explore 0 and 0.5 x seed 1 for 8 epochs (192 updates of 512 tokens at peak LR 4e-3,
    enough for a BLEU above 0) of a 1+1-layer, 64-dim Transformer on 600 real pairs; BLEU on 40
    validation and 30 test pairs; 2 sharpness steps on 1 batch. About 70 s a run on a busy 2-core
    CPU, nearly all of it fairseq process start-ups."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    tiny_multi30k_configs(["8ep"], lr=0.004, max_tokens=512, eval_bleu=False)
    sweep = tmp_path / "sweep"
    command = ["sweep-explore", "translation", "--sweep-dir", str(sweep), "--data-dir", str(multi30k_text),
               "--sharpness-steps", "2", "--sharpness-batches", "1", "--device", "cpu", "--seeds", "1"]

    # explore 0 first; then 0 and 0.5: the finished run is reused, not trained again
    assert main([*command, "--explore-ratios", "0"]) == 0
    assert "validation = first 40 pairs of valid" in capsys.readouterr().out
    train_logs = {path: path.stat().st_mtime_ns for path in sweep.glob("runs/*/train/runs/*/train.log")}
    assert len(train_logs) == 1
    command += ["--explore-ratios", "0", "0.5"]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert out.count("already done") == 1 and out.count("finished:") == 1
    assert {path: path.stat().st_mtime_ns for path in train_logs} == train_logs

    runs = load_results(sweep)
    assert sorted((run["explore_ratio"], run["seed"]) for run in runs) == [(0.0, 1), (0.5, 1)]
    for run in runs:
        run_dir = sweep / "runs" / run["run"]
        scores = run["scores"]
        assert scores["validation_sentences"] == 40 and scores["test_sentences"] == 30
        assert all(math.isfinite(run[key]) and 0.0 < run[key] < 100.0 for key in ("validation", "test"))
        valid_log = (run_dir / "valid-generate.log").read_text()
        assert "Generate valid with beam=5" in valid_log and fairseq_bleu(valid_log) == run["validation"]
        detail = run["sharpness_detail"]
        assert run["sharpness"] >= 0.0 and detail["steps"] == 2 and detail["batch_tokens"] == 512
        # each run trained the knee schedule with its own explore fraction and seed, for the full budget
        (trained,) = (run_dir / "train/runs").glob("*/result.json")
        result = json.loads(trained.read_text())
        assert trained.parent.name == f"knee-8ep-seed{run['seed']}" and result["seed"] == run["seed"]
        assert result["lr_scheduler"]["explore_ratio"] == run["explore_ratio"]
        assert result["test"]["bleu_tokenized"] == run["test"]
        assert result["max_update"] == 8 * result["updates_per_epoch"] == scores["updates"]
        schedule = knee_schedule(result["lr_scheduler"], result["peak_lr"], result["max_update"])
        for update, lr in result["curves"]["lr"]:
            assert lr == pytest.approx(schedule(update), rel=1e-4, abs=1e-9)

    # the recommendation is the best mean validation BLEU (ties: the smaller ratio)
    means = {ratio: statistics.fmean(run["validation"] for run in runs if run["explore_ratio"] == ratio)
             for ratio in (0.0, 0.5)}
    best = max(means, key=lambda ratio: (means[ratio], -ratio))
    recommended = json.loads((sweep / "recommended.json").read_text())
    assert recommended["explore_ratio"] == best and recommended["backend"] == "translation"
    assert recommended["validation"]["mean"] == pytest.approx(means[best]) and recommended["validation"]["n"] == 1
    assert recommended["chosen_on"].startswith("validation BLEU")
    assert read_recommendation(sweep / "recommended.json", "multi30k", "cpu").ratio == best  # reproduce takes it
    assert f"recommended explore ratio {best:g}" in out
    table = (sweep / "results.md").read_text()
    assert "# Explore sweep: translation" in table and f"| {best:g} (recommended) | 1 | 1 |" in table

    settings = json.loads((sweep / "sweep.json").read_text())["settings"]["backend_settings"]
    assert (settings["experiment"], settings["preset"], settings["budget"]) == ("multi30k", "cpu", "8ep")
    assert settings["run_config"]["data"]["max_train_pairs"] == 600
    assert settings["run_config"]["lr_scheduler"]["warmup_updates"] == 4
    assert "explore_ratio" not in settings["run_config"]["lr_scheduler"]
    assert sorted(settings["data"]["sha256"]) == sorted(f"{s}.{l}" for s in ("train", "valid", "test") for l in ("de", "en"))

    # a re-run does nothing; other settings and a ratio that does not fit are refused before training
    stamps = {path: path.stat().st_mtime_ns for path in sweep.rglob("*.json")}
    assert main(command) == 0
    assert {path: path.stat().st_mtime_ns for path in sweep.rglob("*.json")} == stamps
    with pytest.raises(SystemExit, match=r"other settings(.|\n)*sharpness.steps: 2 -> 3"):
        main([*command, "--sharpness-steps", "3"])
    with pytest.raises(SystemExit, match=r"--explore-ratios 0.99 does not fit the budget of multi30k --preset "
                                         r"cpu \(8ep = 192 updates, 4 of them warmup\): allowed \[0, 0.979\]"):
        main([*command, "--explore-ratios", "0.99"])
    assert not (sweep / "runs" / "explore0.99-seed1").exists()


def test_a_damaged_run_result_is_named_with_the_way_out(tmp_path: Path) -> None:
    backend = TranslationBackend(_text_dir(tmp_path / "text"))
    run = tmp_path / "sweep/runs/explore0.5-seed1"
    (run / "train/runs/knee-5ep-seed1").mkdir(parents=True)
    assert not backend.is_trained(run)  # started, not finished
    (run / "train/runs/knee-5ep-seed1/result.json").write_text('{"test": ')  # cut short
    with pytest.raises(StateFileError, match=r"result.json is damaged .*run the same sweep command again"):
        backend.is_trained(run)
