"""End-to-end: real fairseq-train / fairseq-generate / fairseq-hydra-train runs on CPU.

Every run trains the tiny transformer on real IWSLT'14 text and logs each update
(``--log-format json --log-interval 1``); the logged LR is compared with the core
:class:`KneeSchedule` formatted the way fairseq prints it (``{:g}``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fairseq_plugin.cli import PLUGIN_DIR
from knee_nlp.schedule import KneeSchedule
from tests.fairseq_plugin.conftest import (
    GENERATE, RANK_LOGGING, logged, tiny_hydra_overrides, two_cpu_ranks,
)

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
PEAK = 1e-3
# Warmup 4, explore 10 (updates 4..14), linear decay to 0 at update 24.
KNEE_FLAGS = ["--lr", PEAK, "--lr-scheduler", "knee", "--warmup-updates", 4,
              "--explore-updates", 10, "--total-num-update", 24]
KNEE = KneeSchedule(peak_lr=PEAK, total_steps=24, warmup_steps=4, explore_steps=10)


@pytest.fixture(scope="module")
def knee_run(fairseq_tools, tmp_path_factory):
    """A complete 24-update run through plain ``fairseq-train --user-dir``."""
    save_dir = tmp_path_factory.mktemp("knee_run")
    run = fairseq_tools.run("fairseq-train", [
        *fairseq_tools.train_args, "--user-dir", PLUGIN_DIR, *KNEE_FLAGS,
        "--max-update", 24, "--save-dir", save_dir,
    ])
    assert run.returncode == 0, run.output[-3000:]
    return run, save_dir


def test_logged_lr_is_the_core_schedule_at_every_update(knee_run):
    run, _ = knee_run
    assert run.lrs() == logged(KNEE, range(1, 25))


def test_resume_mid_explore_continues_the_exact_trajectory(fairseq_tools, knee_run, tmp_path):
    reference, _ = knee_run
    # A deterministic interruption: the horizon is pinned by --total-num-update, so stopping at
    # --max-update 9 leaves checkpoint_last.pt in the middle of explore (updates 4..14).
    args = [*fairseq_tools.train_args, *KNEE_FLAGS, "--save-dir", tmp_path]
    first = fairseq_tools.run("knee-fairseq-train", [*args, "--max-update", 9])
    assert first.returncode == 0, first.output[-3000:]
    assert (tmp_path / "checkpoint_last.pt").is_file()
    assert KNEE.phase(9) == "explore"

    resumed = fairseq_tools.run("fairseq-train", [*args, "--user-dir", PLUGIN_DIR, "--max-update", 24])
    assert resumed.returncode == 0, resumed.output[-3000:]
    assert "Loaded checkpoint" in resumed.output
    assert [int(r["num_updates"]) for r in resumed.updates] == list(range(10, 25))
    assert first.lrs() | resumed.lrs() == reference.lrs()
    # Same LR, data order and seeds per update: the resumed run trains exactly like the reference.
    losses = {int(r["num_updates"]): r["loss"] for r in [*first.updates, *resumed.updates]}
    assert losses == {int(r["num_updates"]): r["loss"] for r in reference.updates}


def test_update_freq_two_steps_the_schedule_once_per_optimizer_update(fairseq_tools, tmp_path):
    schedule = KneeSchedule(peak_lr=PEAK, total_steps=12, warmup_steps=2, explore_ratio=0.5)
    run = fairseq_tools.run("knee-fairseq-train", [
        *fairseq_tools.train_args, "--update-freq", 2, "--lr", PEAK, "--lr-scheduler", "knee",
        "--warmup-updates", 2, "--explore-ratio", 0.5, "--max-update", 12, "--save-dir", tmp_path,
    ])
    assert run.returncode == 0, run.output[-3000:]
    assert run.lrs() == logged(schedule, range(1, 13))


RANK_LAUNCHER = RANK_LOGGING + "from fairseq_plugin.cli import train; train(sys.argv[1:])"


def test_two_process_ddp_ranks_use_the_same_lr_also_after_a_resume(fairseq_tools, tmp_path):
    """Stopped at update 6 and resumed (rank 0 loads the checkpoint and broadcasts it to rank 1,
    a full pickle under torch's weights-only default): both ranks log the whole schedule."""
    schedule = KneeSchedule(peak_lr=PEAK, total_steps=10, warmup_steps=2, explore_steps=4)
    args = [
        *fairseq_tools.train_args, "--lr", PEAK, "--lr-scheduler", "knee", "--warmup-updates", 2,
        "--explore-updates", 4, "--total-num-update", 10, "--save-dir", tmp_path,
    ]
    first = fairseq_tools.run_ranks(RANK_LAUNCHER, [*args, "--max-update", 6, *two_cpu_ranks()])
    resumed = fairseq_tools.run_ranks(RANK_LAUNCHER, [*args, "--max-update", 10, *two_cpu_ranks()])
    for rank in [*first, *resumed]:
        assert rank.returncode == 0, rank.output[-3000:]
    for rank in (0, 1):
        assert first[rank].lrs() | resumed[rank].lrs() == logged(schedule, range(1, 11))
        assert [int(r["num_updates"]) for r in resumed[rank].updates] == list(range(7, 11))
    assert "distributed init (rank 1)" in first[1].output


def test_explore_zero_equals_polynomial_decay_in_training(fairseq_tools, tmp_path):
    common = [*fairseq_tools.train_args, "--lr", PEAK, "--warmup-updates", 3, "--max-update", 16,
              "--total-num-update", 16]
    poly = fairseq_tools.run("fairseq-train", [
        *common, "--lr-scheduler", "polynomial_decay", "--power", 1, "--end-learning-rate", 0,
        "--save-dir", tmp_path / "poly",
    ])
    knee = fairseq_tools.run("fairseq-train", [
        *common, "--user-dir", PLUGIN_DIR, "--lr-scheduler", "knee", "--explore-updates", 0,
        "--save-dir", tmp_path / "knee",
    ])
    assert poly.returncode == 0 and knee.returncode == 0, (poly.output + knee.output)[-3000:]
    assert len(knee.updates) == 16
    assert knee.lrs() == poly.lrs()
    assert [r["loss"] for r in knee.updates] == [r["loss"] for r in poly.updates]


def test_generate_loads_the_trained_checkpoint_under_torch_weights_only_default(fairseq_tools, knee_run):
    _, save_dir = knee_run
    args = [fairseq_tools.data, "--path", save_dir / "checkpoint_last.pt", *GENERATE]
    without_plugin = fairseq_tools.run("fairseq-generate", args)
    assert without_plugin.returncode != 0
    assert "Weights only load failed" in without_plugin.output
    for name, extra in (("fairseq-generate", ["--user-dir", PLUGIN_DIR]), ("knee-fairseq-generate", [])):
        run = fairseq_tools.run(name, [*args, *extra])
        assert run.returncode == 0, run.output[-3000:]
        assert "Generate test with beam=2" in run.output


def test_checkpoint_fix_is_limited_to_fairseqs_loader(knee_run, monkeypatch):
    from fairseq import checkpoint_utils

    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    _, save_dir = knee_run
    checkpoint = save_dir / "checkpoint_last.pt"
    state = checkpoint_utils.load_checkpoint_to_cpu(str(checkpoint))
    assert state["optimizer_history"][-1]["num_updates"] == 24
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(checkpoint)


def test_hydra_train_with_the_example_yaml(fairseq_tools, tmp_path):
    schedule = KneeSchedule(peak_lr=5e-4, total_steps=12, warmup_steps=2, explore_ratio=0.5)
    run = fairseq_tools.run("knee-fairseq-hydra-train", [
        "--config-dir", REPO_ROOT / "configs" / "fairseq", "--config-name", "iwslt14_knee",
        *tiny_hydra_overrides(fairseq_tools.data, tmp_path / "ckpt", max_update=12),
    ], cwd=tmp_path)
    assert run.returncode == 0, run.output[-3000:]
    assert run.lrs() == logged(schedule, range(1, 13))


def test_hydra_bad_knee_setting_fails_before_loading_data_naming_the_key(fairseq_tools, tmp_path):
    run = fairseq_tools.run("knee-fairseq-hydra-train", [
        "--config-dir", REPO_ROOT / "configs" / "fairseq", "--config-name", "iwslt14_knee",
        *tiny_hydra_overrides(fairseq_tools.data, tmp_path / "ckpt", max_update=12),
        "lr_scheduler.explore_ratio=1.5",
    ], cwd=tmp_path)
    assert run.returncode == 2, run.output[-3000:]
    assert ("knee-fairseq-hydra-train: error: --lr-scheduler knee: lr_scheduler.explore_ratio must be"
            in run.output), run.output[-3000:]
    assert "Traceback" not in run.output and "num. model params" not in run.output


def test_bad_input_fails_before_loading_data(fairseq_tools, tmp_path):
    args = [*fairseq_tools.train_args, "--save-dir", tmp_path, "--lr-scheduler", "knee"]
    no_horizon = fairseq_tools.run("knee-fairseq-train", [*args, "--lr", PEAK])
    assert no_horizon.returncode == 2
    assert "knee-fairseq-train: error: --lr-scheduler knee: no training horizon" in no_horizon.output
    assert "num. model params" not in no_horizon.output

    two_lrs = fairseq_tools.run("knee-fairseq-train", [*args, "--lr", "1e-3,5e-4", "--max-update", 10])
    assert two_lrs.returncode == 2
    assert "--lr takes exactly one value" in two_lrs.output

    plain = fairseq_tools.run("fairseq-train", [
        *args, "--user-dir", PLUGIN_DIR, "--lr", PEAK, "--max-update", 10,
        "--warmup-updates", 6, "--explore-ratio", 0.5,
    ])
    assert plain.returncode != 0
    assert ("KneeConfigError: --lr-scheduler knee: --warmup-updates + --explore-updates must be "
            "<= --total-num-update (10), got 6 + 5 = 11") in plain.output
    assert plain.updates == []
