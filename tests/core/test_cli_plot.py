"""``knee-nlp plot``: the PNG, the boundary table, help text and errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from knee_nlp.cli import main


def test_plot_writes_png_and_prints_boundaries(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "lr.png"
    assert main(["plot", "--peak-lr", "5e-4", "--total-steps", "1000", "--warmup-steps", "100",
                 "--explore-ratio", "0.5", "--output", str(output)]) == 0
    image = matplotlib.image.imread(output)
    assert image.shape[0] > 300 and image.shape[1] > 600
    table = capsys.readouterr().out
    knee_row = next(line for line in table.splitlines() if line.startswith("| knee "))
    # start, warmup_end, mid, explore_end, end
    assert knee_row == "| knee | 0 | 0.0005 | 0.0005 | 0.0005 | 0 |"
    assert "| start (0) | warmup_end (100) | mid (500) | explore_end (600) | end (1000) |" in table
    assert "| inverse_sqrt | 0 | 0.0005 | 0.0002236 |" in table


def test_plot_refuses_to_overwrite(tmp_path: Path) -> None:
    output = tmp_path / "lr.png"
    output.write_bytes(b"mine")
    with pytest.raises(SystemExit, match="already exists; pass --overwrite"):
        main(["plot", "--peak-lr", "1", "--total-steps", "10", "--output", str(output)])
    assert output.read_bytes() == b"mine"
    assert main(["plot", "--peak-lr", "1", "--total-steps", "10", "--output", str(output), "--overwrite"]) == 0
    assert output.read_bytes() != b"mine"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--explore-ratio", "2"], "explore_ratio must be a number in [0, 1], got 2.0"),
        (["--warmup-steps", "8", "--explore-steps", "5"], "warmup_steps + explore_steps must be <= total_steps"),
        (["--peak-lr", "0"], "peak_lr must be a finite number > 0.0"),
    ],
)
def test_plot_bad_input(tmp_path: Path, flags: list[str], message: str) -> None:
    arguments = ["plot", "--peak-lr", "1", "--total-steps", "10", "--output", str(tmp_path / "x.png"), *flags]
    with pytest.raises(SystemExit) as error:
        main(arguments)
    assert message in str(error.value)
    assert not (tmp_path / "x.png").exists()


def test_console_script_help_documents_every_flag() -> None:
    result = subprocess.run([sys.executable, "-m", "knee_nlp", "plot", "--help"],
                            capture_output=True, text=True, check=True)
    for flag in ("--peak-lr", "--total-steps", "--warmup-steps", "--explore-steps", "--explore-ratio",
                 "--warmup-init-lr", "--end-lr", "--baselines", "--output", "--overwrite"):
        assert flag in result.stdout


def test_plots_leave_the_global_backend_alone(tmp_path: Path) -> None:
    code = (
        "import sys, matplotlib; matplotlib.use('svg'); "
        "from knee_nlp.plotting import plot_curves; "
        f"plot_curves({{'a': ([0, 1], [1, 0])}}, {str(tmp_path / 'a.png')!r}, title='t', ylabel='y'); "
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend(); "
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
