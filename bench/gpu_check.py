"""Checks of knee-nlp's GPU-only paths; run by ``bench/gpu_check.sh`` on a machine with one NVIDIA GPU.

Each check trains for real and compares the logged learning rates with
:class:`knee_nlp.KneeSchedule` (``core``):

* ``fairseq-fp16``: ``fairseq-train --fp16 --lr-scheduler knee`` on Multi30k. An update whose
  gradients overflow is dropped: ``num_updates`` does not advance and fairseq logs no record for
  it, so the ``train_inner`` records are updates 1..N, each once, with ``lr == core(num_updates)``.
  ``--fp16-scale-window 10`` makes the loss scale grow again every 10 updates, so overflows recur
  during training and not only before update 1 (from ``--fp16-init-scale``).
* ``trainer``: ``KneeTrainer`` (the README's tiny GPT-2) under bf16 or fp16. The Trainer logs for
  global step ``k`` the LR that step used; an fp16 step skipped on overflow leaves the scheduler
  where it was, so the next step logs the same LR again. Under fp16 the loss scale starts at 2**30
  and grows every 5 good steps, so steps are skipped at the start and during training.
* ``bert-bf16``: the BERT launcher (``--config tiny``, short phases) with ``mixed_precision=bf16``;
  its ``<phase>/lr`` in ``metrics.jsonl`` is ``core(step)`` at every update.
* ``multi30k-full``: the Multi30k full preset, inverse_sqrt and knee (opt-in: longer than a run).

The parsers and checkers are pure functions, tested on CPU in
``tests/reliability/test_gpu_check.py``. The other subcommands serve ``gpu_check.sh``:
``requirements`` (the wheels to bundle), ``inputs``, ``imports``, ``cuda``, ``summary`` and
``run-module`` (runs a module, then records its peak CUDA memory).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.metadata
import json
import os
import platform
import re
import runpy
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/gpu_check.py`: sys.path[0] is bench/
    sys.path.insert(0, str(ROOT))

from knee_nlp.schedule import KneeSchedule  # noqa: E402  (after the sys.path fix)

#: Distributions the project needs that the GPU machine lacks, each as a wheel in the bundle.
BUNDLED = (
    "ve-fairseq",              # fairseq-train (fairseq main, importable on Python >= 3.11)
    "hydra-core",              # fairseq's config
    "omegaconf",               # fairseq's config, the BERT launcher's config
    "antlr4-python3-runtime",  # omegaconf's parser (an sdist only: bench/gpu_bundle.sh builds it)
    "bitarray",                # imported by fairseq
    "sacremoses",              # BLEU scoring of `knee-nlp reproduce` (--with-multi30k-full)
    "pytorch-optimizer",       # LAMB of the BERT launcher
    "datasets",                # the BERT launcher's data (pyarrow, pandas, xxhash are there)
    "dill",                    # needed by datasets
    "multiprocess",            # needed by datasets
)
#: Data files of the bundle that the checks read (bench/gpu_bundle.sh copies them).
BUNDLED_DATA = (
    *(f"multi30k/data-bin/{name}" for name in (
        "dict.de.txt", "dict.en.txt", "train.de-en.de.bin", "train.de-en.de.idx",
        "train.de-en.en.bin", "train.de-en.en.idx")),
    "wikitext-2/tokens/test.txt",
    "wikitext-2/tokens/valid.txt",
)
CHECKSUMS = "SHA256SUMS"
SOURCE = "SOURCE"  # the git revision the bundle was made from (written by bench/gpu_bundle.sh)
#: Modules each check imports: every one must import after the install.
MODULES = ("fairseq", "fairseq_cli.train", "fairseq.data.data_utils_fast",  # compiled against numpy
           "fairseq_plugin", "knee_nlp", "transformers", "accelerate", "hf_integration",
           "hf_integration.pretrain_bert.run", "pytorch_optimizer", "datasets", "sacrebleu",
           "sacremoses", "tensorboard")
VERSIONED = {"torch": "torch", "fairseq": "ve-fairseq", "transformers": "transformers",
             "accelerate": "accelerate", "datasets": "datasets", "pytorch-optimizer": "pytorch-optimizer",
             "hydra-core": "hydra-core", "omegaconf": "omegaconf", "tokenizers": "tokenizers"}
OVERFLOW_NOTE = "gradient overflow detected"
REL_TOL, ABS_TOL = 1e-12, 1e-18  # "exact" for floats computed by two code paths

# fairseq-fp16: a 2+2-layer Transformer, 300 updates on Multi30k (about 3 epochs), the multi30k
# preset's optimizer settings with a short warmup.
FAIRSEQ_UPDATES, FAIRSEQ_WARMUP, FAIRSEQ_PEAK = 300, 30, 5e-4
# trainer: the README's tiny GPT-2; fp16 starts its loss scale at 2**30 and doubles it every 5 good
# steps (torch's defaults are 2**16 and 2000), so steps overflow at the start and again later.
TRAINER_STEPS, TRAINER_WARMUP, TRAINER_PEAK = 60, 6, 1e-3
FP16_INIT_SCALE, FP16_GROWTH_INTERVAL = 2.0 ** 30, 5
# bert-bf16: the tiny preset with short phases, every update logged.
BERT_STEPS = {"phase1": 60, "phase2": 20}


class CheckFailed(Exception):
    """A check's result is wrong; the message says what was expected and what was logged."""


def close(value: float, expected: float) -> bool:
    """``value == expected`` up to float rounding between two code paths."""
    return abs(value - expected) <= REL_TOL * abs(expected) + ABS_TOL


# ---------------------------------------------------------------- fairseq --fp16 (pure parts)


@dataclass(frozen=True)
class FairseqLog:
    """What a ``--log-format json --log-interval 1`` fairseq-train log says about each update."""

    updates: list[int]       # num_updates of the train_inner records, in log order
    lrs: list[str]           # their LR as printed ({:g})
    losses: list[float]
    overflows_before: int    # overflow notes before the first train_inner record
    overflows_during: int    # overflow notes after it (during training)


def parse_fairseq_log(text: str) -> FairseqLog:
    """The ``train_inner`` records and the overflow notes of a fairseq-train log (in order)."""
    updates: list[int] = []
    lrs: list[str] = []
    losses: list[float] = []
    before = during = 0
    for line in text.splitlines():
        if OVERFLOW_NOTE in line:
            if updates:
                during += 1
            else:
                before += 1
        elif "| train_inner |" in line and "{" in line:
            record = json.loads(line[line.index("{"):])
            updates.append(int(record["num_updates"]))
            lrs.append(str(record["lr"]))
            losses.append(float(record["loss"]))
    return FairseqLog(updates, lrs, losses, before, during)


def check_fairseq_log(log: FairseqLog, core: KneeSchedule) -> str:
    """Updates 1..``core.total_steps`` each logged once, overflows during training, ``lr`` equal to
    ``core(num_updates)`` as fairseq prints it (``{:g}``) and a falling loss; a verdict line."""
    total = core.total_steps
    if log.updates != list(range(1, total + 1)):
        raise CheckFailed(f"num_updates of the train_inner records are not 1..{total} once each: "
                          f"{_sequence_problem(log.updates, total)}")
    if log.overflows_during == 0:
        raise CheckFailed(f"no gradient overflow after update 1 ({log.overflows_before} before it): "
                          "the skip path was not exercised during training")
    for update, lr in zip(log.updates, log.lrs):
        if lr != f"{core(update):g}":
            raise CheckFailed(f"update {update}: logged lr {lr}, core {core(update):g}")
    if not log.losses[-1] < log.losses[0]:
        raise CheckFailed(f"training loss did not fall: {log.losses[0]} at update 1, "
                          f"{log.losses[-1]} at update {total}")
    return (f"fairseq --fp16: updates 1..{total} each logged once with lr == core(num_updates); "
            f"{log.overflows_before} overflows before update 1 and {log.overflows_during} during "
            f"training, none advanced num_updates; loss {log.losses[0]:g} -> {log.losses[-1]:g}")


def _sequence_problem(updates: list[int], total: int) -> str:
    """Where ``updates`` first departs from 1..total, with the missing and repeated numbers."""
    seen = set(updates)
    missing = [n for n in range(1, total + 1) if n not in seen][:5]
    repeated = sorted({n for n in updates if updates.count(n) > 1})[:5]
    first = next((i for i, n in enumerate(updates) if n != i + 1), len(updates))
    got = updates[first] if first < len(updates) else "end of log"
    return (f"record #{first + 1} is {got}, expected {first + 1}; {len(updates)} records, "
            f"missing {missing or 'none'}, repeated {repeated or 'none'}")


# ---------------------------------------------------------------- Trainer (pure parts)


def expected_trainer_lrs(core: KneeSchedule, steps: int, skipped: Iterable[int]) -> list[float]:
    """The LR the Trainer logs for global steps 1..``steps``: the LR each step used, ``core(u)``
    with ``u`` the updates applied before it (a skipped step applies none)."""
    skipped = set(skipped)
    applied, trace = 0, []
    for step in range(1, steps + 1):
        trace.append(core(applied))
        applied += step not in skipped
    return trace


def check_trainer_trace(logged: Sequence[float], core: KneeSchedule, skipped: Sequence[int],
                        precision: str) -> str:
    """``logged`` (one LR per global step) is exactly :func:`expected_trainer_lrs`; a verdict line.

    bf16 skips no step, so the trace is ``[core(k) for k in range(steps)]``. fp16 must skip steps,
    one at least after the first applied update; the step after each skipped one repeats its LR
    (counting equal neighbours would not do: explore's plateau repeats too).
    """
    steps = core.total_steps
    if len(logged) != steps:
        raise CheckFailed(f"{len(logged)} learning_rate entries logged for {steps} steps")
    if precision == "bf16" and skipped:
        raise CheckFailed(f"bf16 skipped steps {list(skipped)}: bf16 has no loss scale to overflow")
    if precision == "fp16":
        first_applied = next((step for step in range(1, steps + 1) if step not in skipped), steps + 1)
        if not any(step > first_applied for step in skipped):
            raise CheckFailed(f"fp16 skipped steps {list(skipped)}: none after the first applied update "
                              f"(step {first_applied}), so the skip path was not exercised mid-schedule")
    for step, (value, wanted) in enumerate(zip(logged, expected_trainer_lrs(core, steps, skipped)), start=1):
        if not close(value, wanted):
            applied = step - 1 - sum(s < step for s in skipped)
            raise CheckFailed(f"step {step}: logged learning_rate {value!r}, expected core({applied}) = "
                              f"{wanted!r} (skipped steps {list(skipped)})")
    exact = f"Trainer --{precision}: {steps} logged LRs == core(updates applied before the step)"
    if not skipped:
        return f"{exact}; no step skipped"
    repeats = [step for step in skipped if step < steps and logged[step] == logged[step - 1]]
    return (f"{exact}; {len(skipped)} steps skipped {list(skipped)}, the next step repeated the LR "
            f"after {len(repeats)} of them (a skip at the last step has no next step)")


# ---------------------------------------------------------------- BERT launcher (pure parts)


def bert_series(metrics_text: str, phase: str, key: str) -> dict[int, float]:
    """``{step: value}`` of ``<phase>/<key>`` in ``metrics.jsonl`` (a repeated step is an error)."""
    name, series = f"{phase}/{key}", {}
    for line in metrics_text.splitlines():
        record = json.loads(line)
        if name in record:
            if record["step"] in series:
                raise CheckFailed(f"{name} logged twice at step {record['step']}")
            series[record["step"]] = record[name]
    return series


def check_bert_run(output: str, metrics_text: str, schedules: dict[str, KneeSchedule]) -> str:
    """The launcher says bf16 mixed precision; each phase logs ``lr == core(step)`` at steps
    1..total and skips no update; a verdict line."""
    if "mixed precision bf16" not in output:
        raise CheckFailed("the launcher did not report 'mixed precision bf16'")
    for phase, core in schedules.items():
        lrs = bert_series(metrics_text, phase, "lr")
        if sorted(lrs) != list(range(1, core.total_steps + 1)):
            raise CheckFailed(f"{phase}/lr logged at {len(lrs)} steps {_span(sorted(lrs))}, expected "
                              f"every step 1..{core.total_steps} (logging.log_every=1)")
        for step, value in sorted(lrs.items()):
            if not close(value, core(step)):
                raise CheckFailed(f"{phase} step {step}: logged lr {value!r}, core {core(step)!r}")
        skipped = bert_series(metrics_text, phase, "skipped_updates")
        if any(skipped.values()):
            raise CheckFailed(f"{phase}: bf16 skipped {max(skipped.values())} updates")
    steps = ", ".join(f"{phase} 1..{core.total_steps}" for phase, core in schedules.items())
    return f"BERT launcher bf16: lr == core(step) at every update ({steps}), no update skipped"


def _span(steps: list[int]) -> str:
    return f"{steps[0]}..{steps[-1]}" if steps else "(none)"


# ---------------------------------------------------------------- bundle and summary (pure parts)


def bundle_problems(bundle: Path) -> list[str]:
    """What is missing or damaged in ``bundle`` (empty when the checks can run from it)."""
    if not bundle.is_dir():
        return [f"{bundle}: no bundle; make it with `bash bench/gpu_bundle.sh` where pip reaches "
                "PyPI, and carry it to the GPU machine"]
    wheels = [path.name for path in (bundle / "wheels").glob("*.whl")]
    problems = [f"{bundle}/wheels/{name}: not for CPython 3.12 on Linux x86_64"
                for name in wheels if not wheel_fits(name)]
    for dist in BUNDLED:
        found = [name for name in wheels if name.split("-")[0].lower() == re.sub(r"[-_.]+", "_", dist)]
        if len(found) != 1:
            problems.append(f"{bundle}/wheels: {len(found)} wheels of {dist} (need exactly one): {found}")
    for relative in BUNDLED_DATA:
        path = bundle / relative
        if not path.is_file() or path.stat().st_size == 0:
            problems.append(f"{path}: missing or empty")
    return problems + checksum_problems(bundle)


def wheel_fits(filename: str) -> bool:
    """Whether a wheel (by its file name's tags) installs on CPython 3.12, Linux x86_64."""
    python, abi, platforms = filename.removesuffix(".whl").split("-")[-3:]
    pythons = python.split(".")
    stable_abi = abi == "abi3" and any(re.fullmatch(r"cp3\d+", tag) and int(tag[3:]) <= 12 for tag in pythons)
    interpreter = stable_abi or (
        abi in ("none", "cp312") and any(tag in ("py3", "py312", "cp312") for tag in pythons))
    return interpreter and any(tag == "any" or re.fullmatch(r"(many)?linux\w*_x86_64", tag)
                               for tag in platforms.split("."))


def checksum_problems(bundle: Path) -> list[str]:
    """Files of ``bundle/SHA256SUMS`` that are missing or differ (a carry cut short)."""
    listing = bundle / CHECKSUMS
    if not listing.is_file():
        return [f"{listing}: missing"]
    problems = []
    for line in listing.read_text().splitlines():
        digest, relative = line.split(maxsplit=1)
        path = bundle / relative
        if not path.is_file():
            problems.append(f"{path}: listed in {CHECKSUMS} but missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{path}: SHA-256 differs from {CHECKSUMS}")
    return problems


def build_summary(steps: list[dict[str, Any]], results: dict[str, dict[str, Any]],
                  environment: dict[str, Any]) -> dict[str, Any]:
    """summary.json: the environment, then each step's status, wall seconds and what its check
    recorded (verdict or error, peak CUDA memory); ``result`` is ``pass`` when every step passed."""
    rows = [{**step, **results.get(step["step"], {})} for step in steps]
    not_passed = [row["step"] for row in rows if row["status"] != "pass"]
    return {"result": "fail" if not_passed or not rows else "pass", "not_passed": not_passed, **environment,
            "steps": rows}


# ---------------------------------------------------------------- running things


def child_env() -> dict[str, str]:
    """The environment of a child process: the repo root first on ``PYTHONPATH``."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), path) if p)}


def run_streamed(argv: Sequence[str]) -> tuple[int, str]:
    """Run ``argv`` with its output streamed to ours line by line (kept if we are killed) and
    returned."""
    lines = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=child_env()) as process:
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
    return process.returncode, "".join(lines)


def run_module_measured(module: str, argv: Sequence[str], work_dir: Path, findings: dict[str, Any]) -> str:
    """``python -m module argv`` through ``run-module``; its peak CUDA memory goes into ``findings``.
    Returns the output; ``CheckFailed`` when it exits non-zero."""
    peak_file = work_dir / f"{module}.peak.json"
    peak_file.unlink(missing_ok=True)
    rc, output = run_streamed([sys.executable, __file__, "run-module", "--peak-file", str(peak_file),
                               module, *argv])
    if peak_file.is_file():
        findings.update(json.loads(peak_file.read_text()))
    if rc:
        raise CheckFailed(f"python -m {module} exited with {rc}")
    return output


def peak_cuda_memory() -> int | None:
    """``torch.cuda.max_memory_allocated()`` of this process, None when CUDA was never used."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return int(torch.cuda.max_memory_allocated())


# ---------------------------------------------------------------- the checks


def fairseq_fp16(args: argparse.Namespace, findings: dict[str, Any]) -> str:
    """fairseq-train --fp16 --lr-scheduler knee on Multi30k, overflowing before and during training."""
    from knee_nlp.plugin_dir import fairseq_user_dir

    core = KneeSchedule(peak_lr=FAIRSEQ_PEAK, total_steps=FAIRSEQ_UPDATES, warmup_steps=FAIRSEQ_WARMUP,
                        explore_ratio=0.5)
    argv = [str(args.data_bin), "--user-dir", str(fairseq_user_dir()), "--fp16",
            "--fp16-init-scale", str(2 ** 30), "--fp16-scale-window", "10",
            "--arch", "transformer", "--encoder-layers", "2", "--decoder-layers", "2",
            "--share-all-embeddings", "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)",
            "--clip-norm", "1.0", "--lr", str(FAIRSEQ_PEAK),
            "--lr-scheduler", "knee", "--explore-ratio", "0.5", "--warmup-updates", str(FAIRSEQ_WARMUP),
            "--max-update", str(FAIRSEQ_UPDATES), "--max-tokens", "4096", "--seed", "1",
            "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
            "--log-format", "json", "--log-interval", "1", "--no-save", "--disable-validation",
            "--save-dir", str(args.work_dir / "fairseq_fp16")]
    output = run_module_measured("fairseq_cli.train", argv, args.work_dir, findings)
    log = parse_fairseq_log(output)
    findings.update(overflows_before_update_1=log.overflows_before,
                    overflows_during_training=log.overflows_during)
    return check_fairseq_log(log, core)


def trainer(args: argparse.Namespace, findings: dict[str, Any]) -> str:
    """KneeTrainer on the README's tiny GPT-2 under ``--precision``; fp16 overflows on purpose."""
    logged, skipped, peak = train_tiny_gpt2(args.precision, args.work_dir)
    findings.update(peak_cuda_memory_bytes=peak, skipped_steps=skipped, logged_lr=logged)
    core = KneeSchedule(peak_lr=TRAINER_PEAK, total_steps=TRAINER_STEPS, warmup_steps=TRAINER_WARMUP,
                        explore_ratio=0.5)
    return check_trainer_trace(logged, core, skipped, args.precision)


def train_tiny_gpt2(precision: str, work_dir: Path) -> tuple[list[float], list[int], int | None]:
    """Train the README's tiny GPT-2 (``tests/hf_integration/readme_examples/train_knee.py``) on
    this file's bytes; return the logged LR per step, the skipped steps and the peak CUDA memory."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, TrainerCallback, default_data_collator

    from hf_integration import KneeTrainer, KneeTrainingArguments

    class SkipRecorder(TrainerCallback):
        """Records the global steps (from 1) whose optimizer step the fp16 loss scaler skipped."""

        def __init__(self, accelerator: Any) -> None:
            self.accelerator, self.steps = accelerator, []

        def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.accelerator.optimizer_step_was_skipped:
                self.steps.append(state.global_step + 1)  # global_step counts it after this event

    ids = list(Path(__file__).read_bytes())
    block = 32
    dataset = [{"input_ids": ids[i:i + block], "labels": ids[i:i + block]}
               for i in range(0, len(ids) - block, block)]
    model = GPT2LMHeadModel(GPT2Config(vocab_size=256, n_positions=block, n_embd=32, n_layer=1, n_head=2))
    settings = KneeTrainingArguments(
        output_dir=str(work_dir / f"trainer_{precision}"), max_steps=TRAINER_STEPS,
        learning_rate=TRAINER_PEAK, warmup_steps=TRAINER_WARMUP, lr_scheduler_type="knee",
        explore_ratio=0.5, logging_steps=1, optim="adamw_torch",  # a fused optimizer hides skips
        save_strategy="no", report_to="none", disable_tqdm=True, **{precision: True})
    run = KneeTrainer(model=model, args=settings, train_dataset=dataset, data_collator=default_data_collator)
    recorder = SkipRecorder(run.accelerator)
    run.add_callback(recorder)
    if precision == "fp16":
        # TrainingArguments pass no GradScalerKwargs to accelerate: replace its scaler before
        # train() prepares the optimizer with it.
        if run.accelerator.scaler is None:
            raise CheckFailed("fp16 run has no loss scaler (is the model on a GPU?)")
        run.accelerator.scaler = torch.amp.GradScaler(
            run.accelerator.device.type, init_scale=FP16_INIT_SCALE, growth_interval=FP16_GROWTH_INTERVAL)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    run.train()
    logged = [entry["learning_rate"] for entry in run.state.log_history if "learning_rate" in entry]
    return logged, recorder.steps, peak_cuda_memory()


def bert_bf16(args: argparse.Namespace, findings: dict[str, Any]) -> str:
    """The BERT launcher, tiny preset with short phases, bf16; LR per update against the core."""
    run_dir = args.work_dir / "bert_bf16"
    overrides = [f"run_dir={run_dir}", "mixed_precision=bf16",
                 f"data.train_files=[{args.wikitext / 'test.txt'}]",
                 f"data.validation_files=[{args.wikitext / 'valid.txt'}]",
                 f"data.cache_dir={args.work_dir / 'bert_cache'}",
                 *(f"phases.{i}.total_steps={steps}" for i, steps in enumerate(BERT_STEPS.values())),
                 "logging.log_every=1", "logging.save_every=100000"]
    output = run_module_measured("hf_integration.pretrain_bert", ["--config", "tiny", *overrides],
                                 args.work_dir, findings)
    metrics = (run_dir / "logs" / "metrics.jsonl").read_text()
    return check_bert_run(output, metrics, bert_schedules(overrides))


def bert_schedules(overrides: list[str]) -> dict[str, KneeSchedule]:
    """The core schedule of each phase of ``--config tiny`` with ``overrides``."""
    from hf_integration.pretrain_bert.config import load_config

    return {phase.name: KneeSchedule(peak_lr=phase.peak_lr, total_steps=phase.total_steps,
                                     warmup_steps=phase.num_warmup_steps, explore_steps=phase.explore_steps,
                                     explore_ratio=phase.explore_ratio)
            for phase in load_config("tiny", overrides).phases}


def multi30k_full(args: argparse.Namespace, findings: dict[str, Any]) -> str:
    """``knee-nlp reproduce multi30k --preset full``, inverse_sqrt and knee, 50 epochs, seed 1."""
    run_dir = args.work_dir / "multi30k_full"
    rc, _ = run_streamed([sys.executable, "-m", "knee_nlp", "reproduce", "multi30k", "--preset", "full",
                          "--data-dir", str(args.data_dir), "--run-dir", str(run_dir),
                          "--schedules", "inverse_sqrt", "knee", "--budgets", "50ep", "--seeds", "1"])
    if rc:
        raise CheckFailed(f"knee-nlp reproduce exited with {rc}")
    print((run_dir / "results.md").read_text())
    return f"Multi30k full preset finished: {run_dir / 'results.md'}"


# ---------------------------------------------------------------- gpu_check.sh's helpers


def requirements(_: argparse.Namespace) -> None:
    """Print ``name==version`` of each bundled distribution as installed here (the tested ones)."""
    for dist in BUNDLED:
        print(f"{dist}=={importlib.metadata.version(dist)}")


def inputs(args: argparse.Namespace) -> None:
    """Exit 2 naming every missing or damaged input of the bundle."""
    problems = bundle_problems(args.bundle)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        raise SystemExit(2)
    print(f"inputs: {len(BUNDLED)} wheels and {len(BUNDLED_DATA)} data files in {args.bundle}, checksums match")


def imports(_: argparse.Namespace, findings: dict[str, Any]) -> str:
    """Import every module a check needs; fail naming those that do not import."""
    errors = {}
    for module in MODULES:
        try:
            importlib.import_module(module)
        except Exception as error:  # any import failure is a finding to report
            errors[module] = f"{type(error).__name__}: {error}"
    if errors:
        raise CheckFailed(f"modules that do not import: {errors}")
    return f"{len(MODULES)} modules import"


def cuda(_: argparse.Namespace, findings: dict[str, Any]) -> str:
    """The GPU: fail when torch sees none."""
    import torch

    if not torch.cuda.is_available():
        raise CheckFailed(f"torch {torch.__version__} sees no CUDA device")
    gpu = torch.cuda.get_device_name(0)
    major, minor = torch.cuda.get_device_capability(0)
    findings.update(gpu=gpu, capability=f"{major}.{minor}", cuda=torch.version.cuda)
    return f"{gpu} (sm_{major}{minor}), torch {torch.__version__}, CUDA {torch.version.cuda}"


def environment(bundle: Path, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Python and package versions, the GPU, and the git revision (of the tree, else the bundle's)."""
    versions = {}
    for name, dist in VERSIONED.items():
        try:
            versions[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    source = bundle / SOURCE
    return {"python": platform.python_version(), "versions": versions,
            "gpu": results.get("cuda", {}).get("gpu"), "git_revision": git_revision(),
            "bundle_source": source.read_text().strip() if source.is_file() else None}


def git_revision() -> str | None:
    """``HEAD`` of the checkout (``+dirty`` with uncommitted changes), None without ``.git``."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        return None
    revision = _git("rev-parse", "HEAD")
    return (revision + ("+dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")) or None


def _git(*argv: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True).stdout.strip()


def summary(args: argparse.Namespace) -> None:
    """Write summary.json into ``--out`` with the step logs (8 files at most), print the outcome."""
    steps_file = args.work_dir / "steps.jsonl"
    steps = [json.loads(line) for line in steps_file.read_text().splitlines()] if steps_file.is_file() else []
    results = {path.name.removesuffix(".json"): json.loads(path.read_text())
               for path in sorted((args.work_dir / "results").glob("*.json"))}
    document = build_summary(steps, results, environment(args.bundle, results))
    args.out.mkdir(parents=True, exist_ok=True)
    logs = list(dict.fromkeys(row["log"] for row in steps))
    for name in logs[:7]:  # the device tool returns 8 files: these and summary.json
        if (args.work_dir / "logs" / name).is_file():
            shutil.copyfile(args.work_dir / "logs" / name, args.out / name)
    (args.out / "summary.json").write_text(json.dumps(document, indent=1) + "\n")
    if args.print:
        for row in document["steps"]:
            wall = "-" if row["wall_s"] is None else row["wall_s"]
            print(f"{row['status']:>8}  {row['step']:<14} {wall:>6} s  "
                  f"{row.get('error') or row.get('detail') or row.get('reason') or ''}")
        print(f"result: {document['result'].upper()}; {args.out / 'summary.json'}")


def run_module(args: argparse.Namespace) -> None:
    """Run ``python -m MODULE ARGS`` in this process, then write its peak CUDA memory."""
    sys.argv = [args.module, *args.args]
    try:
        runpy.run_module(args.module, run_name="__main__", alter_sys=True)
    finally:
        args.peak_file.write_text(json.dumps({"peak_cuda_memory_bytes": peak_cuda_memory()}))


# ---------------------------------------------------------------- command line


Check = Callable[[argparse.Namespace, dict[str, Any]], str]


def record(work_dir: Path, name: str, check: Check, args: argparse.Namespace) -> None:
    """Run ``check`` and write ``results/<name>.json``: what it measured (its ``findings``, kept
    when it fails) with its verdict as ``detail`` or its failure as ``error``; exit 1 on failure."""
    findings: dict[str, Any] = {}
    try:
        findings["detail"] = check(args, findings)
    except CheckFailed as failure:
        findings["error"] = str(failure)
    except Exception as error:  # an unattended run records every crash, then fails
        traceback.print_exc()
        findings["error"] = f"{type(error).__name__}: {error}"
    (work_dir / "results").mkdir(parents=True, exist_ok=True)
    (work_dir / "results" / f"{name}.json").write_text(json.dumps(findings, indent=1) + "\n")
    print(f"{'FAIL' if 'error' in findings else 'PASS'}: {findings.get('error') or findings['detail']}")
    if "error" in findings:
        raise SystemExit(1)


CHECKS: dict[str, tuple[str | None, Check]] = {  # subcommand: (result name, check); as gpu_check.sh's steps
    "fairseq-fp16": ("fairseq_fp16", fairseq_fp16),
    "trainer": (None, trainer),  # trainer_<precision>
    "bert-bf16": ("bert_bf16", bert_bf16),
    "multi30k-full": ("multi30k_full", multi30k_full),
    "imports": ("imports", imports),
    "cuda": ("cuda", cuda),
}


def parser() -> argparse.ArgumentParser:
    commands = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = commands.add_subparsers(dest="command", required=True)
    for name in CHECKS:
        check = sub.add_parser(name)
        check.add_argument("--work-dir", type=Path, required=True)
    sub.choices["fairseq-fp16"].add_argument("--data-bin", type=Path, required=True)
    sub.choices["trainer"].add_argument("--precision", choices=["fp16", "bf16"], required=True)
    sub.choices["bert-bf16"].add_argument("--wikitext", type=Path, required=True,
                                          help="WikiText-2's tokens/ folder (test.txt, valid.txt)")
    sub.choices["multi30k-full"].add_argument("--data-dir", type=Path, required=True)
    sub.add_parser("requirements")
    sub.add_parser("inputs").add_argument("--bundle", type=Path, required=True)
    report = sub.add_parser("summary")
    for flag in ("--work-dir", "--out", "--bundle"):
        report.add_argument(flag, type=Path, required=True)
    report.add_argument("--print", action="store_true")
    module = sub.add_parser("run-module")
    module.add_argument("--peak-file", type=Path, required=True)
    module.add_argument("module")
    module.add_argument("args", nargs=argparse.REMAINDER)
    return commands


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    helpers = {"requirements": requirements, "inputs": inputs, "summary": summary, "run-module": run_module}
    if args.command in helpers:
        helpers[args.command](args)
        return
    name, check = CHECKS[args.command]
    args.work_dir.mkdir(parents=True, exist_ok=True)
    record(args.work_dir, name or f"trainer_{args.precision}", check, args)


if __name__ == "__main__":
    main()
