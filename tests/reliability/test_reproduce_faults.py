"""Fault injection into ``knee-nlp reproduce``: kills, Ctrl-C, concurrent starts, damaged checkpoints.

Every scenario trains the tiny preset's Knee config, cut to 300 pairs of the built-in synthetic
corpus, for 6 epochs (24 updates, a checkpoint every 4), interrupts it at random points and checks
that re-running the same command finishes with exactly the result of an uninterrupted run: same
LR and validation curves, same test scores. Set ``KNEE_NLP_FAULT_SEED`` to replay a failing draw
(the seed is in every assertion message).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from knee_nlp.child_process import is_running, running_children
from knee_nlp.reproduce.config import default_config_dir
from knee_nlp.reproduce.logs import parse_training_log
from knee_nlp.run_lock import LOCK_NAME

pytestmark = pytest.mark.slow
SEED = int(os.environ.get("KNEE_NLP_FAULT_SEED", random.randrange(1 << 30)))
RUN = "knee-6ep-seed1"
EPOCH_UPDATES, BUDGET = 4, 24
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def edit_yaml(path: Path, change: Callable[[dict], object]) -> None:
    content = yaml.safe_load(path.read_text())
    change(content)
    path.write_text(yaml.safe_dump(content))


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped configs with a smaller tiny preset: 300 training pairs, a 6-epoch budget with
    a warmup that fits it, every update logged (for kill points anywhere)."""
    root = tmp_path_factory.mktemp("configs") / "configs"
    shutil.copytree(default_config_dir(), root)
    edit_yaml(root / "iwslt14/experiment.yaml", lambda spec: spec["budgets"]["tiny"].append("6ep"))
    edit_yaml(root / "iwslt14/tiny.yaml", lambda base: base.update(
        data={"max_train_pairs": 300, "max_valid_pairs": 50, "max_test_pairs": 50},
        train={**base["train"], "log_interval": 1},
        lr_scheduler={**base["lr_scheduler"], "warmup_updates": 4}))
    return root


def command(run_dir: Path, config_dir: Path) -> list[str]:
    return [sys.executable, "-m", "knee_nlp", "reproduce", "iwslt14", "--preset", "tiny",
            "--schedules", "knee", "--budgets", "6ep", "--seeds", "1", "--run-dir", str(run_dir),
            "--config-dir", str(config_dir)]


def _as_from_a_terminal() -> None:
    """SIGINT at its default, as a terminal's shell starts a command: a test run in the background
    (``nohup pytest &``) inherits SIGINT ignored, and Ctrl-C would then be ignored too."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(run_dir: Path, config_dir: Path) -> subprocess.Popen:
    """``knee-nlp reproduce`` in its own process group (as a shell runs it), output to a file."""
    log = run_dir.parent / f"{run_dir.name}-{time.monotonic_ns()}.out"
    with open(log, "w") as sink:
        process = subprocess.Popen(command(run_dir, config_dir), stdout=sink,
                                   stderr=subprocess.STDOUT, env=ENV, start_new_session=True,
                                   preexec_fn=_as_from_a_terminal)
    process.output_path = log
    return process


def output(process: subprocess.Popen) -> str:
    return process.output_path.read_text()


def finish(run_dir: Path, config_dir: Path) -> str:
    """Run the command to its end; its output (it must succeed)."""
    done = subprocess.run(command(run_dir, config_dir), capture_output=True, text=True, env=ENV,
                          timeout=600)
    assert done.returncode == 0, f"seed {SEED}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def read_lock(run_dir: Path) -> str:
    try:
        return (run_dir / LOCK_NAME).read_text()
    except FileNotFoundError:
        return ""


def train_until(process: subprocess.Popen, run_dir: Path, update: int, rng: random.Random) -> int:
    """Wait until this attempt of the run logs ``update`` or a later one (then a random fraction
    of a second more), and stop its fairseq-train process there (SIGSTOP), so that on a fast machine
    it cannot finish the run before the fault lands; returns that process's pid. SIGKILL ends a
    stopped process; after any other signal, :func:`resume` it."""
    log = run_dir / "runs" / RUN / "train.log"
    earlier = log.stat().st_size if log.is_file() else 0  # what earlier attempts logged
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert process.poll() is None, f"seed {SEED}: stopped early:\n{output(process)[-3000:]}"
        if log.is_file() and parse_training_log(log.read_bytes()[earlier:].decode()).last_update >= update:
            break
        time.sleep(0.1)
    time.sleep(rng.uniform(0, 0.25))
    trainers = running_children(process.pid)
    assert len(trainers) == 1, f"seed {SEED}: {trainers}"
    os.kill(trainers[0], signal.SIGSTOP)
    return trainers[0]


def resume(pid: int) -> None:
    """SIGCONT for a process stopped by :func:`train_until` (it then handles its pending signals)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def assert_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_running(pid), f"seed {SEED}: fairseq-train {pid} outlived the command"


def result(run_dir: Path) -> dict:
    return json.loads((run_dir / "runs" / RUN / "result.json").read_text())


def assert_same_result(run_dir: Path, reference: dict) -> dict:
    """The resumed run's LR and validation curves, final training loss and test scores are the
    uninterrupted run's, exactly."""
    resumed = result(run_dir)
    assert resumed["test"] == reference["test"], f"seed {SEED}"
    for curve in ("lr", "valid_loss"):
        assert resumed["curves"][curve] == reference["curves"][curve], f"seed {SEED}: {curve}"
    assert resumed["curves"]["train_loss"][-1] == reference["curves"]["train_loss"][-1]
    assert [u for u, _ in resumed["curves"]["valid_loss"]] == list(range(EPOCH_UPDATES, BUDGET + 1,
                                                                         EPOCH_UPDATES))
    return resumed


@pytest.fixture(scope="module")
def reference(config_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    finish(run_dir, config_dir)
    finished = result(run_dir)
    assert (finished["updates_per_epoch"], finished["max_update"]) == (EPOCH_UPDATES, BUDGET)
    return run_dir, finished


def unscored_copy(reference: Path, run_dir: Path) -> Path:
    """A copy of the finished reference run as it was before scoring (its averaged checkpoint
    kept); returns its checkpoints."""
    shutil.copytree(reference, run_dir)
    for name in ("reproduce.json", f"runs/{RUN}/plan.json"):  # paths of this copy's own files
        path = run_dir / name
        path.write_text(path.read_text().replace(str(reference), str(run_dir)))
    work = run_dir / "runs" / RUN
    for name in ("result.json", "TRAINED", "generate.log"):
        (work / name).unlink()
    return work / "checkpoints"


def half_copied_last_at_most(resume_entry: dict) -> bool:
    """Whether a resume skipped nothing, or only ``checkpoint_last.pt`` and went on from an epoch
    checkpoint: fairseq writes ``checkpoint<E>.pt`` atomically but then copies it to
    ``checkpoint_last.pt`` in place, so a kill that lands during that copy leaves it cut short."""
    skipped = [damaged["file"] for damaged in resume_entry["skipped"]]
    return skipped == [] or (skipped == ["checkpoint_last.pt"]
                             and resume_entry["checkpoint"] != "checkpoint_last.pt")


def test_kills_and_ctrl_c_at_random_points_resume_to_the_uninterrupted_result(
        config_dir: Path, reference: tuple[Path, dict], tmp_path: Path) -> None:
    """kill -9 of the command (with a second start refused while it runs, and its lock taken
    over after), kill -9 of fairseq-train, Ctrl-C to the process group: the run goes on."""
    rng = random.Random(SEED)
    run_dir = tmp_path / "run"
    points = sorted(rng.sample(range(EPOCH_UPDATES + 1, BUDGET - 8), 3))
    first = start(run_dir, config_dir)
    while f'"pid": {first.pid},' not in read_lock(run_dir):  # the run dir is taken
        assert first.poll() is None, output(first)
        time.sleep(0.05)
    second = subprocess.run(command(run_dir, config_dir), capture_output=True, text=True, env=ENV,
                            timeout=300)
    assert second.returncode == 2 and f"in use by PID {first.pid}" in second.stderr, second.stderr
    trainer = train_until(first, run_dir, points[0], rng)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=60)
    assert_gone(trainer)

    again = start(run_dir, config_dir)
    trainer = train_until(again, run_dir, points[1], rng)
    assert f"taking over the lock left by PID {first.pid}" in output(again)
    os.kill(trainer, signal.SIGKILL)
    assert again.wait(timeout=120) == 1
    assert "fairseq-train was killed (SIGKILL); run the same command again" in output(again)

    third = start(run_dir, config_dir)
    trainer = train_until(third, run_dir, points[2], rng)
    os.killpg(third.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    resume(trainer)
    assert third.wait(timeout=120) == 130
    assert "interrupted; run the same command again" in output(third)
    assert_gone(trainer)

    printed = finish(run_dir, config_dir)
    assert "resuming from checkpoint" in printed and "taking over" not in printed
    resumes = assert_same_result(run_dir, reference[1])["resumes"]
    assert len(resumes) >= 3 and all(half_copied_last_at_most(entry) for entry in resumes), \
        f"seed {SEED}: {resumes}"
    assert all(0 < entry["updates"] < BUDGET and entry["updates"] % EPOCH_UPDATES == 0
               for entry in resumes), f"seed {SEED}: {resumes}"
    assert f"- resumed: {RUN} from checkpoint" in (run_dir / "results.md").read_text()


def test_damaged_checkpoints_are_skipped_recorded_and_the_run_finishes(
        config_dir: Path, reference: tuple[Path, dict], tmp_path: Path) -> None:
    """Killed in the last epoch, then checkpoint_last.pt zeroed at a random place (same size)
    and the newest epoch checkpoint cut short: the run continues from the epoch before them and
    ends with the uninterrupted result, the skipped files recorded in result.json and results.md."""
    rng = random.Random(SEED + 1)
    run_dir = tmp_path / "run"
    save_dir = unscored_copy(reference[0], run_dir)
    for name in ("checkpoint6.pt", "checkpoint_avg3.pt"):  # killed during the last epoch
        (save_dir / name).unlink()
    last = save_dir / "checkpoint_last.pt"
    with open(last, "r+b") as handle:
        handle.seek(rng.randrange(last.stat().st_size - 4096))
        handle.write(bytes(4096))
    newest = save_dir / "checkpoint5.pt"
    os.truncate(newest, rng.randrange(newest.stat().st_size))

    printed = finish(run_dir, config_dir)
    assert "warning: skipping damaged checkpoint_last.pt" in printed
    assert "warning: skipping damaged checkpoint5.pt" in printed
    assert "resuming from checkpoint4.pt (16 updates)" in printed
    resumed = assert_same_result(run_dir, reference[1])
    assert resumed["resumes"][-1]["checkpoint"] == "checkpoint4.pt"
    skipped = resumed["resumes"][-1]["skipped"]
    assert [entry["file"] for entry in skipped] == ["checkpoint_last.pt", "checkpoint5.pt"]
    assert all(entry["reason"] for entry in skipped), skipped
    assert "skipping damaged checkpoint5.pt" in (run_dir / "results.md").read_text()


def test_no_intact_checkpoint_stops_with_the_way_out(config_dir: Path, reference: tuple[Path, dict],
                                                     tmp_path: Path) -> None:
    """Every checkpoint cut short: nothing is trained, the error names the files and the way out;
    the same for a damaged checkpoint that the test's average needs."""
    run_dir = tmp_path / "run"
    save_dir = unscored_copy(reference[0], run_dir)
    averaged = save_dir / "checkpoint5.pt"
    averaged_bytes = averaged.read_bytes()
    for path in save_dir.glob("*.pt"):
        os.truncate(path, 100)
    log_size = (run_dir / "runs" / RUN / "train.log").stat().st_size
    done = subprocess.run(command(run_dir, config_dir), capture_output=True, text=True, env=ENV,
                          timeout=300)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert (f"no intact checkpoint left in {save_dir}" in done.stderr
            and "delete the damaged file(s) to train this run again" in done.stderr), done.stderr
    assert (run_dir / "runs" / RUN / "train.log").stat().st_size == log_size  # nothing trained

    shutil.rmtree(save_dir)
    shutil.copytree(reference[0] / "runs" / RUN / "checkpoints", save_dir)
    averaged.write_bytes(averaged_bytes[:-4096] + bytes(4096))
    done = subprocess.run(command(run_dir, config_dir), capture_output=True, text=True, env=ENV,
                          timeout=300)
    assert done.returncode == 1 and f"{averaged} is damaged" in done.stderr, done.stderr
    assert f"delete {run_dir / 'runs' / RUN} to train this run again" in done.stderr


def test_a_log_cut_short_is_not_progress(config_dir: Path, reference: tuple[Path, dict],
                                         tmp_path: Path) -> None:
    """The command killed after fairseq's last checkpoint, while averaging: its log stops early and
    the averaged checkpoint is half written; the checkpoints hold the whole budget, so the re-run
    trains nothing, averages again and scores the run."""
    run_dir = tmp_path / "run"
    save_dir = unscored_copy(reference[0], run_dir)
    log = run_dir / "runs" / RUN / "train.log"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[: len(lines) // 2]))
    os.truncate(save_dir / "checkpoint_avg3.pt", 4096)
    printed = finish(run_dir, config_dir)
    assert f"{RUN}: checkpoint_last.pt holds all {BUDGET} updates: trained" in printed
    assert "checkpoint_avg3.pt is damaged" in printed and "averaging again" in printed
    assert "resuming from" not in printed
    assert result(run_dir)["test"] == reference[1]["test"]
