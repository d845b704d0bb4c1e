"""``knee-nlp sweep-explore``: the article split, the report and recommendation, the sweep directory
(manifest, resume, refusal) and a tiny real sweep of the BERT launcher on WikiText-2."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from knee_nlp.cli import main
from knee_nlp.sweep.backend import RunFailed, Scores, SharpnessSettings
from knee_nlp.sweep.bert import check_override
from knee_nlp.sweep.report import recommend, summarize, write_report
from knee_nlp.sweep.runner import SweepRunsFailed, load_results, open_sweep, report, run_name, run_sweep
from knee_nlp.sweep.splits import is_title, split_by_article

REPO = Path(__file__).resolve().parents[2]


# --- the held-out split -------------------------------------------------------------------------

def test_split_by_article_on_wikitext_valid(wikitext: dict[str, Path]) -> None:
    text = wikitext["valid"].read_text(encoding="utf-8")
    split = split_by_article(text)
    assert split.validation + split.test == text
    assert (split.validation_articles, split.test_articles) == (30, 30)
    assert split.validation_first_title == "= Homarus gammarus ="
    assert is_title(split.test.splitlines()[0]) and split.test_first_title in split.test.splitlines()[0]
    assert split_by_article(text) == split  # deterministic
    assert sum(map(is_title, split.validation.splitlines())) == 30


def test_split_rules() -> None:
    assert is_title(" = A = ") and not is_title(" = = Section = = ") and not is_title("text = x")
    split = split_by_article("intro\n = A = \n a\n = = s = = \n b\n = B = \n c\n = C = \n d")
    assert (split.validation_articles, split.test_articles) == (2, 1)
    assert split.validation.startswith("intro\n") and split.test == " = C = \n d"
    with pytest.raises(ValueError, match="at least 2 articles .* found 1"):
        split_by_article(" = A = \n text\n = = s = = \n")


# --- report and recommendation ------------------------------------------------------------------

def _run(ratio: float, seed: int, validation: float, test: float, sharpness: float) -> dict[str, Any]:
    return {"run": f"explore{ratio:g}-seed{seed}", "explore_ratio": ratio, "seed": seed,
            "validation": validation, "test": test, "sharpness": sharpness,
            "sharpness_detail": {"best_step": 5, "steps": 5}}


MANIFEST = {"backend": {"name": "fake", "score_name": "accuracy", "score_format": "percent"},
            "settings": {"sharpness": {"eps": 1e-4, "steps": 50, "lr": 0.2, "batches": 4, "seed": 0}},
            "data": {"validation": "first half", "test": "second half"}}

# validation prefers 0.25, test prefers 0.5: the recommendation must follow validation
DISAGREE = [_run(0.25, 1, 0.60, 0.40, 1.0), _run(0.25, 2, 0.62, 0.42, 1.2),
            _run(0.5, 1, 0.55, 0.70, 0.8), _run(0.5, 2, 0.57, 0.72, 0.6),
            _run(0.0, 1, 0.50, 0.50, 2.0)]


def test_run_names_are_short_and_never_shared() -> None:
    assert [run_name(r, 2) for r in (0, 0.25, 0.5, 0.75)] == [
        "explore0-seed2", "explore0.25-seed2", "explore0.5-seed2", "explore0.75-seed2"]
    assert run_name(0.1234561, 1) != run_name(0.1234564, 1)  # equal to 6 significant digits


def test_recommendation_follows_validation_not_test(tmp_path: Path) -> None:
    runs = DISAGREE + [_run(0.0, 2, 0.52, 0.50, 2.2)]
    summary = summarize(runs)
    assert list(summary) == [0.0, 0.25, 0.5]
    assert summary[0.25]["validation"]["mean"] == pytest.approx(0.61)
    assert summary[0.25]["validation"]["sd"] == pytest.approx(0.0141421356)
    assert summary[0.5]["seeds"] == [1, 2]
    chosen = recommend(summary, runs, "accuracy")
    assert chosen["explore_ratio"] == 0.25 and "validation" in chosen["chosen_on"]
    assert chosen["runner_up"]["explore_ratio"] == 0.5
    # paired by seed: 0.60 - 0.55 and 0.62 - 0.57, no spread, so the margin is clear
    assert chosen["runner_up"]["validation_margin_paired"] == {"mean": pytest.approx(0.05), "se": pytest.approx(0.0),
                                                               "n": 2}
    assert chosen["notes"] == []

    write_report(tmp_path, MANIFEST, runs)
    written = json.loads((tmp_path / "recommended.json").read_text())
    assert written["explore_ratio"] == 0.25 and written["validation"]["n"] == 2
    assert written["settings"] == MANIFEST["settings"]  # reproduce --explore-from checks them
    table = (tmp_path / "results.md").read_text()
    assert "| 0.25 (recommended) | 2 | 1, 2 | 61.00% ± 1.41 | 41.00% ± 1.41 |" in table
    assert "NOTE: 50 sharpness steps, fewer than the tool's default 1000" in table
    assert json.loads((tmp_path / "results.json").read_text())["summary"]["0.5"]["test"]["mean"] == pytest.approx(0.71)
    assert (tmp_path / "explore_sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_ties_go_to_the_smaller_ratio_and_noisy_margins_are_flagged() -> None:
    # 34.00 + 34.04 and 34.02 + 34.02 have float means that differ by 7e-15: a tie
    tie = [_run(0.5, 1, 34.00, 0.1, 1.0), _run(0.5, 2, 34.04, 0.1, 1.0),
           _run(0.25, 1, 34.02, 0.9, 1.0), _run(0.25, 2, 34.02, 0.9, 1.0)]
    assert recommend(summarize(tie), tie, "BLEU")["explore_ratio"] == 0.25
    noisy = [_run(0.5, 1, 35.0, 0, 1), _run(0.5, 2, 36.0, 0, 1), _run(0.25, 1, 35.2, 0, 1), _run(0.25, 2, 35.4, 0, 1)]
    chosen = recommend(summarize(noisy), noisy, "BLEU")
    assert chosen["explore_ratio"] == 0.5 and "not clear-cut" in chosen["notes"][0]
    one_seed = [_run(0.5, 1, 35.0, 0, 1), _run(0.25, 1, 34.0, 0, 1)]
    assert "one seed" in recommend(summarize(one_seed), one_seed, "BLEU")["notes"][0]


def test_no_recommendation_from_an_unbalanced_grid(tmp_path: Path) -> None:
    write_report(tmp_path, MANIFEST, DISAGREE + [_run(0.0, 2, 0.52, 0.50, 2.2)])
    assert (tmp_path / "recommended.json").is_file()
    write_report(tmp_path, MANIFEST, DISAGREE)  # explore 0 has seed 1 only: different seeds
    assert not (tmp_path / "recommended.json").exists()  # the stale choice is gone
    assert recommend(summarize(DISAGREE), DISAGREE, "accuracy") is None
    assert ("No recommendation yet: the explore settings have finished on different seeds (0: 1; 0.25: 1, 2; "
            "0.5: 1, 2)") in (tmp_path / "results.md").read_text()
    single = [_run(0.25, 1, 0.6, 0.4, 1.0)]
    assert recommend(summarize(single), single, "accuracy") is None


# --- the sweep directory, with a fake backend ----------------------------------------------------

class FakeBackend:
    name, score_name, score_format = "fake", "accuracy", "percent"

    def __init__(self, setting: int = 1) -> None:
        self.setting, self.trained = setting, []

    def settings(self) -> dict[str, Any]:
        return {"setting": self.setting}

    def describe_data(self) -> dict[str, str]:
        return {"validation": "v", "test": "t"}

    def prepare(self, sweep_dir: Path) -> None:
        pass

    def check_ratio(self, explore_ratio: float) -> None:
        pass

    def is_trained(self, run_dir: Path) -> bool:
        return (run_dir / "trained").is_file()

    def train(self, run_dir: Path, explore_ratio: float, seed: int) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)  # the runner creates it to lock it
        (run_dir / "trained").write_text(f"{explore_ratio} {seed}")
        self.trained.append((explore_ratio, seed))

    def score(self, run_dir: Path) -> Scores:
        ratio, seed = map(float, (run_dir / "trained").read_text().split())
        return Scores(validation=0.5 - abs(ratio - 0.25) + 0.01 * seed, test=ratio, extra={})

    def sharpness(self, run_dir: Path, settings: SharpnessSettings) -> dict[str, Any]:
        return {"value": 1.0, "steps": settings.steps, "best_step": 1}


def test_sweep_directory_resumes_runs_subsets_and_refuses_other_settings(tmp_path: Path) -> None:
    sharp = SharpnessSettings(eps=1e-4, steps=3, lr=0.2, batches=1)
    backend = FakeBackend()
    chosen = run_sweep(tmp_path, backend, [0.0, 0.25], [1, 2], sharp, log=lambda _: None)
    assert backend.trained == [(0.0, 1), (0.25, 1), (0.0, 2), (0.25, 2)]  # seed by seed
    assert chosen["explore_ratio"] == 0.25
    stamp = (tmp_path / "runs" / "explore0-seed1" / "result.json").stat().st_mtime_ns
    again = FakeBackend()
    assert run_sweep(tmp_path, again, [0.0, 0.25], [1, 2], sharp, log=lambda _: None)["explore_ratio"] == 0.25
    assert again.trained == []  # nothing re-run
    assert (tmp_path / "runs" / "explore0-seed1" / "result.json").stat().st_mtime_ns == stamp
    # a subset adds to the same sweep; the report covers every finished run
    run_sweep(tmp_path, again, [0.5], [1], sharp, log=lambda _: None)
    assert again.trained == [(0.5, 1)] and len(load_results(tmp_path)) == 5
    # an interrupted run (trained, not scored) is scored without training again
    (tmp_path / "runs" / "explore0.5-seed1" / "result.json").unlink()
    (tmp_path / "runs" / "explore0.5-seed1" / "scores.json").unlink()
    third = FakeBackend()
    run_sweep(tmp_path, third, [0.5], [1], sharp, log=lambda _: None)
    assert third.trained == [] and (tmp_path / "runs" / "explore0.5-seed1" / "result.json").is_file()
    with pytest.raises(ValueError, match=r"other settings(.|\n)*sharpness.steps: 3 -> 4"):
        open_sweep(tmp_path, FakeBackend(), SharpnessSettings(eps=1e-4, steps=4, lr=0.2, batches=1))
    with pytest.raises(ValueError, match=r"backend_settings.setting: 1 -> 2"):
        open_sweep(tmp_path, FakeBackend(2), sharp)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x").write_text("")
    with pytest.raises(ValueError, match="not empty and has no sweep.json"):
        open_sweep(other, FakeBackend(), sharp)


class DivergingBackend(FakeBackend):
    """Explore 0.5 at seed 1 fails to train (until ``fixed``)."""

    fixed = False

    def train(self, run_dir: Path, explore_ratio: float, seed: int) -> None:
        if (explore_ratio, seed) == (0.5, 1) and not self.fixed:
            raise RunFailed("training explore0.5-seed1 failed (exit code 1): loss is NaN")
        super().train(run_dir, explore_ratio, seed)


def test_a_failed_run_is_recorded_and_the_others_go_on(tmp_path: Path) -> None:
    sharp = SharpnessSettings(eps=1e-4, steps=3, lr=0.2, batches=1)
    backend = DivergingBackend()
    with pytest.raises(SweepRunsFailed, match=r"1 run\(s\) failed: explore0.5-seed1 .*run the same command again"):
        run_sweep(tmp_path, backend, [0.25, 0.5], [1, 2], sharp, log=lambda _: None)
    assert backend.trained == [(0.25, 1), (0.25, 2), (0.5, 2)]  # the later seed still ran
    failed = json.loads((tmp_path / "runs" / "explore0.5-seed1" / "failed.json").read_text())
    assert failed["error"].endswith("loss is NaN") and (failed["explore_ratio"], failed["seed"]) == (0.5, 1)
    table = (tmp_path / "results.md").read_text()
    assert "- explore0.5-seed1: training explore0.5-seed1 failed (exit code 1): loss is NaN" in table
    assert "No recommendation yet: the explore settings have finished on different seeds" in table
    backend.fixed = True  # the same command retries it
    assert run_sweep(tmp_path, backend, [0.25, 0.5], [1, 2], sharp, log=lambda _: None)["explore_ratio"] == 0.25
    assert not (tmp_path / "runs" / "explore0.5-seed1" / "failed.json").exists()
    assert "Failed runs" not in (tmp_path / "results.md").read_text()


def test_runs_copied_in_count_once_and_damaged_scores_are_named(tmp_path: Path) -> None:
    sharp = SharpnessSettings(eps=1e-4, steps=3, lr=0.2, batches=1)
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    run_sweep(machine_a, FakeBackend(), [0.0, 0.25], [1], sharp, log=lambda _: None)
    run_sweep(machine_b, FakeBackend(), [0.0, 0.25], [2], sharp, log=lambda _: None)
    for run in (machine_b / "runs").iterdir():  # the documented merge: copy run folders across
        shutil.copytree(run, machine_a / "runs" / run.name)
    assert report(machine_a, "fake")["seeds"] == [1, 2]
    with pytest.raises(ValueError, match="holds a fake sweep, not a bert one"):
        report(machine_a, "bert")
    shutil.copytree(machine_b / "runs" / "explore0-seed2", machine_a / "runs" / "explore0-seed2-from-b")
    with pytest.raises(ValueError, match="result of explore0-seed2 but lies in explore0-seed2-from-b"):
        load_results(machine_a)
    shutil.rmtree(machine_a / "runs" / "explore0-seed2-from-b")
    machine_c = tmp_path / "c"  # other backend settings: its runs cannot join
    run_sweep(machine_c, FakeBackend(2), [0.5], [3], sharp, log=lambda _: None)
    shutil.copytree(machine_c / "runs" / "explore0.5-seed3", machine_a / "runs" / "explore0.5-seed3")
    with pytest.raises(ValueError, match="explore0.5-seed3/result.json was computed by a sweep with other settings"):
        load_results(machine_a)
    shutil.rmtree(machine_a / "runs" / "explore0.5-seed3")
    result = machine_a / "runs" / "explore0-seed1" / "result.json"
    result.write_text(result.read_text().replace('"sharpness": 1.0', '"sharpness": NaN'))
    with pytest.raises(ValueError, match=r"explore0-seed1/result.json: sharpness is not a finite number \(nan\)"):
        load_results(machine_a)


# --- command-line errors ---------------------------------------------------------------------------

def test_cli_rejects_bad_input_early(tmp_path: Path, wikitext: dict[str, Path],
                                     capsys: pytest.CaptureFixture) -> None:
    base = ["sweep-explore", "bert", "--sweep-dir", str(tmp_path / "s"), "--train-file", str(wikitext["train"]),
            "--validation-file", str(wikitext["valid"])]
    with pytest.raises(SystemExit):
        main([*base, "--explore-ratios", "0.5", "1.5"])
    assert "--explore-ratios: must be numbers in [0, 1), got '1.5'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--seeds", "-1"])
    assert "--seeds: must be integers in [0, 4294967295], got '-1'" in capsys.readouterr().err
    cases = [
        (["--explore-ratios", "0.95"], r"--explore-ratios 0.95 does not fit this config: phases\[0\] \(phase1\) "
         r".*warmup_steps \+ explore_steps must be <= total_steps \(300\), got 30 \+ 285 = 315"),
        (["--set", "phases.0.warmup_ratio=0.5", "--explore-ratios", "0.75"],  # overrides count too
         r"--explore-ratios 0.75 does not fit this config: .*got 150 \+ 225 = 375"),
        (["--config", str(wikitext["valid"])], "--config .*valid.txt is not a YAML file|has no phases list"),
        (["--seeds", "1", "1"], "--seeds must not repeat a value"),
        (["--sharpness-steps", "0"], "--sharpness-steps must be an integer >= 1, got 0"),
        (["--eps", "0"], "--eps must be a number > 0"),
        (["--set", "seed=3"], "--set seed is chosen by the sweep itself"),
        (["--set", "phases.1.explore_ratio=0.3"], "--set phases.1.explore_ratio is chosen by the sweep"),
        (["--set", "nonsense"], "--set must look like dotted.key=value"),
        (["--config", str(tmp_path / "none.yaml")], "--config .*none.yaml is not a file"),
    ]
    for flags, message in cases:
        with pytest.raises(SystemExit, match=message):
            main([*base, *flags])
    with pytest.raises(SystemExit, match="--train-file .*missing.txt is not a file"):
        main([*base[:5], str(tmp_path / "missing.txt"), *base[6:]])
    one = tmp_path / "one.txt"
    one.write_text(" = Only = \n text\n")
    with pytest.raises(SystemExit, match="--validation-file .*one.txt must hold at least 2 articles"):
        main([*base[:7], str(one)])
    with pytest.raises(SystemExit, match="--validation-file is required"):
        main(base[:6])
    with pytest.raises(SystemExit, match="has no sweep.json"):
        main(["sweep-explore", "bert", "--sweep-dir", str(tmp_path / "nothing"), "--report-only"])
    assert not (tmp_path / "s").exists()
    assert check_override("phases.0.total_steps=5") == "phases.0.total_steps=5"


# --- a tiny real sweep ---------------------------------------------------------------------------

@pytest.mark.slow
def test_tiny_real_sweep_through_the_cli(tmp_path: Path, wikitext: dict[str, Path],
                                         monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """2 explore settings x 2 seeds of a one-phase, 8-update BERT on WikiText-2 test.txt, scored
    on the first 6 articles of valid.txt (3 validation, 3 test)."""
    for name, value in (("OMP_NUM_THREADS", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        monkeypatch.setenv(name, value)
    raw = yaml.safe_load((REPO / "hf_integration" / "pretrain_bert" / "presets" / "tiny.yaml").read_text())
    raw["logging"].update(log_every=4, eval_every=100, save_every=100, trackers=[])
    raw["phases"] = [{**raw["phases"][0], "max_seq_length": 64, "per_device_batch_size": 8, "total_steps": 8}]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    lines = wikitext["valid"].read_text(encoding="utf-8").split("\n")
    titles = [i for i, line in enumerate(lines) if is_title(line)]
    heldout = tmp_path / "heldout.txt"
    heldout.write_text("\n".join(lines[: titles[6]]) + "\n", encoding="utf-8")
    sweep = tmp_path / "sweep"
    command = ["sweep-explore", "bert", "--sweep-dir", str(sweep), "--config", str(config),
               "--train-file", str(wikitext["train"]), "--validation-file", str(heldout),
               "--explore-ratios", "0", "0.5", "--seeds", "1", "2",
               "--sharpness-steps", "2", "--sharpness-batches", "1", "--device", "cpu"]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "first 3 articles of heldout.txt" in out and "NOTE: sharpness with 2 ascent steps" in out
    runs = load_results(sweep)
    assert sorted((r["explore_ratio"], r["seed"]) for r in runs) == [(0.0, 1), (0.0, 2), (0.5, 1), (0.5, 2)]
    for run in runs:
        assert 0.0 < run["validation"] < 1.0 and 0.0 < run["test"] < 1.0 and run["sharpness"] >= 0.0
        assert run["sharpness_detail"]["steps"] == 2 and run["scores"]["test_masked_tokens"] > 100
        assert run["scores"]["validation_step"] == 8
    train = json.loads((sweep / "runs" / "explore0.5-seed2" / "command.json").read_text())
    assert "phases.0.explore_ratio=0.5" in train and "seed=2" in train and "schedule=knee" in train
    assert (sweep / "data" / "validation.txt").read_text() + (sweep / "data" / "test.txt").read_text() \
        == heldout.read_text()
    recommended = json.loads((sweep / "recommended.json").read_text())
    best = max((0.0, 0.5), key=lambda r: (sum(x["validation"] for x in runs if x["explore_ratio"] == r), -r))
    assert recommended["explore_ratio"] == best and recommended["validation"]["n"] == 2
    assert f"recommended explore ratio {best:g}" in out
    for name in ("results.md", "results.json", "explore_sweep.png", "sweep.json"):
        assert (sweep / name).is_file()
    # a re-run does nothing: no file is rewritten
    stamps = {p: p.stat().st_mtime_ns for p in sweep.rglob("*.json")}
    assert main(command) == 0
    assert "already done" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in sweep.rglob("*.json")} == stamps
    with pytest.raises(SystemExit, match=r"other settings(.|\n)*sharpness.steps: 2 -> 3"):
        main([*command, "--sharpness-steps", "3"])
    assert main(["sweep-explore", "bert", "--sweep-dir", str(sweep), "--report-only"]) == 0
