"""The ``knee`` scheduler object, built the way fairseq-train builds it (real parser, real optimizer)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fairseq_plugin
from fairseq import optim, options
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.optim.lr_scheduler import LR_SCHEDULER_DATACLASS_REGISTRY, LR_SCHEDULER_REGISTRY, build_lr_scheduler
from fairseq_plugin.cli import PLUGIN_DIR, check_knee_arguments, with_hydra_user_dir, with_user_dir
from fairseq_plugin.knee_scheduler import KneeConfigError, KneeLRSchedule, KneeLRScheduleConfig
from knee_nlp.baselines import inverse_sqrt_lr
from knee_nlp.schedule import KneeSchedule

BASE = ["data-bin", "--arch", "transformer", "--optimizer", "adam"]


def build(*flags: str):
    """The LR scheduler fairseq-train would build for ``flags`` (plus a real Adam optimizer)."""
    args = options.parse_args_and_arch(options.get_training_parser(), input_args=[*BASE, *flags])
    cfg = convert_namespace_to_omegaconf(args)
    optimizer = optim.build_optimizer(cfg.optimizer, [torch.nn.Parameter(torch.zeros(2))])
    return build_lr_scheduler(cfg.lr_scheduler, optimizer)


def test_knee_is_registered_with_its_dataclass():
    assert LR_SCHEDULER_REGISTRY["knee"] is KneeLRSchedule
    assert LR_SCHEDULER_DATACLASS_REGISTRY["knee"] is KneeLRScheduleConfig


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--lr", "5e-4", "--max-update", "100", "--warmup-updates", "10", "--explore-ratio", "0.5"],
         dict(peak_lr=5e-4, total_steps=100, warmup_steps=10, explore_ratio=0.5)),
        (["--lr", "1e-3", "--max-update", "50", "--explore-updates", "20", "--warmup-updates", "5",
          "--warmup-init-lr", "1e-4", "--end-learning-rate", "1e-5"],
         dict(peak_lr=1e-3, total_steps=50, warmup_steps=5, explore_steps=20, warmup_init_lr=1e-4,
              end_lr=1e-5)),
        (["--lr", "2e-3", "--max-update", "999", "--total-num-update", "40"],
         dict(peak_lr=2e-3, total_steps=40)),
    ],
    ids=["ratio", "updates-init-end", "total-num-update"],
)
def test_lr_after_every_update_is_the_core_schedule(flags, expected):
    scheduler = build("--lr-scheduler", "knee", *flags)
    core = KneeSchedule(**expected)
    assert scheduler.optimizer.get_lr() == core(0)
    for num_updates in range(core.total_steps + 10):
        assert scheduler.step_update(num_updates) == core(num_updates)


def test_total_num_update_defaults_to_max_update():
    scheduler = build("--lr-scheduler", "knee", "--lr", "1e-3", "--max-update", "30")
    assert scheduler.schedule.total_steps == 30
    assert scheduler.schedule.explore_steps == 15


def test_lr_depends_on_num_updates_only_so_a_rebuilt_scheduler_resumes_exactly():
    flags = ("--lr-scheduler", "knee", "--lr", "1e-3", "--max-update", "40", "--warmup-updates", "4")
    running = build(*flags)
    trajectory = [running.step_update(n) for n in range(41)]
    resumed = build(*flags)
    resumed.load_state_dict(running.state_dict())
    assert [resumed.step_update(n) for n in range(17, 41)] == trajectory[17:]


def warnings_in(caplog) -> list[logging.LogRecord]:
    """The captured records at WARNING or above: INFO records are captured too when a test that
    ran earlier in the same process changed the logging setup."""
    return [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_resuming_on_another_schedule_warns_with_both(caplog):
    saved = build("--lr-scheduler", "knee", "--lr", "1e-3", "--max-update", "100").state_dict()
    assert saved["knee_schedule"]["total_steps"] == 100 and saved["knee_schedule"]["peak_lr"] == 1e-3
    same = build("--lr-scheduler", "knee", "--lr", "1e-3", "--max-update", "100")
    with caplog.at_level("WARNING"):
        same.load_state_dict(saved)
        assert warnings_in(caplog) == []
        longer = build("--lr-scheduler", "knee", "--lr", "1e-3", "--max-update", "200")
        longer.load_state_dict(saved)
    (record,) = warnings_in(caplog)
    assert "the checkpoint's schedule (peak_lr=0.001, total_steps=100, warmup_steps=0, explore_steps=50" in record.message
    assert "differs from this run's (peak_lr=0.001, total_steps=200" in record.message
    assert longer.step_update(80) == KneeSchedule(peak_lr=1e-3, total_steps=200)(80)  # this run's schedule
    build("--lr-scheduler", "knee", "--lr", "1e-3", "--max-update", "100").load_state_dict({"best": None})  # older


@pytest.mark.parametrize("warmup", [0, 7])
def test_explore_zero_equals_polynomial_decay_power_one_end_zero(warmup):
    common = ("--lr", "5e-4", "--max-update", "120", "--warmup-updates", str(warmup))
    knee = build("--lr-scheduler", "knee", "--explore-updates", "0", *common)
    poly = build("--lr-scheduler", "polynomial_decay", "--power", "1", "--end-learning-rate", "0",
                 "--total-num-update", "120", *common)
    for num_updates in range(1, 131):
        assert knee.step_update(num_updates) == pytest.approx(poly.step_update(num_updates), rel=1e-12, abs=1e-18)


BAD_INPUT = {
    "no-horizon": (["--lr", "1e-3"], r"no training horizon: set --max-update N or --total-num-update N"),
    "explore-plus-warmup-past-horizon": (
        ["--lr", "1e-3", "--max-update", "100", "--warmup-updates", "40", "--explore-updates", "61"],
        r"--warmup-updates \+ --explore-updates must be <= --total-num-update \(100\), got 40 \+ 61 = 101",
    ),
    "ratio-plus-warmup-past-horizon": (
        ["--lr", "1e-3", "--max-update", "100", "--warmup-updates", "60", "--explore-ratio", "0.5"],
        r"--warmup-updates \+ --explore-updates must be <= --total-num-update \(100\), "
        r"got 60 \+ 50 = 110 \(--explore-updates = --explore-ratio 0.5 x 100\)",
    ),
    "two-lrs": (["--lr", "1e-3,5e-4", "--max-update", "100"], r"--lr takes exactly one value .*\[0.001, 0.0005\]"),
    "negative-warmup": (["--lr", "1e-3", "--max-update", "100", "--warmup-updates", "-1"],
                        r"--warmup-updates must be an integer >= 0, got -1"),
    "negative-explore": (["--lr", "1e-3", "--max-update", "100", "--explore-updates", "-5"],
                         r"--explore-updates must be an integer >= 0, got -5"),
    "negative-ratio": (["--lr", "1e-3", "--max-update", "100", "--explore-ratio", "-0.1"],
                       r"--explore-ratio must be a number in \[0, 1\], got -0.1"),
    "negative-total": (["--lr", "1e-3", "--max-update", "100", "--total-num-update", "-3"],
                       r"--total-num-update must be an integer >= 1, got -3"),
    "negative-end-lr": (["--lr", "1e-3", "--max-update", "100", "--end-learning-rate=-1e-5"],
                        r"--end-learning-rate must be a finite number >= 0.0, got -1e-05"),
    "negative-init-lr": (["--lr", "1e-3", "--max-update", "100", "--warmup-init-lr=-1e-5"],
                         r"--warmup-init-lr must be a finite number >= 0.0, got -1e-05"),
    "negative-lr": (["--lr=-1e-3", "--max-update", "100"], r"--lr must be a finite number > 0.0"),
    "end-above-peak": (["--lr", "1e-3", "--max-update", "100", "--end-learning-rate", "0.01"],
                       r"--end-learning-rate must be in \[0, --lr=0.001\], got 0.01"),
    "both-explore-flags": (["--lr", "1e-3", "--max-update", "100", "--explore-updates", "5",
                            "--explore-ratio", "0.5"], r"give --explore-updates \(5\) or --explore-ratio"),
}


@pytest.mark.parametrize(("flags", "message"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_fails_at_construction_naming_the_flag(flags, message):
    with pytest.raises(KneeConfigError, match=r"^--lr-scheduler knee: " + message):
        build("--lr-scheduler", "knee", *flags)
    with pytest.raises(KneeConfigError, match=message):
        check_knee_arguments([*BASE, "--lr-scheduler", "knee", *flags])


def test_console_script_checks_ignore_other_schedulers():
    assert check_knee_arguments([*BASE, "--lr", "1e-3", "--lr-scheduler", "inverse_sqrt"]) is None
    with pytest.raises(KneeConfigError):
        check_knee_arguments([*BASE, "--lr", "1e-3", "--lr-scheduler", "knee"])


@pytest.mark.parametrize(("warmup", "init"), [(4, 0.0), (4, 1e-7), (1, 0.0), (8, 2e-4)])
def test_inverse_sqrt_baseline_is_fairseqs_scheduler(warmup, init):
    fairseq_scheduler = build("--lr-scheduler", "inverse_sqrt", "--lr", "5e-4", "--warmup-updates", str(warmup),
                              "--warmup-init-lr", str(init))
    fairseq_lrs = [fairseq_scheduler.step_update(step) for step in range(60)]
    ours = [inverse_sqrt_lr(step, peak_lr=5e-4, warmup_steps=warmup, warmup_init_lr=init) for step in range(60)]
    assert ours == pytest.approx(fairseq_lrs, rel=1e-12, abs=1e-18)


def test_plugin_user_dir_is_added_unless_the_user_gives_one():
    assert with_user_dir(["data"]) == ["data", "--user-dir", PLUGIN_DIR]
    assert with_user_dir(["data", "--user-dir=mine"]) == ["data", "--user-dir=mine"]
    assert with_hydra_user_dir(["task.data=x"]) == ["task.data=x", f"common.user_dir={PLUGIN_DIR}"]
    assert with_hydra_user_dir(["+common.user_dir=mine"]) == ["+common.user_dir=mine"]


def test_knee_nlp_prints_the_user_dir_without_importing_fairseq():
    code = ("import sys; from knee_nlp.cli import main; main(['fairseq-user-dir']); "
            "assert 'fairseq' not in sys.modules, 'fairseq was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    printed = Path(result.stdout.strip())
    assert printed == Path(PLUGIN_DIR) == Path(fairseq_plugin.__file__).parent
    assert (printed / "__init__.py").is_file()
