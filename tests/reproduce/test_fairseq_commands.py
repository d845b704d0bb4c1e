"""fairseq command lines: flags from configs, the recipe's global batch on N GPUs, precision."""

from __future__ import annotations

from pathlib import Path

import pytest

from knee_nlp.reproduce.fairseq_commands import (Batching, generate_command, scale_batching, to_flags,
                                         train_command)
from knee_nlp.reproduce.config import load_experiment, load_run_config


def test_config_values_become_fairseq_flags() -> None:
    flags = to_flags({"max_tokens": 4096, "share_all_embeddings": True, "fp16": False,
                      "restore_file": None, "adam_betas": "(0.9, 0.98)"})
    assert flags == ["--max-tokens", "4096", "--share-all-embeddings", "--adam-betas", "(0.9, 0.98)"]


@pytest.mark.parametrize("experiment, budget, gpus, expected", [
    ("wmt14", "70ep", 8, (3584, 1)),   # the recipe's own setting
    ("wmt14", "70ep", 1, (3584, 8)),   # fewer GPUs: accumulate
    ("wmt14", "70ep", 2, (3584, 4)),
    ("iwslt14", "50ep", 1, (4096, 1)),
    ("iwslt14", "50ep", 8, (512, 1)),  # more GPUs than the 1-GPU recipe: split the tokens
])
def test_global_batch_of_the_recipe_is_kept(experiment, budget, gpus, expected) -> None:
    run = load_run_config(load_experiment(experiment), "full", "knee", budget)
    batching = scale_batching(run, gpus)
    assert (batching.max_tokens, batching.update_freq) == expected
    assert batching.global_tokens == run.recipe_gpus * run.train["max_tokens"] * run.train["update_freq"]


def test_bad_gpu_count_is_rejected() -> None:
    run = load_run_config(load_experiment("iwslt14"), "full", "knee", "50ep")
    with pytest.raises(ValueError, match="gpus must be an integer >= 1, got 0"):
        scale_batching(run, 0)


def _train(schedule: str, **kwargs) -> list[str]:
    run = load_run_config(load_experiment("wmt14"), "full", schedule, "70ep")
    options = dict(bin_dir=Path("bin"), save_dir=Path("ck"), seed=3, max_update=1234,
                   batching=Batching(8, 3584, 1), source_lang="en", target_lang="de",
                   precision="fp16", cpu=False)
    options.update(kwargs)
    return train_command(run, **options)


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_train_command_sets_budget_seed_devices_and_precision() -> None:
    argv = _train("knee")
    assert argv[1:4] == ["-m", "fairseq_cli.train", "bin"]
    assert _value(argv, "--lr-scheduler") == "knee" and _value(argv, "--explore-ratio") == "0.6"
    assert _value(argv, "--total-num-update") == _value(argv, "--max-update") == "1234"
    assert _value(argv, "--max-epoch") == "70" and _value(argv, "--seed") == "3"
    assert _value(argv, "--distributed-world-size") == "8" and "--fp16" in argv
    assert "--cpu" not in argv and _value(argv, "--keep-last-epochs") == "10"
    assert _value(argv, "--user-dir").endswith("fairseq_plugin")


def test_inverse_sqrt_has_no_horizon_and_cpu_runs_drop_devices() -> None:
    argv = _train("inverse_sqrt", batching=Batching(1, 3584, 8), precision="fp32", cpu=True)
    assert "--total-num-update" not in argv and "--distributed-world-size" not in argv
    assert "--cpu" in argv and "--fp16" not in argv and _value(argv, "--update-freq") == "8"
    with pytest.raises(ValueError, match="precision must be one of"):
        _train("knee", precision="int8")


def test_generate_command_uses_the_recipe_beam() -> None:
    run = load_run_config(load_experiment("wmt14"), "full", "knee", "70ep")
    argv = generate_command(run, bin_dir=Path("bin"), source_lang="en", target_lang="de",
                            precision="fp32", cpu=True)
    assert _value(argv, "--beam") == "4" and _value(argv, "--lenpen") == "0.6"
    assert _value(argv, "--gen-subset") == "test" and "--remove-bpe" in argv and "--cpu" in argv
    valid = generate_command(run, bin_dir=Path("bin"), source_lang="en", target_lang="de",
                             precision="fp32", cpu=True, subset="valid")
    assert _value(valid, "--gen-subset") == "valid" and valid[:5] == argv[:5]
