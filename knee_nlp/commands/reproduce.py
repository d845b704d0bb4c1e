"""``knee-nlp reproduce``: run the paper's translation experiments with fairseq and report.

Example::

    knee-nlp reproduce iwslt14 --preset tiny                      # minutes on a laptop CPU
    knee-nlp reproduce iwslt14 --data-dir data-bin/iwslt14.tokenized.de-en --seeds 1 2 3
    knee-nlp reproduce wmt14 --data-dir data-bin/wmt14_en_de --gpus 8 --fp16
"""

from __future__ import annotations

import argparse
from pathlib import Path

from knee_nlp.commands.argtypes import check_unique, count, seed
from knee_nlp.errors import UserError, fail, interrupted
from knee_nlp.outputs import check_writable_dir
from knee_nlp.reproduce.config import SCHEDULES


def run(args: argparse.Namespace) -> int:
    """Build the request, run it, print where the report is."""
    from knee_nlp.reproduce.explore import explore_choice, read_recommendation
    from knee_nlp.reproduce.pipeline import Request, reproduce

    check_unique("--seeds", args.seeds)
    check_unique("--schedules", args.schedules)
    check_unique("--budgets", args.budgets)
    try:
        explore = (explore_choice(args.explore_ratio) if args.explore_ratio is not None
                   else read_recommendation(Path(args.explore_from), args.experiment, args.preset)
                   if args.explore_from else None)
    except UserError as error:
        fail("knee-nlp reproduce", error)
    request = Request(
        experiment=args.experiment, preset=args.preset,
        run_dir=check_writable_dir(args.run_dir or f"runs/{args.experiment}-{args.preset}", "--run-dir"),
        schedules=tuple(args.schedules) if args.schedules else None,
        budgets=tuple(args.budgets) if args.budgets else None,
        seeds=tuple(args.seeds) if args.seeds else None, gpus=args.gpus,
        precision="fp16" if args.fp16 else "bf16" if args.bf16 else "fp32",
        data_dir=Path(args.data_dir) if args.data_dir else None,
        config_dir=Path(args.config_dir) if args.config_dir else None, dry_run=args.dry_run,
        raw_dir=Path(args.raw_dir) if args.raw_dir else None,
        explore=explore,
    )
    try:
        run_dir = reproduce(request)
    except (UserError, FileExistsError, FileNotFoundError) as error:
        fail("knee-nlp reproduce", error)
    except KeyboardInterrupt:
        interrupted("knee-nlp reproduce", "run the same command again to resume (finished runs are "
                    "kept, unfinished ones continue from their last checkpoint)")
    if not args.dry_run:
        print((run_dir / "results.md").read_text())
        print(f"wrote {run_dir / 'results.md'}, {run_dir / 'results.json'} and plots in {run_dir}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``knee-nlp reproduce``."""
    parser = subparsers.add_parser(
        "reproduce", help="Train and score Knee against inverse-sqrt (and linear, cosine) with fairseq.",
        description="Run fairseq-train for every schedule x budget x seed of an experiment (each "
        "in its own directory under --run-dir; re-running resumes and never overwrites), average "
        "the last checkpoints, run fairseq-generate, score tokenized BLEU and sacreBLEU, and "
        "write results.md, results.json and plots. Without data, --preset tiny uses a synthetic "
        "corpus, labelled as such.",
    )
    parser.add_argument("experiment", help="Experiment name: a folder of the config dir "
                        "(iwslt14, wmt14, multi30k).")
    parser.add_argument("--preset", default="full",
                        help="A preset of the experiment (its budgets in experiment.yaml): full: "
                        "the paper-scale configs (GPUs); tiny (iwslt14, wmt14): a shrunk model and "
                        "data subset that runs in minutes on a CPU; cpu (multi30k): a small "
                        "Transformer on the real corpus, 615 updates a run on a laptop CPU "
                        "(default: full).")
    parser.add_argument("--schedules", nargs="+", choices=sorted(SCHEDULES), metavar="NAME",
                        help=f"Schedules to run, among {sorted(SCHEDULES)} (default: the "
                        "preset's list in experiment.yaml).")
    parser.add_argument("--budgets", nargs="+", metavar="NEp",
                        help="Budgets by config name, e.g. 50ep 35ep (default: the preset's list).")
    parser.add_argument("--seeds", nargs="+", type=seed, metavar="SEED",
                        help="Seeds, one run each, integers in [0, 2^32 - 1] (default: the preset's list).")
    parser.add_argument("--gpus", type=count(1), default=1,
                        help="GPUs for fairseq's distributed training on this node; the "
                        "recipe's global batch is kept by adjusting --update-freq/--max-tokens "
                        "(default 1).")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--fp16", action="store_true", help="fairseq --fp16 (CUDA only).")
    precision.add_argument("--bf16", action="store_true", help="fairseq --bf16 (CUDA only).")
    parser.add_argument("--run-dir", help="Where runs, checkpoints and the report go "
                        "(default runs/<experiment>-<preset>).")
    parser.add_argument("--data-dir", help="A fairseq data-bin or a folder of BPE'd "
                        "{train,valid,test}.<lang> text (default: the experiment's search_dirs).")
    parser.add_argument("--raw-dir", help="Experiments with a data recipe (multi30k): when no "
                        "data is found, prepare it from the release files in this folder instead "
                        "of downloading them.")
    tuned = parser.add_mutually_exclusive_group()
    tuned.add_argument("--explore-ratio", type=float, metavar="R",
                       help="Explore fraction (of the whole budget, in [0, 1]) of the tuned "
                       "'knee' schedule, replacing its config's value; choose it on validation "
                       "data, never on the test set. Recorded in the run dir's reproduce.json.")
    tuned.add_argument("--explore-from", metavar="RECOMMENDED_JSON",
                       help="Take the tuned 'knee' explore fraction from a recommended.json "
                       "written by `knee-nlp sweep-explore` (chosen on validation scores).")
    parser.add_argument("--config-dir", help="Config root (default: the configs shipped inside "
                        "the knee_nlp package, or $KNEE_NLP_CONFIG_DIR).")
    parser.add_argument("--dry-run", action="store_true",
                        help="Check everything and print each run's full resolved config "
                        "and fairseq-train command, without training (e.g. to launch them on a cluster).")
    parser.set_defaults(func=run)
