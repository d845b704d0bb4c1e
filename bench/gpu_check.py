"""Checks of the GPU-only paths; run by ``bench/gpu_check.sh`` on a machine with one NVIDIA GPU.

Each check trains for real and compares the logged learning rates with
:class:`knee_nlp.KneeSchedule`. Under fp16 some optimizer updates are skipped (loss-scale
overflow): a skipped update must not advance the schedule, so the logged trace is the core
trace with repeats where updates were skipped, never with a value skipped.

Usage::

    python bench/gpu_check.py fairseq-fp16 --data-bin multi30k.de-en/data-bin --work-dir out/
    python bench/gpu_check.py trainer --precision fp16 --work-dir out/
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from knee_nlp.schedule import KneeSchedule

ROOT = Path(__file__).resolve().parents[1]


def follows_with_repeats(logged: list[float], core: list[float], rel: float = 1e-6) -> int:
    """How many entries of ``core`` ``logged`` walks through, each step staying or advancing by one.

    Raises ``AssertionError`` at the first logged value that is neither the current nor the next
    core value (a skipped update that moved the schedule, or a wrong value).

    >>> follows_with_repeats([0.5, 0.5, 1.0, 1.0], [0.5, 1.0, 1.0, 0.5])
    3
    """
    def close(a: float, b: float) -> bool:
        return abs(a - b) <= rel * max(abs(b), 1e-12)

    position = 0
    if not close(logged[0], core[0]):
        raise AssertionError(f"first logged LR {logged[0]} != {core[0]}")
    for index, value in enumerate(logged[1:], start=1):
        if position + 1 < len(core) and close(value, core[position + 1]):
            position += 1
        elif not close(value, core[position]):
            raise AssertionError(f"logged LR #{index} = {value} is neither {core[position]} "
                                 f"nor the next core value")
    return position + 1


def fairseq_fp16(args: argparse.Namespace) -> None:
    """``fairseq-train --lr-scheduler knee --fp16`` with a huge initial loss scale, so that the
    first updates overflow and are skipped; the LR per update must be the core value."""
    total, warmup = 300, 30
    log = args.work_dir / "fairseq_fp16.log"
    argv = [sys.executable, "-m", "fairseq_cli.train", str(args.data_bin), "--fp16",
            "--fp16-init-scale", str(2 ** 30), "--arch", "transformer",
            "--encoder-layers", "2", "--decoder-layers", "2", "--share-all-embeddings",
            "--optimizer", "adam", "--lr", "1e-3", "--lr-scheduler", "knee",
            "--explore-ratio", "0.5", "--warmup-updates", str(warmup),
            "--max-update", str(total), "--max-tokens", "4096",
            "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
            "--log-format", "json", "--log-interval", "1", "--no-save",
            "--disable-validation", "--save-dir", str(args.work_dir / "fairseq_fp16")]
    done = subprocess.run(argv, capture_output=True, text=True)
    log.write_text(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(f"fairseq-train --fp16 failed, see {log}")
    text = done.stdout + done.stderr
    overflows = len(re.findall(r"gradient overflow detected", text))
    core = KneeSchedule(peak_lr=1e-3, total_steps=total, warmup_steps=warmup, explore_ratio=0.5)
    checked = 0
    for line in text.splitlines():
        start = line.find('{"epoch"')
        record = json.loads(line[start:]) if start >= 0 else {}
        if "num_updates" in record and "lr" in record:  # train_inner lines (not epoch summaries)
            updates = int(record["num_updates"])  # fairseq prints the LR with {:g}
            assert record["lr"] == f"{core(updates):g}", (updates, record["lr"], core(updates))
            checked += 1
    assert overflows > 0, "no update overflowed: raise --fp16-init-scale to test the skip path"
    assert checked > 0, "no per-update LR found in the fairseq log"
    print(f"fairseq --fp16: {overflows} updates skipped on overflow; LR == core at {checked} "
          f"logged updates (of {total})")


def trainer(args: argparse.Namespace) -> None:
    """The README's ``train_knee.py`` on the GPU with fp16 or bf16; every logged LR on the core
    trajectory (repeats allowed only where an fp16 step was skipped)."""
    steps, peak = 40, 1e-3
    argv = [sys.executable, str(ROOT / "tests/hf_integration/readme_examples/train_knee.py"),
            "--output_dir", str(args.work_dir / f"trainer_{args.precision}"),
            "--max_steps", str(steps), "--learning_rate", str(peak), "--logging_steps", "1",
            "--lr_scheduler_type", "knee", "--explore_ratio", "0.5", "--warmup_steps", "0.1",
            "--optim", "adamw_torch", "--report_to", "none", f"--{args.precision}"]
    done = subprocess.run(argv, capture_output=True, text=True)
    (args.work_dir / f"trainer_{args.precision}.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(f"Trainer --{args.precision} failed:\n{done.stderr[-3000:]}")
    logged = json.loads(done.stdout.split("lr per step:", 1)[1].strip().replace("'", '"'))
    core = KneeSchedule(peak_lr=peak, total_steps=steps, warmup_steps=4, explore_ratio=0.5)
    reached = follows_with_repeats(logged, [core(k) for k in range(steps + 1)])
    print(f"Trainer --{args.precision}: {len(logged)} logged steps follow the core trajectory "
          f"through {reached} values ({len(logged) - reached} repeats = skipped steps)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    checks = parser.add_subparsers(dest="check", required=True)
    fp16 = checks.add_parser("fairseq-fp16")
    fp16.add_argument("--data-bin", type=Path, required=True)
    fp16.set_defaults(func=fairseq_fp16)
    hf = checks.add_parser("trainer")
    hf.add_argument("--precision", choices=["fp16", "bf16"], required=True)
    hf.set_defaults(func=trainer)
    for sub in (fp16, hf):
        sub.add_argument("--work-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    args.func(args)


if __name__ == "__main__":
    main()
