"""The startup hook: fairseq's own commands know ``--lr-scheduler knee`` with no ``--user-dir``.

``knee_nlp_fairseq_hook.pth`` (installed by ``pip install .`` and ``pip install -e .``) puts a
finder on ``sys.meta_path`` that registers ``knee`` when fairseq imports
``fairseq.optim.lr_scheduler``. Every check runs in a fresh interpreter of this venv, so it sees
the hook exactly as a user's shell does; the slow ones train the tiny transformer on real
IWSLT'14 text (fixtures in ``conftest.py``).
"""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path

import pytest

from knee_nlp.schedule import KneeSchedule
from tests.fairseq_plugin.conftest import (
    GENERATE, RANK_LOGGING, FairseqRun, clean_env, command, logged, tiny_hydra_overrides,
    two_cpu_ranks,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
OFF = {"KNEE_NLP_NO_FAIRSEQ_HOOK": "1"}
PEAK = 1e-3
# Plain fairseq-train flags: warmup 2, explore 0.5 x 10 = 5 updates (2..7), decay to 0 at 10.
KNEE_FLAGS = ["--lr", PEAK, "--lr-scheduler", "knee", "--warmup-updates", 2,
              "--explore-ratio", 0.5, "--max-update", 10]
KNEE = KneeSchedule(peak_lr=PEAK, total_steps=10, warmup_steps=2, explore_ratio=0.5)


def python(*args: str, env: dict[str, str] | None = None) -> FairseqRun:
    """``python args...`` in a fresh interpreter of this venv, output merged."""
    result = subprocess.run([sys.executable, *args], env=clean_env() | (env or {}),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    return FairseqRun(result.returncode, result.stdout)


# --- fast: installation, startup, registration semantics -------------------------------------------


def test_pth_file_is_installed_in_site_packages():
    paths = [Path(d) / "knee_nlp_fairseq_hook.pth" for d in site.getsitepackages()]
    found = [p for p in paths if p.is_file()]
    assert found, f"knee_nlp_fairseq_hook.pth not in {site.getsitepackages()}: reinstall knee-nlp"
    assert found[0].read_text().strip() == "import _knee_nlp_fairseq_hook; _knee_nlp_fairseq_hook.install()"


def test_interpreter_start_imports_only_the_tiny_hook():
    result = python("-X", "importtime", "-c", "pass")
    assert result.returncode == 0, result.output
    imported = {line.split("|")[-1].strip() for line in result.output.splitlines() if "|" in line}
    assert "_knee_nlp_fairseq_hook" in imported
    heavy = {"fairseq", "torch", "numpy", "knee_nlp", "fairseq_plugin", "omegaconf"}
    assert not imported & heavy

    state = python(
        "-c", "import sys; print(sorted(m for m in ('fairseq', 'torch', 'knee_nlp', 'fairseq_plugin') "
        "if m in sys.modules), [type(f).__name__ for f in sys.meta_path][0])"
    )
    assert state.output.split() == ["[]", "_Finder"], state.output


REGISTRY_STATE = (
    "import sys, torch, fairseq\n"
    "from fairseq import checkpoint_utils\n"
    "from fairseq.optim.lr_scheduler import LR_SCHEDULER_REGISTRY\n"
    "print('knee' in LR_SCHEDULER_REGISTRY, 'fairseq_plugin' in sys.modules,\n"
    "      hasattr(checkpoint_utils.load_checkpoint_to_cpu, '__knee_nlp_full_pickle__'),\n"
    "      torch.load.__module__, any(type(f).__name__ == '_Finder' for f in sys.meta_path))\n"
)


def test_import_fairseq_registers_knee_and_nothing_else():
    # Registered by the hook without loading the plugin package: no checkpoint fix, torch.load
    # is torch's own, and the finder has removed itself.
    result = python("-c", REGISTRY_STATE)
    assert result.returncode == 0, result.output
    assert result.output.split()[-5:] == ["True", "False", "False", "torch.serialization", "False"], \
        result.output


def test_environment_variable_turns_the_hook_off():
    result = python("-c", REGISTRY_STATE, env=OFF)
    assert result.returncode == 0, result.output
    assert result.output.split()[-5:] == ["False", "False", "False", "torch.serialization", "False"], \
        result.output


def test_plugin_after_the_hook_registers_once_and_adds_the_checkpoint_fix():
    # --user-dir imports fairseq_plugin after fairseq: the hook's class is the registered one.
    result = python(
        "-c", "import fairseq, fairseq_plugin\n"
        "from fairseq import checkpoint_utils\n"
        "from fairseq.optim.lr_scheduler import LR_SCHEDULER_REGISTRY as R\n"
        "from fairseq_plugin.checkpoint_compat import is_installed\n"
        "print(R['knee'] is fairseq_plugin.KneeLRSchedule is fairseq_plugin.knee_scheduler.KneeLRSchedule,\n"
        "      is_installed(checkpoint_utils.load_checkpoint_to_cpu))\n"
    )
    assert result.returncode == 0, result.output
    assert result.output.split()[-2:] == ["True", "True"], result.output


# --- slow: fairseq's own commands on real data ---------------------------------------------------


@pytest.fixture(scope="module")
def plain_run(fairseq_tools, tmp_path_factory):
    """Plain ``fairseq-train --lr-scheduler knee --explore-ratio 0.5``: no --user-dir, no wrapper."""
    save_dir = tmp_path_factory.mktemp("plain_knee")
    result = fairseq_tools.run("fairseq-train", [*fairseq_tools.train_args, *KNEE_FLAGS,
                                                 "--save-dir", save_dir])
    assert result.returncode == 0, result.output[-3000:]
    return result, save_dir


@pytest.mark.slow
def test_plain_fairseq_train_logs_the_knee_lr_at_every_update(plain_run):
    result, save_dir = plain_run
    assert result.lrs() == logged(KNEE, range(1, 11))
    assert "knee: warmup 2 updates to lr 0.001" in result.output
    assert (save_dir / "checkpoint_last.pt").is_file()


@pytest.mark.slow
def test_hook_off_fairseq_answers_invalid_choice(fairseq_tools, tmp_path):
    result = fairseq_tools.run("fairseq-train", [*fairseq_tools.train_args, *KNEE_FLAGS,
                                                 "--save-dir", tmp_path], env=OFF)
    assert result.returncode != 0
    assert "invalid choice: 'knee'" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("name, user_dir", [("fairseq-train", True), ("knee-fairseq-train", False)])
def test_hook_with_the_plugin_loaded_too(fairseq_tools, plain_run, tmp_path, name, user_dir):
    reference, _ = plain_run
    extra = []
    if user_dir:
        folder = subprocess.run([command("knee-nlp"), "fairseq-user-dir"], capture_output=True,
                                text=True, check=True).stdout.strip()
        extra = ["--user-dir", folder]
    result = fairseq_tools.run(name, [*fairseq_tools.train_args, *extra, *KNEE_FLAGS,
                                      "--save-dir", tmp_path])
    assert result.returncode == 0, result.output[-3000:]
    assert "Cannot register duplicate" not in result.output
    assert result.lrs() == reference.lrs()


@pytest.mark.slow
def test_plain_fairseq_generate_on_the_knee_checkpoint(fairseq_tools, plain_run):
    _, save_dir = plain_run
    args = [fairseq_tools.data, "--path", save_dir / "checkpoint_last.pt", *GENERATE]
    # The hook leaves torch.load alone: under torch >= 2.6 every fairseq checkpoint (knee or
    # not) needs torch's documented switch, or the plugin's checkpoint fix (--user-dir,
    # knee-fairseq-generate). Nothing about the knee scheduler is in the way.
    refused = fairseq_tools.run("fairseq-generate", args)
    assert refused.returncode != 0
    assert "Weights only load failed" in refused.output
    assert "argparse.Namespace" in refused.output

    result = fairseq_tools.run("fairseq-generate", args, env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})
    assert result.returncode == 0, result.output[-3000:]
    assert "Generate test with beam=2" in result.output


@pytest.mark.slow
def test_plain_fairseq_hydra_train_with_lr_scheduler_name_knee(fairseq_tools, tmp_path):
    schedule = KneeSchedule(peak_lr=5e-4, total_steps=12, warmup_steps=2, explore_ratio=0.5)
    result = fairseq_tools.run("fairseq-hydra-train", [
        "--config-dir", REPO_ROOT / "configs" / "fairseq", "--config-name", "iwslt14_knee",
        "lr_scheduler._name=knee", *tiny_hydra_overrides(fairseq_tools.data, tmp_path / "ckpt", 12),
    ], cwd=tmp_path)
    assert result.returncode == 0, result.output[-3000:]
    assert result.lrs() == logged(schedule, range(1, 13))


# fairseq's own fairseq-train entry point; knee_nlp and fairseq_plugin are not imported by it.
PLAIN_RANK = RANK_LOGGING + (
    "from fairseq_cli.train import cli_main; sys.argv = ['fairseq-train', *sys.argv[1:]]; cli_main()"
)


@pytest.mark.slow
def test_two_process_cpu_run_registers_knee_in_every_process(fairseq_tools, tmp_path):
    schedule = KneeSchedule(peak_lr=PEAK, total_steps=8, warmup_steps=2, explore_ratio=0.5)
    ranks = fairseq_tools.run_ranks(PLAIN_RANK, [
        *fairseq_tools.train_args, "--lr", PEAK, "--lr-scheduler", "knee", "--warmup-updates", 2,
        "--explore-ratio", 0.5, "--max-update", 8, "--save-dir", tmp_path, *two_cpu_ranks(),
    ])
    for rank in ranks:
        assert rank.returncode == 0, rank.output[-3000:]
    assert ranks[0].lrs() == ranks[1].lrs() == logged(schedule, range(1, 9))
    assert "distributed init (rank 1)" in ranks[1].output
    assert "'user_dir': None" in ranks[0].output
