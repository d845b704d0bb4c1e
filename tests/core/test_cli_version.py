"""``knee-nlp --version`` names the installed version."""

from __future__ import annotations

import pytest

import knee_nlp
from knee_nlp.cli import main


def test_version_flag_prints_the_package_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"knee-nlp {knee_nlp.__version__}"
