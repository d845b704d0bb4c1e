"""PNG plots of LR curves (and any other per-step curves) with matplotlib's object API.

Figures are ``matplotlib.figure.Figure`` objects saved directly, never pyplot figures: the global
backend of the calling process is left alone.

>>> from knee_nlp.curves import schedule_curves
>>> from knee_nlp.schedule import KneeSchedule
>>> curves = schedule_curves(KneeSchedule(peak_lr=5e-4, total_steps=1000, warmup_steps=100))
>>> plot_curves(curves, "lr.png", title="LR schedules", ylabel="learning rate")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def plot_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    *,
    title: str,
    ylabel: str,
    xlabel: str = "updates",
    markers: Mapping[str, float] | None = None,
) -> Path:
    """Draw each ``name -> (xs, ys)`` curve into one PNG at ``path``; return the path.

    ``markers`` draws labelled vertical lines (for example phase boundaries).
    """
    fig, ax = new_figure()
    for name, (xs, ys) in curves.items():
        ax.plot(list(xs), list(ys), label=name, linewidth=2.0 if name == "knee" else 1.3)
    for label, x in (markers or {}).items():
        ax.axvline(x, color="grey", linestyle=":", linewidth=1)
        ax.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                    va="top", ha="right", fontsize=7, color="grey")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return save_figure(fig, ax, path)


def new_figure() -> tuple[Any, Any]:
    """A detached ``Figure`` (no pyplot, no backend switch) and its one ``Axes``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=120)
    return fig, fig.subplots()


def save_figure(fig: Any, ax: Any, path: str | Path) -> Path:
    """Add grid and legend, lay out and write ``fig`` as a PNG at ``path``; return the path."""
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
