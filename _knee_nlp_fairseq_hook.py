"""Startup hook of knee-nlp: plain ``fairseq-train --lr-scheduler knee`` without ``--user-dir``.

fairseq has no plugin entry point: it learns about extra LR schedulers only through
``--user-dir``. knee-nlp therefore installs ``knee_nlp_fairseq_hook.pth`` next to this module in
site-packages; its one line (``import _knee_nlp_fairseq_hook; _knee_nlp_fairseq_hook.install()``)
runs at every interpreter start and puts a small finder at the front of ``sys.meta_path``. The
finder ignores every import except ``fairseq.optim.lr_scheduler``; when fairseq imports that
package (``import fairseq`` always does), the finder lets the real loader run it and then
registers ``knee`` from :mod:`fairseq_plugin.knee_scheduler`. This is the post-import-hook pattern
of PEP 369 and ``wrapt``, limited to one module.

* Nothing heavy at start: this module imports only ``os`` and ``sys`` (already loaded), and fairseq,
  torch and knee-nlp are imported only by a process that imports fairseq itself.
* Only the scheduler: the module is loaded without running ``fairseq_plugin/__init__.py``, so the
  plugin's checkpoint fix (:mod:`fairseq_plugin.checkpoint_compat`) stays tied to ``--user-dir``
  and the ``knee-fairseq-*`` commands, and ``torch.load`` is left alone.
* Idempotent: ``knee`` is registered once per process whatever loads it first (this hook,
  ``--user-dir``, the ``knee-fairseq-*`` commands). Every process fairseq starts for distributed
  training runs the ``.pth`` line too.
* ``KNEE_NLP_NO_FAIRSEQ_HOOK=1`` (any value but empty or ``0``) turns the hook off; fairseq then
  needs ``--user-dir "$(knee-nlp fairseq-user-dir)"`` again.

If registering fails, fairseq still imports and a ``RuntimeWarning`` says why.
"""

import os
import sys

ENV_VAR = "KNEE_NLP_NO_FAIRSEQ_HOOK"
TARGET = "fairseq.optim.lr_scheduler"
SCHEDULER_MODULE = "fairseq_plugin.knee_scheduler"


def disabled():
    """Whether ``KNEE_NLP_NO_FAIRSEQ_HOOK`` turns the hook off."""
    return os.environ.get(ENV_VAR, "") not in ("", "0")


def install():
    """Put the finder at the front of ``sys.meta_path`` (once; nothing when disabled or too late)."""
    if disabled() or TARGET in sys.modules:
        return
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


class _Finder:
    """Meta-path finder that wraps the loader of :data:`TARGET` and ignores every other name."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


class _Loader:
    """Runs the real loader, then registers ``knee``; hands the module back to the real loader."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self.loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        for finder in [f for f in sys.meta_path if isinstance(f, _Finder)]:
            sys.meta_path.remove(finder)
        try:
            register_knee()
        except Exception as error:  # never break `import fairseq`
            import warnings

            warnings.warn(
                f"knee-nlp could not register fairseq's --lr-scheduler knee ({error!r}); "
                f"use --user-dir \"$(knee-nlp fairseq-user-dir)\", or set {ENV_VAR}=1 to "
                "silence this hook",
                RuntimeWarning, stacklevel=2,
            )

    def __getattr__(self, name):
        return getattr(self.loader, name)


def register_knee():
    """Register ``knee`` with fairseq unless it is registered already (idempotent).

    Loads :data:`SCHEDULER_MODULE` under its own name; when the ``fairseq_plugin`` package is not
    being imported already, its ``__init__`` (and so the checkpoint fix) is not run. A later
    ``--user-dir`` import of the package then reuses this module instead of registering again.
    """
    from fairseq.optim.lr_scheduler import LR_SCHEDULER_REGISTRY

    if "knee" in LR_SCHEDULER_REGISTRY or SCHEDULER_MODULE in sys.modules:
        return
    import importlib

    if "fairseq_plugin" in sys.modules:  # --user-dir or a knee-fairseq-* command got here first
        importlib.import_module(SCHEDULER_MODULE)
        return
    import importlib.machinery
    import importlib.util

    package = importlib.util.find_spec("fairseq_plugin")
    if package is None or not package.submodule_search_locations:
        raise ImportError("the fairseq_plugin package of knee-nlp is not installed")
    spec = importlib.machinery.PathFinder.find_spec(
        SCHEDULER_MODULE, list(package.submodule_search_locations)
    )
    if spec is None:
        raise ImportError(f"no module {SCHEDULER_MODULE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[SCHEDULER_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(SCHEDULER_MODULE, None)
        raise
