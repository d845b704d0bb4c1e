"""CPU pre-check of the one-shot GPU check (``bench/gpu_check.sh``, ``bench/gpu_check.py``).

Its parsers and checkers are pure functions: here they read synthetic logs (fairseq with
overflows, a gap, a duplicate, a wrong LR; Trainer traces with and without skipped steps; the
BERT launcher's metrics). The shell script's ``--help`` and ``--check-only`` (inputs and plan, no
CUDA) run on a fake bundle.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from knee_nlp.schedule import KneeSchedule

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu_check.sh"
_spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
gpu_check = sys.modules.setdefault("gpu_check", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(gpu_check)

FAIRSEQ_CORE = KneeSchedule(peak_lr=1e-3, total_steps=20, warmup_steps=4, explore_ratio=0.5)
TRAINER_CORE = KneeSchedule(peak_lr=1e-3, total_steps=12, warmup_steps=2, explore_ratio=0.25)


def fairseq_log(updates: list[int], overflow_after: tuple[int, ...] = (0, 7, 15),
                lr: dict[int, str] | None = None) -> str:
    """fairseq-train's output: one ``train_inner`` record per update, an overflow note before
    update 1 (after 0) and after the updates in ``overflow_after``."""
    lines = ["2026-12-01 10:00:00 | INFO | fairseq_cli.train | task: TranslationTask"]
    note = ("2026-12-01 10:00:01 | INFO | fairseq.trainer | NOTE: gradient overflow detected, "
            "ignoring gradient, setting loss scale to: 512.0")
    lines += [note] * overflow_after.count(0)
    for index, update in enumerate(updates):
        record = {"epoch": 1, "update": round(update / 100, 3), "loss": f"{10 - index * 0.1:.3f}",
                  "lr": (lr or {}).get(update, f"{FAIRSEQ_CORE(update):g}"), "num_updates": str(update)}
        lines.append(f"2026-12-01 10:00:02 | INFO | train_inner | {json.dumps(record)}")
        lines += [note] * (update in overflow_after)
    lines.append('2026-12-01 10:00:09 | INFO | train | {"epoch": 1, "lr": "0", "num_updates": "20"}')
    return "\n".join(lines) + "\n"


def test_fairseq_log_with_overflows_during_training_passes():
    log = gpu_check.parse_fairseq_log(fairseq_log(list(range(1, 21))))
    assert (log.overflows_before, log.overflows_during) == (1, 2)
    assert log.updates == list(range(1, 21))  # the epoch summary is not an update record
    verdict = gpu_check.check_fairseq_log(log, FAIRSEQ_CORE)
    assert "1 overflows before update 1 and 2 during training" in verdict


@pytest.mark.parametrize(("updates", "problem"), [
    ([n for n in range(1, 21) if n != 9], "record #9 is 10, expected 9; 19 records, missing [9]"),
    ([*range(1, 10), 9, *range(10, 21)], "record #10 is 9, expected 10; 21 records, missing none, repeated [9]"),
    (list(range(1, 20)), "record #20 is end of log, expected 20"),
])
def test_fairseq_log_with_a_gap_or_a_duplicate_fails(updates, problem):
    with pytest.raises(gpu_check.CheckFailed, match="not 1..20 once each") as failure:
        gpu_check.check_fairseq_log(gpu_check.parse_fairseq_log(fairseq_log(updates)), FAIRSEQ_CORE)
    assert problem in str(failure.value)


def test_fairseq_log_with_a_wrong_lr_fails():
    text = fairseq_log(list(range(1, 21)), lr={16: f"{FAIRSEQ_CORE(15):g}"})  # lr(k-1), in the decay
    with pytest.raises(gpu_check.CheckFailed, match=r"update 16: logged lr 0\.000833333, core 0\.000666667"):
        gpu_check.check_fairseq_log(gpu_check.parse_fairseq_log(text), FAIRSEQ_CORE)


def test_fairseq_log_whose_overflows_all_precede_update_1_fails():
    text = fairseq_log(list(range(1, 21)), overflow_after=(0, 0, 0))
    with pytest.raises(gpu_check.CheckFailed, match=r"no gradient overflow after update 1 \(3 before it\)"):
        gpu_check.check_fairseq_log(gpu_check.parse_fairseq_log(text), FAIRSEQ_CORE)


def test_trainer_bf16_trace_is_the_core_read_one_update_earlier():
    logged = [TRAINER_CORE(k) for k in range(12)]
    assert "12 logged LRs" in gpu_check.check_trainer_trace(logged, TRAINER_CORE, [], "bf16")
    shifted = [TRAINER_CORE(k) for k in range(1, 13)]  # lr(k) for step k: fairseq's convention
    with pytest.raises(gpu_check.CheckFailed,
                       match=r"step 1: logged learning_rate 0\.0005, expected core\(0\) = 0\.0"):
        gpu_check.check_trainer_trace(shifted, TRAINER_CORE, [], "bf16")
    with pytest.raises(gpu_check.CheckFailed, match="bf16 skipped steps"):
        gpu_check.check_trainer_trace(logged, TRAINER_CORE, [3], "bf16")


def test_trainer_fp16_trace_repeats_the_lr_after_each_skipped_step():
    skipped = [1, 2, 9]
    # steps 1, 2 skipped: steps 1-3 use lr(0); step 9 skipped: step 10 uses lr(6) again
    expected = gpu_check.expected_trainer_lrs(TRAINER_CORE, 12, skipped)
    assert expected == [TRAINER_CORE(k) for k in (0, 0, 0, 1, 2, 3, 4, 5, 6, 6, 7, 8)]
    verdict = gpu_check.check_trainer_trace(expected, TRAINER_CORE, skipped, "fp16")
    assert "3 steps skipped [1, 2, 9], the next step repeated the LR after 3 of them" in verdict


def test_trainer_fp16_trace_that_advanced_on_a_skipped_step_fails():
    advanced = [TRAINER_CORE(k) for k in (0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)]  # moved on at step 10
    with pytest.raises(gpu_check.CheckFailed, match=r"step 10: logged learning_rate .*, expected core\(6\)"):
        gpu_check.check_trainer_trace(advanced, TRAINER_CORE, [1, 2, 9], "fp16")


@pytest.mark.parametrize("skipped", [[], [1, 2]])
def test_trainer_fp16_without_a_skip_during_training_fails(skipped):
    trace = gpu_check.expected_trainer_lrs(TRAINER_CORE, 12, skipped)
    with pytest.raises(gpu_check.CheckFailed, match="none after the first applied update"):
        gpu_check.check_trainer_trace(trace, TRAINER_CORE, skipped, "fp16")


def bert_metrics(schedules: dict[str, KneeSchedule], wrong: tuple[str, int] | None = None) -> str:
    records = []
    for phase, core in schedules.items():
        for step in range(1, core.total_steps + 1):
            lr = core(step) * (1.01 if (phase, step) == wrong else 1)
            records.append({"step": step, f"{phase}/lr": lr, f"{phase}/skipped_updates": 0,
                            f"{phase}/train_loss": 7.0})
        records.append({"step": core.total_steps, f"{phase}/eval_loss": 6.5})
    return "\n".join(json.dumps(record) for record in records) + "\n"


BERT = {"phase1": KneeSchedule(peak_lr=5e-3, total_steps=10, warmup_steps=1, explore_ratio=0.5),
        "phase2": KneeSchedule(peak_lr=2.5e-3, total_steps=4, warmup_steps=1, explore_ratio=0.5)}
LAUNCHER = "starting runs/x: schedule knee, optimizer lamb, 1 process(es), mixed precision bf16\n"


def test_bert_run_logging_the_core_lr_at_every_update_passes():
    verdict = gpu_check.check_bert_run(LAUNCHER, bert_metrics(BERT), BERT)
    assert "phase1 1..10, phase2 1..4" in verdict


def test_bert_run_with_a_wrong_lr_or_without_bf16_fails():
    with pytest.raises(gpu_check.CheckFailed, match="phase2 step 3: logged lr"):
        gpu_check.check_bert_run(LAUNCHER, bert_metrics(BERT, wrong=("phase2", 3)), BERT)
    with pytest.raises(gpu_check.CheckFailed, match="mixed precision bf16"):
        gpu_check.check_bert_run(LAUNCHER.replace("bf16", "no"), bert_metrics(BERT), BERT)


def test_summary_fails_when_any_step_did_not_pass():
    steps = [{"step": "cuda", "status": "pass", "wall_s": 1.0, "log": "setup.log"},
             {"step": "bert_bf16", "status": "timeout", "wall_s": 180.0, "log": "bert_bf16.log"}]
    results = {"bert_bf16": {"peak_cuda_memory_bytes": 123}}
    document = gpu_check.build_summary(steps, results, {"gpu": "NVIDIA H200"})
    assert (document["result"], document["not_passed"], document["gpu"]) == ("fail", ["bert_bf16"], "NVIDIA H200")
    assert document["steps"][1]["peak_cuda_memory_bytes"] == 123
    assert gpu_check.build_summary(steps[:1], {}, {})["result"] == "pass"


def fake_bundle(root: Path) -> Path:
    """A bundle with the right file names (empty wheels: nothing is installed) and checksums."""
    bundle = root / "bundle"
    (bundle / "wheels").mkdir(parents=True)
    for dist in gpu_check.BUNDLED:
        (bundle / "wheels" / f"{dist.replace('-', '_')}-1.0-py3-none-any.whl").write_bytes(b"")
    for relative in gpu_check.BUNDLED_DATA:
        (bundle / relative).parent.mkdir(parents=True, exist_ok=True)
        (bundle / relative).write_text(f"{relative}\n")
    files = sorted(path for path in bundle.rglob("*") if path.is_file())
    (bundle / "SHA256SUMS").write_text("".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(bundle)}\n" for path in files))
    return bundle


def test_bundle_problems_name_what_is_missing_or_damaged(tmp_path):
    bundle = fake_bundle(tmp_path)
    assert gpu_check.bundle_problems(bundle) == []
    (bundle / "wheels" / "datasets-1.0-py3-none-any.whl").unlink()
    (bundle / "wheels" / "numpy-2.0-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"")
    (bundle / "wikitext-2" / "tokens" / "valid.txt").write_text("cut short")
    problems = "\n".join(gpu_check.bundle_problems(bundle))
    assert "numpy-2.0-cp311-cp311-manylinux_2_17_x86_64.whl: not for CPython 3.12" in problems
    assert "0 wheels of datasets (need exactly one)" in problems
    assert "wheels/datasets-1.0-py3-none-any.whl: listed in SHA256SUMS but missing" in problems
    assert "valid.txt: SHA-256 differs from SHA256SUMS" in problems


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("OUT", None)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)


def test_help_describes_the_run():
    done = run_script("--help")
    assert done.returncode == 0, done.stderr
    assert "--check-only" in done.stdout and 'carry=[".gpu_bundle"], timeout_s=540' in done.stdout


def test_check_only_checks_the_inputs_and_prints_the_plan_without_cuda(tmp_path):
    bundle = fake_bundle(tmp_path)
    done = run_script("--check-only", "--bundle", str(bundle), "--work", str(tmp_path / "work"))
    assert done.returncode == 0, done.stdout + done.stderr
    for step in ("install", "imports", "cuda", "fairseq_fp16", "trainer_bf16", "trainer_fp16", "bert_bf16"):
        assert f"  {step} " in done.stdout
    assert "multi30k_full" not in done.stdout and not (tmp_path / "work").exists()
    assert 'run(command=\'bash bench/gpu_check.sh --out "$OUT"\', carry=[".gpu_bundle"]' in done.stdout
    assert "multi30k_full" in run_script("--check-only", "--bundle", str(bundle), "--with-multi30k-full").stdout


def test_check_only_stops_on_a_missing_input(tmp_path):
    bundle = fake_bundle(tmp_path)
    (bundle / "multi30k" / "data-bin" / "dict.de.txt").unlink()
    done = run_script("--check-only", "--bundle", str(bundle))
    assert done.returncode == 2
    assert "dict.de.txt: missing or empty" in done.stderr


def test_a_run_out_of_time_records_every_step_then_fails(tmp_path):
    out = tmp_path / "out"
    done = run_script("--bundle", str(fake_bundle(tmp_path)), "--work", str(tmp_path / "work"),
                      "--out", str(out), "--budget-s", "0")
    assert done.returncode == 1, done.stdout + done.stderr
    document = json.loads((out / "summary.json").read_text())
    assert [(row["step"], row["status"], row.get("reason")) for row in document["steps"]] == [
        ("inputs", "pass", None),
        *((name, "skipped", "out of time budget") for name in ("install", "imports", "cuda")),
        *((name, "skipped", "the cuda step did not pass")
          for name in ("fairseq_fp16", "trainer_bf16", "trainer_fp16", "bert_bf16"))]
    assert document["result"] == "fail" and "python" in document and "versions" in document
    assert sorted(path.name for path in out.iterdir()) == ["setup.log", "summary.json"]
