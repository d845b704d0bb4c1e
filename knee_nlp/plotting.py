"""PNG plots of LR curves (and any other per-step curves) with matplotlib's Agg backend.

>>> from knee_nlp.curves import schedule_curves
>>> from knee_nlp.schedule import KneeSchedule
>>> curves = schedule_curves(KneeSchedule(peak_lr=5e-4, total_steps=1000, warmup_steps=100))
>>> plot_curves(curves, "lr.png", title="LR schedules", ylabel="learning rate")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for name, (xs, ys) in curves.items():
        ax.plot(list(xs), list(ys), label=name, linewidth=2.0 if name == "knee" else 1.3)
    for label, x in (markers or {}).items():
        ax.axvline(x, color="grey", linestyle=":", linewidth=1)
        ax.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                    va="top", ha="right", fontsize=7, color="grey")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
