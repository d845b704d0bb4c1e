"""``fairseq-train`` whose resumed runs train on the same batches as uninterrupted ones.

fairseq restores almost everything a resume needs from its checkpoint: weights, optimizer state,
``num_updates`` (the LR is a function of it), the epoch and position of the data iterator, and
dropout, which it reseeds before every update with ``seed + num_updates``. What it does not
restore is the *grouping* of sentences into batches: ``fairseq-train`` builds its (cached)
training iterator once per process, drawing the tie-breaking order of equally long sentences
with ``seed + epoch`` for the epoch the process *started* in. An uninterrupted run groups with
epoch 1 for its whole life; a run resumed in epoch 6 regroups with epoch 6, so every update after
the resume sees other batches and the losses drift apart (on CPU as on GPU, with any scheduler).

:func:`install` makes the training iterator cached for the whole run the one a process started
in epoch 1 builds, whatever epoch it resumes in; the checkpoint's iterator state (epoch, position)
is applied to it as before. An uninterrupted run is unchanged, and a resumed one (at an epoch
end, or mid-epoch with ``--save-interval-updates``) repeats its updates bit for bit on a CPU
(on GPUs, kernels that are not deterministic can make even two uninterrupted runs differ).
Iterators fairseq rebuilds every epoch anyway (sharded data, ``--update-epoch-batch-itr``)
already resume exactly and are left alone. With several GPUs, fairseq's worker processes start in
:func:`train_main` and apply the patch themselves.
``knee-nlp reproduce`` starts its training through this module; its ``plan.json`` and
``--dry-run`` show the equivalent ``python -m fairseq_cli.train`` command.

Usage::

    python -m knee_nlp.reproduce.fairseq_train DATA-BIN --arch transformer_iwslt_de_en ...
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

#: ``python -m MODULE`` instead of ``python -m fairseq_cli.train``, for an exact resume
MODULE = "knee_nlp.reproduce.fairseq_train"
_PATCHED = "__knee_nlp_first_epoch_batches__"


def install() -> None:
    """Patch ``fairseq.trainer.Trainer.get_train_iterator`` (once) as described above."""
    from fairseq.trainer import Trainer

    original = Trainer.get_train_iterator
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def get_train_iterator(self: Any, epoch: int, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("disable_iterator_cache") or self.cfg.dataset.update_epoch_batch_itr:
            return original(self, epoch, *args, **kwargs)  # rebuilt each epoch: exact already
        return original(self, 1, *args, **kwargs)  # the run's cached iterator, as built in epoch 1

    setattr(get_train_iterator, _PATCHED, True)
    Trainer.get_train_iterator = get_train_iterator


#: fairseq's own ``fairseq_cli.train.main`` once :func:`main` has put :func:`train_main` in its place
_fairseq_main: Callable[..., Any] | None = None


def train_main(cfg: Any, **kwargs: Any) -> Any:
    """fairseq's training ``main`` with :func:`install` applied in the calling process.

    fairseq calls it in every worker process it spawns for several GPUs: they receive it by name
    (pickled), import this module and so install the patch themselves.
    """
    from fairseq_cli import train

    install()
    return (_fairseq_main or train.main)(cfg, **kwargs)


def main() -> None:
    """``fairseq-train`` with :func:`install` applied; the arguments are fairseq-train's."""
    global _fairseq_main
    from fairseq_cli import train  # first: it sets up logging before fairseq is imported

    _fairseq_main, train.main = train.main, train_main  # cli_main calls it by its global name
    sys.argv = ["fairseq-train", *sys.argv[1:]]
    train.cli_main()


if __name__ == "__main__":
    main()
