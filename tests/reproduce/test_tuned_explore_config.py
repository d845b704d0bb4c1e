"""The project's own tuned Knee comes from its explore sweep, chosen on validation data.

The multi30k ``knee`` block's explore fraction must equal the choice in the committed sweep's
``recommended.json`` (read with the same checks as ``knee-nlp reproduce --explore-from``).
"""

from __future__ import annotations

from pathlib import Path

from knee_nlp.reproduce.config import load_experiment
from knee_nlp.reproduce.explore import read_recommendation

SWEEP_RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "explore-sweep-multi30k-cpu"


def test_multi30k_tuned_knee_is_the_sweeps_validation_choice() -> None:
    choice = read_recommendation(SWEEP_RESULTS / "recommended.json", "multi30k", "cpu")
    block = load_experiment("multi30k").schedules["knee"]["lr_scheduler"]
    assert block["explore_ratio"] == choice.ratio
