"""``knee-nlp plot``: draw Knee beside inverse-sqrt, linear and cosine; print phase LRs.

Example::

    knee-nlp plot --peak-lr 5e-4 --total-steps 20000 --warmup-steps 4000 --explore-ratio 0.5 \\
        --output knee.png
"""

from __future__ import annotations

import argparse

from pathlib import Path

from knee_nlp.curves import schedule_curves
from knee_nlp.errors import OutputPathError, fail
from knee_nlp.outputs import guard_new_file
from knee_nlp.registry import BASELINES, SCHEDULES
from knee_nlp.schedule import KneeSchedule, check_explore


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that define one Knee schedule (shared by every command that takes one)."""
    group = parser.add_argument_group("Knee schedule")
    group.add_argument("--peak-lr", type=float, required=True, help="LR held during explore (> 0).")
    group.add_argument("--total-steps", type=int, required=True,
                       help="Training budget in optimizer updates (>= 1).")
    group.add_argument("--warmup-steps", type=int, default=0, help="Linear warmup updates (default 0).")
    explore = group.add_mutually_exclusive_group()
    explore.add_argument("--explore-steps", type=int, default=None,
                         help="Updates held at the peak after warmup.")
    explore.add_argument("--explore-ratio", type=float, default=None,
                         help="Explore as a fraction of --total-steps in [0, 1] (default 0.5).")
    group.add_argument("--warmup-init-lr", type=float, default=0.0,
                       help="LR at update 0 when warming up (default 0).")
    group.add_argument("--end-lr", type=float, default=0.0, help="LR at the end of the budget (default 0).")


def schedule_from_args(args: argparse.Namespace) -> KneeSchedule:
    """The validated :class:`KneeSchedule` the schedule flags describe."""
    check_explore(args.explore_steps, args.explore_ratio)
    return KneeSchedule(
        peak_lr=args.peak_lr, total_steps=args.total_steps, warmup_steps=args.warmup_steps,
        explore_steps=args.explore_steps, explore_ratio=args.explore_ratio,
        warmup_init_lr=args.warmup_init_lr, end_lr=args.end_lr,
    )


def boundary_table(schedule: KneeSchedule, names: tuple[str, ...]) -> str:
    """Markdown table of the LR of each schedule in ``names`` at Knee's phase boundaries and the
    budget midpoint."""
    points = dict(schedule.boundaries())
    points["mid"] = schedule.total_steps // 2
    ordered = sorted(points.items(), key=lambda item: item[1])
    header = "| schedule | " + " | ".join(f"{name} ({step})" for name, step in ordered) + " |"
    rule = "|---" * (len(ordered) + 1) + "|"
    rows = [
        f"| {name} | " + " | ".join(f"{lr(step):.4g}" for _, step in ordered) + " |"
        for name in names for lr in [SCHEDULES[name].curve(schedule)]
    ]
    return "\n".join([header, rule, *rows])


def png_path(output: str | Path) -> Path:
    """The file matplotlib writes for ``--output``: ``.png`` is added to a name without a suffix
    (``-o lr`` writes ``lr.png``); any other suffix is refused.

    >>> png_path("lr"), png_path("plots/knee.PNG")
    (PosixPath('lr.png'), PosixPath('plots/knee.PNG'))
    """
    path = Path(output)
    if path.is_dir():
        raise OutputPathError(f"--output {path} is a directory; give a file path")
    if not path.suffix:
        return path.with_name(path.name + ".png")
    if path.suffix.lower() != ".png":
        raise OutputPathError(f"--output must be a .png file (or a name without a suffix, to which .png is "
                              f"added), got {str(output)!r}")
    return path


def run(args: argparse.Namespace) -> int:
    """Validate, draw the PNG and print the boundary table."""
    from knee_nlp.plotting import plot_curves

    try:
        schedule = schedule_from_args(args)
        output = guard_new_file(png_path(args.output), overwrite=args.overwrite)
    except (ValueError, FileExistsError) as error:
        fail("knee-nlp plot", error)
    curves = schedule_curves(schedule, tuple(args.baselines))
    markers = {"warmup end": schedule.warmup_steps, "explore end": schedule.explore_end}
    plot_curves(curves, output, title="Knee vs baseline LR schedules", ylabel="learning rate",
                markers={k: v for k, v in markers.items() if v > 0})
    print(boundary_table(schedule, tuple(curves)))
    print(f"wrote {output}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``knee-nlp plot``."""
    parser = subparsers.add_parser(
        "plot", help="Plot the Knee LR curve beside baselines.",
        description="Draw the Knee LR curve next to the inverse-sqrt, linear and cosine "
        "baselines (same peak, warmup and budget) into a PNG, and print a table of the LR "
        "at Knee's phase boundaries.",
    )
    add_schedule_arguments(parser)
    parser.add_argument("--baselines", nargs="*", default=list(BASELINES), choices=BASELINES,
                        help="Baselines drawn beside Knee (default: all three).")
    parser.add_argument("--output", "-o", default="knee_lr.png",
                        help="PNG path (default knee_lr.png); .png is added to a name without a suffix.")
    parser.add_argument("--overwrite", action="store_true", help="Replace --output if it exists.")
    parser.set_defaults(func=run)
