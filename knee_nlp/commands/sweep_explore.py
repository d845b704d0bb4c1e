"""``knee-nlp sweep-explore bert|translation``: explore fractions x seeds, report and recommend.

Examples (``bert``: the tiny BERT preset on WikiText-2, valid.txt split by article into
validation and test halves inside the sweep directory; ``translation``: a ``knee-nlp reproduce``
experiment and preset on its prepared data, scored on its valid and test subsets)::

    knee-nlp sweep-explore bert --sweep-dir sweeps/bert-tiny \\
        --train-file ../shared/data/wikitext-2/tokens/test.txt \\
        --validation-file ../shared/data/wikitext-2/tokens/valid.txt \\
        --explore-ratios 0 0.25 0.5 0.75 --seeds 1 2 3 4 5
    knee-nlp sweep-explore translation --sweep-dir sweeps/multi30k-cpu \\
        --data-dir multi30k.de-en --experiment multi30k --preset cpu \\
        --explore-ratios 0 0.25 0.5 0.75 --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import importlib.util
import math
from pathlib import Path

from knee_nlp.commands.argtypes import seed
from knee_nlp.errors import fail
from knee_nlp.outputs import check_writable_dir

#: a BERT launcher preset name (its YAML ships in hf_integration/pretrain_bert/presets/) or a file
DEFAULT_CONFIG = "tiny"


def config_file(name_or_path: str) -> Path:
    """``name_or_path`` if it is a file, else the launcher's preset of that name (not imported)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    package = importlib.util.find_spec("hf_integration")
    if package is None or package.origin is None:
        return path
    preset = Path(package.origin).parent / "pretrain_bert" / "presets" / f"{name_or_path}.yaml"
    return preset if preset.is_file() else path


DEFAULT_RATIOS = (0.0, 0.25, 0.5, 0.75)
DEFAULT_SEEDS = (1, 2, 3, 4, 5)
#: sweep defaults for the sharpness ascent, chosen for CPU time: on a trained tiny BERT they reach
#: 99.9% of the 200-step value, on the Multi30k Transformer about 99% (README, "How long to
#: explore"); the sharpness tool itself defaults to 1000 steps at lr 0.01
SWEEP_SHARPNESS_STEPS = 50
SWEEP_SHARPNESS_LR = 0.2
#: fixed training batches per backend: BERT's are 8 x 128 tokens; a translation batch holds the
#: checkpoint's --max-tokens (4,096 for multi30k cpu), so two of them are already 8,192 tokens
SWEEP_SHARPNESS_BATCHES = {"bert": 4, "translation": 2}
#: flags each backend needs unless --report-only
REQUIRED = {"bert": ("--train-file", "--validation-file"), "translation": ("--data-dir",)}


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise argparse.ArgumentTypeError(f"must be numbers in [0, 1), got {text!r}")
    return value


def _check(args: argparse.Namespace) -> None:
    """Early errors naming the flag and its allowed range."""
    for flag, values in (("--explore-ratios", args.explore_ratios), ("--seeds", args.seeds)):
        if len(set(values)) != len(values):
            raise ValueError(f"{flag} must not repeat a value, got {' '.join(map(str, values))}")
    if args.sharpness_steps < 1:
        raise ValueError(f"--sharpness-steps must be an integer >= 1, got {args.sharpness_steps}")
    if args.sharpness_batches < 1:
        raise ValueError(f"--sharpness-batches must be an integer >= 1, got {args.sharpness_batches}")
    for flag, value in (("--sharpness-lr", args.sharpness_lr), ("--eps", args.eps)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{flag} must be a number > 0, got {value:g}")
    if not args.report_only:
        for flag in REQUIRED[args.backend]:
            if getattr(args, flag[2:].replace("-", "_")) is None:
                raise ValueError(f"{flag} is required (unless --report-only)")
        check_writable_dir(args.sweep_dir, "--sweep-dir")
        from knee_nlp.sharpness_targets import resolve_device

        resolve_device(args.device)


def _bert(args: argparse.Namespace):
    """The BERT backend; its explore ratios are checked here, before anything is written."""
    from knee_nlp.sweep.bert import BertBackend

    backend = BertBackend(config_file(args.config), Path(args.train_file), Path(args.validation_file),
                          overrides=args.set, device=args.device)
    for ratio in args.explore_ratios:
        backend.check_ratio(ratio)
    return backend


def _translation(args: argparse.Namespace):
    """The translation backend; its explore ratios are checked against the budget in updates
    once the data is prepared, before the first run."""
    from knee_nlp.sweep.translation import TranslationBackend

    return TranslationBackend(Path(args.data_dir), experiment=args.experiment, preset=args.preset,
                              config_dir=Path(args.config_dir) if args.config_dir else None,
                              device=args.device)


def run(args: argparse.Namespace) -> int:
    sweep_dir = Path(args.sweep_dir)
    try:
        _check(args)
        from knee_nlp.sweep import runner

        if args.report_only:
            recommendation = runner.report(sweep_dir, args.backend)
        else:
            from knee_nlp.sweep.backend import SharpnessSettings

            backend = args.build(args)
            sharpness = SharpnessSettings(eps=args.eps, steps=args.sharpness_steps, lr=args.sharpness_lr,
                                          batches=args.sharpness_batches)
            data = backend.describe_data()
            print(f"sweep {sweep_dir}: explore ratios {' '.join(f'{r:g}' for r in args.explore_ratios)} x "
                  f"seeds {' '.join(map(str, args.seeds))}; validation = {data['validation']}; "
                  f"test = {data['test']}")
            if sharpness.steps < 1000:
                print(f"NOTE: sharpness with {sharpness.steps} ascent steps at lr {sharpness.lr:g} "
                      f"(eps {sharpness.eps:g}, {sharpness.batches} batches), not the tool's 1000 steps "
                      f"at lr 0.01: the sweep's CPU-time setting, checked for convergence (README)")
            recommendation = runner.run_sweep(sweep_dir, backend, args.explore_ratios, args.seeds, sharpness)
    except (ValueError, RuntimeError) as error:
        fail(f"knee-nlp sweep-explore {args.backend}", error)
    if recommendation:
        validation = recommendation["validation"]
        sd = "" if validation["sd"] is None else f" ± {validation['sd']:.4f}"
        print(f"recommended explore ratio {recommendation['explore_ratio']:g}: validation "
              f"{validation['mean']:.4f}{sd} over {validation['n']} seed(s) (chosen on validation, not test)")
        for note in recommendation.get("notes", []):
            print(f"  note: {note}")
        print(f"wrote {sweep_dir / 'results.md'}, results.json, explore_sweep.png, recommended.json")
    else:
        print(f"wrote {sweep_dir / 'results.md'} and results.json; no recommendation yet (see results.md)")
    return 0


def _common_arguments(parser: argparse.ArgumentParser, backend: str, batch: str) -> None:
    """The sweep directory, the grid, the sharpness settings and the device: every backend's."""
    parser.add_argument("--sweep-dir", required=True,
                        help="Sweep directory (created; re-runs resume in it): sweep.json, data/, runs/, results.")
    parser.add_argument("--explore-ratios", type=_ratio, nargs="+", default=list(DEFAULT_RATIOS), metavar="R",
                        help="Explore fractions of the budget, in [0, 1) and at most 1 - the warmup fraction "
                             f"(default {' '.join(f'{r:g}' for r in DEFAULT_RATIOS)}).")
    parser.add_argument("--seeds", type=seed, nargs="+", default=list(DEFAULT_SEEDS), metavar="S",
                        help=f"Training seeds, integers in [0, 2^32 - 1] (default {' '.join(map(str, DEFAULT_SEEDS))}).")
    group = parser.add_argument_group("sharpness (Keskar eps-sharpness of each final model)")
    group.add_argument("--sharpness-steps", type=int, default=SWEEP_SHARPNESS_STEPS,
                       help=f"Ascent steps (default {SWEEP_SHARPNESS_STEPS}: fewer than the sharpness tool's 1000, "
                            "for CPU time; within about 1%% of 200 steps at the default lr, see README).")
    group.add_argument("--sharpness-lr", type=float, default=SWEEP_SHARPNESS_LR,
                       help=f"Ascent step in box half-widths (default {SWEEP_SHARPNESS_LR:g}; the tool's is 0.01).")
    group.add_argument("--sharpness-batches", type=int, default=SWEEP_SHARPNESS_BATCHES[backend],
                       help=f"Fixed seeded sample of training batches of {batch} "
                            f"(default {SWEEP_SHARPNESS_BATCHES[backend]}), the same for every run.")
    group.add_argument("--eps", type=float, default=1e-4, help="Box size eps (default 1e-4, the authors' tool).")
    parser.add_argument("--report-only", action="store_true",
                        help="Only rewrite the report from the finished runs (no training).")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``knee-nlp sweep-explore bert`` and ``knee-nlp sweep-explore translation``."""
    parser = subparsers.add_parser(
        "sweep-explore", help="How long to explore: train several explore fractions x seeds, report and recommend.",
        description="Train the same small model with several explore fractions over several seeds on one "
        "budget; record each run's validation score, test score and Keskar sharpness; write "
        "results.md/json, explore_sweep.png (strip plots per explore setting) and recommended.json (the "
        "explore fraction with the best mean VALIDATION score, for knee-nlp reproduce --explore-from). "
        "BACKEND bert: the BERT launcher's tiny preset, MLM accuracy on a held-out text split by article. "
        "BACKEND translation: a knee-nlp reproduce experiment and preset (default multi30k cpu) with its "
        "knee schedule, BLEU of the final checkpoint on the valid subset (chooses) and the test subset "
        "(reported). Resumable: re-run the same command to continue; any subset of ratios and seeds can "
        "be run; a sweep directory refuses other settings. See `knee-nlp sweep-explore BACKEND --help`.",
    )
    backends = parser.add_subparsers(dest="backend", required=True, metavar="BACKEND")
    bert = backends.add_parser(
        "bert", help="Tiny BERT masked LM through the BERT launcher (MLM accuracy).",
        description="Train the BERT launcher's preset (default tiny) with every explore fraction and seed. "
        "The held-out --validation-file is split by article: first half = validation (chooses the explore "
        "fraction), second half = test (reported only), both written to <sweep-dir>/data/.",
        epilog="Example: knee-nlp sweep-explore bert --sweep-dir sweeps/bert-tiny --train-file "
        "wikitext-2/tokens/test.txt --validation-file wikitext-2/tokens/valid.txt",
    )
    bert.add_argument("--train-file", help="Training text (e.g. WikiText-2 tokens/test.txt, as the tiny preset).")
    bert.add_argument("--validation-file",
                      help="Held-out text, split by article (' = Title = ' lines): first half = validation "
                           "(chooses the explore fraction), second half = test (reported only).")
    bert.add_argument("--config", default=DEFAULT_CONFIG,
                      help="BERT launcher preset (tiny, bert-base, bert-large) or "
                      f"config file (default {DEFAULT_CONFIG}).")
    bert.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="Extra launcher override, repeatable (e.g. --set phases.0.total_steps=100); "
                           "part of the sweep's settings. Not allowed: seed, schedule, run_dir, data files, "
                           "logging.eval_batches, phases.N.explore_*.")
    bert.add_argument("--device", default="auto",
                      help="Device for scoring and sharpness: auto (cuda if available), cpu, cuda[:N].")
    _common_arguments(bert, "bert", "8 x 128 tokens")
    bert.set_defaults(func=run, build=_bert)

    translation = backends.add_parser(
        "translation", help="A knee-nlp reproduce experiment with fairseq (BLEU on valid and test).",
        description="Train the experiment's tuned knee schedule at the preset's full budget (its largest "
        "budget: 5 epochs = 615 updates for multi30k cpu) with every explore fraction and seed, exactly as "
        "knee-nlp reproduce trains it (fairseq-train, the average of the last checkpoints, fairseq-generate "
        "on the test set). Validation score: tokenized BLEU of that final checkpoint on the valid subset "
        "(fairseq-generate --gen-subset valid; chooses the explore fraction). Test score: the same on the "
        "test subset (reported only). Sharpness: the checkpoint's criterion on a fixed sample of training "
        "batches. Training and generation run on CUDA when available, else on the CPU (set "
        "OMP_NUM_THREADS). Explore ratios must leave room for the warmup: each is checked against the "
        "budget in updates before the first run.",
        epilog="Example: knee-nlp sweep-explore translation --sweep-dir sweeps/multi30k-cpu --data-dir "
        "multi30k.de-en --explore-ratios 0 0.25 0.5 0.75 --seeds 1 2 3 4 5",
    )
    translation.add_argument("--data-dir",
                             help="Prepared data: the output folder of `knee-nlp data` (its data-bin/ is "
                                  "used), a fairseq data-bin, or a folder of BPE'd {train,valid,test}.<lang> text.")
    translation.add_argument("--experiment", default="multi30k",
                             help="A knee-nlp reproduce experiment (default multi30k).")
    translation.add_argument("--preset", default="cpu",
                             help="A preset of the experiment (default cpu: the small Transformer, 615 updates).")
    translation.add_argument("--config-dir", help="Config root (default: the configs shipped inside the "
                             "knee_nlp package, or $KNEE_NLP_CONFIG_DIR), as knee-nlp reproduce.")
    translation.add_argument("--device", default="auto",
                             help="Device for sharpness: auto (cuda if available), cpu, cuda[:N].")
    _common_arguments(translation, "translation", "the checkpoint's --max-tokens")
    translation.set_defaults(func=run, build=_translation)
