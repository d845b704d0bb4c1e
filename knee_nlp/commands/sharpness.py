"""``knee-nlp sharpness``: Keskar et al.'s epsilon-sharpness of a fairseq or Hugging Face model.

Examples::

    knee-nlp sharpness fairseq checkpoints/checkpoint_last.pt data-bin/iwslt14.tokenized.de-en \\
        --max-batches 8 --output sharpness.json
    knee-nlp sharpness hf runs/bert-tiny-knee/phase2/final wikitext-2/tokens/train.txt \\
        --max-batches 8 --output sharpness.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from knee_nlp.errors import fail
from knee_nlp.outputs import guard_new_file
from knee_nlp.validation import check_number, check_probability, check_step_count
from knee_nlp.sharpness import DEFAULT_EPS, DEFAULT_LR, DEFAULT_STEPS


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("measurement")
    group.add_argument("--max-batches", type=int, default=8,
                       help="Measure on a seeded random sample of at most this many batches "
                            "(default 8); every ascent step evaluates all of them.")
    group.add_argument("--eps", type=float, default=DEFAULT_EPS,
                       help=f"Box size: |w'-w| <= eps (|w| + 1) (default {DEFAULT_EPS:g}, the authors' tool).")
    group.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                       help=f"Projected gradient-ascent steps (default {DEFAULT_STEPS}, the authors' tool).")
    group.add_argument("--lr", type=float, default=DEFAULT_LR,
                       help=f"Adam step in units of the box half-width (default {DEFAULT_LR:g}).")
    group.add_argument("--subspace-dim", type=int, default=None,
                       help="Ascend in Keskar's random p-dimensional subspace (default: full space).")
    group.add_argument("--seed", type=int, default=0,
                       help="Seed of the batch sample, the masking, the random start and A (default 0).")
    group.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda or cuda:N.")
    group.add_argument("--output", "-o", default="sharpness.json", help="JSON path (default sharpness.json).")
    group.add_argument("--overwrite", action="store_true", help="Replace --output if it exists.")
    group.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")


def _load(args: argparse.Namespace, device: object):
    from knee_nlp import sharpness_targets

    if args.source == "fairseq":
        return sharpness_targets.fairseq_target(
            Path(args.checkpoint), Path(args.data), split=args.split, max_batches=args.max_batches,
            max_tokens=args.max_tokens, seed=args.seed, device=device,
        )
    return sharpness_targets.hf_mlm_target(
        Path(args.model_dir), [Path(p) for p in args.text], max_batches=args.max_batches,
        batch_size=args.batch_size, max_seq_length=args.max_seq_length,
        mlm_probability=args.mlm_probability, seed=args.seed, device=device,
    )


def check_settings(args: argparse.Namespace) -> None:
    """Every measurement flag in range, before any model or data is loaded."""
    check_step_count("--max-batches", args.max_batches, minimum=1)
    check_number("--eps", args.eps, inclusive=False)
    check_step_count("--steps", args.steps, minimum=1)
    check_number("--lr", args.lr, inclusive=False)
    if args.subspace_dim is not None:
        check_step_count("--subspace-dim", args.subspace_dim, minimum=1)
    check_step_count("--seed", args.seed)
    if args.source == "fairseq":
        if args.max_tokens is not None:
            check_step_count("--max-tokens", args.max_tokens, minimum=1)
        return
    check_step_count("--batch-size", args.batch_size, minimum=1)
    check_step_count("--max-seq-length", args.max_seq_length, minimum=3)  # [CLS] + 1 token + [SEP]
    check_probability("--mlm-probability", args.mlm_probability)


def run(args: argparse.Namespace) -> int:
    """Load the model and its sample of batches, measure, print and write the JSON."""
    try:
        output = guard_new_file(args.output, overwrite=args.overwrite)
        check_settings(args)
        from knee_nlp.sharpness import keskar_sharpness
        from knee_nlp.sharpness_targets import resolve_device

        device = resolve_device(args.device)
        target = _load(args, device)
        started = time.perf_counter()
        result = keskar_sharpness(
            target.model, target.batches, target.loss_fn, eps=args.eps, steps=args.steps, lr=args.lr,
            subspace_dim=args.subspace_dim, seed=args.seed, progress=not args.no_progress,
        )
    except (ValueError, FileExistsError) as error:
        fail(f"knee-nlp sharpness {args.source}", error)
    seconds = time.perf_counter() - started
    used, available = result.batches, target.batches_available
    sample = (f"a seeded sample of {used} of {available} batches" if used < available
              else f"all {available} batches")
    record = {
        **result.to_dict(), "sample": sample, "batches_available": available,
        "device": str(device), "seconds": round(seconds, 2), "source": target.description,
        "formula": "100 * (max L(w') - L(w)) / (1 + L(w)), |w'-w| <= eps (|w| + 1)",
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(record, indent=2) + "\n")
    space = f"random {result.subspace_dim}-dim subspace" if result.subspace_dim else "full space"
    print(f"sharpness {result.value:.4g}  (eps {result.eps:g}, {result.steps} steps, {space}; "
          f"L(w) {result.loss:.4f}, max L(w') {result.max_loss:.4f}; {sample}; {seconds:.1f} s)")
    print(f"wrote {output}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``knee-nlp sharpness fairseq`` and ``knee-nlp sharpness hf``."""
    parser = subparsers.add_parser(
        "sharpness", help="Keskar epsilon-sharpness (minima width) of a trained model.",
        description="Measure Keskar et al.'s epsilon-sharpness 100 * (max L(w') - L(w)) / (1 + L(w)) "
        "over the box |w'-w| <= eps (|w| + 1) by projected gradient ascent on the training loss, "
        "print it and write it with the settings to a JSON file.",
    )
    sources = parser.add_subparsers(dest="source", required=True, metavar="SOURCE")
    fairseq = sources.add_parser(
        "fairseq", help="A fairseq checkpoint with its binarized data.",
        description="Loss: the checkpoint's criterion (e.g. label-smoothed cross-entropy) per target "
        "token, on batches of --split grouped like training batches (the checkpoint's --max-tokens; no "
        "batch-size multiple, so the count can differ slightly from the training epoch's).",
    )
    fairseq.add_argument("checkpoint", help="A fairseq checkpoint (.pt).")
    fairseq.add_argument("data", help="The fairseq-preprocess --destdir the model was trained on.")
    fairseq.add_argument("--split", default="train", help="Data split to measure on (default train).")
    fairseq.add_argument("--max-tokens", type=int, default=None,
                         help="Tokens per batch (default: the checkpoint's training --max-tokens).")
    _common_arguments(fairseq)
    fairseq.set_defaults(func=run)

    hf = sources.add_parser(
        "hf", help="A Hugging Face masked-LM save_pretrained directory with text files.",
        description="Loss: the masked-LM loss on packed blocks of the text, masked once with a "
        "seeded generator (80/10/10 BERT masking), so L(w) is deterministic.",
    )
    hf.add_argument("model_dir", help="save_pretrained directory (model and tokenizer).")
    hf.add_argument("text", nargs="+", help="Plain-text file(s), e.g. the training text.")
    hf.add_argument("--batch-size", type=int, default=16, help="Blocks per batch (default 16).")
    hf.add_argument("--max-seq-length", type=int, default=128, help="Tokens per block (default 128).")
    hf.add_argument("--mlm-probability", type=float, default=0.15, help="Masked share (default 0.15).")
    _common_arguments(hf)
    hf.set_defaults(func=run)
