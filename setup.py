"""Build glue for one file that pyproject.toml cannot express: ``knee_nlp_fairseq_hook.pth``.

Everything else (metadata, packages, package data) is in pyproject.toml. The ``.pth`` file must
sit at the top of site-packages, where no package data can go, so that fairseq's own commands
find ``--lr-scheduler knee`` (see ``_knee_nlp_fairseq_hook.py``). It is written:

* into a regular wheel (``pip install .``, ``pip wheel .``, ``python -m build``) by ``build_py``,
  which copies it into the root of ``build_lib`` (the pattern of pytest-cov and pytest-socket);
* into an editable wheel (``pip install -e .``) by ``editable_wheel``: setuptools' editable
  strategies write only their own files into the wheel, so the strategy is wrapped to add it.

pip records the file like any other, so ``pip uninstall knee-nlp`` removes it.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HOOK_MODULE = "_knee_nlp_fairseq_hook"
PTH_NAME = "knee_nlp_fairseq_hook.pth"
PTH_LINE = f"import {HOOK_MODULE}; {HOOK_MODULE}.install()\n"


class build_py_with_pth(build_py):
    """``build_py`` that also writes the hook's ``.pth`` into the root of the wheel."""

    def run(self):
        super().run()
        if not self.editable_mode:
            target = Path(self.build_lib, PTH_NAME)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(PTH_LINE, encoding="utf-8")

    def get_outputs(self, include_bytecode=True):
        outputs = list(super().get_outputs(include_bytecode))
        return outputs if self.editable_mode else [*outputs, str(Path(self.build_lib, PTH_NAME))]


class _WithHookPth:
    """An editable-install strategy plus the hook's ``.pth`` at the root of the editable wheel."""

    def __init__(self, strategy):
        self.strategy = strategy

    def __call__(self, wheel, files, mapping):
        self.strategy(wheel, files, mapping)
        wheel.writestr(PTH_NAME, PTH_LINE.encode("utf-8"))

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self.strategy.__exit__(*exc_info)


class editable_wheel_with_pth(editable_wheel):
    """``editable_wheel`` whose wheel also carries the hook's ``.pth``."""

    def run(self):
        if not hasattr(editable_wheel, "_select_strategy"):  # setuptools changed its internals
            raise RuntimeError(f"cannot add {PTH_NAME} to the editable wheel with this setuptools")
        super().run()

    def _select_strategy(self, *args, **kwargs):
        return _WithHookPth(super()._select_strategy(*args, **kwargs))


setup(
    py_modules=[HOOK_MODULE],
    cmdclass={"build_py": build_py_with_pth, "editable_wheel": editable_wheel_with_pth},
)
