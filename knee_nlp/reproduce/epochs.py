"""Budgets in epochs -> updates, counted with fairseq's own batching (a dry run, no training).

fairseq's epoch length depends on the data, ``--max-tokens``, ``--required-batch-size-multiple``,
the model's maximum positions (long pairs are skipped), the number of GPUs the batches are
sharded over and ``--update-freq``. Rather than estimating, :func:`count_epoch_updates` builds the
same batch iterator ``fairseq-train`` builds and counts it; the Knee horizon
(``--total-num-update``) and ``--max-update`` are then ``epochs x count_epoch_updates(...)``.

Example::

    per_epoch = count_epoch_updates(["data-bin", "--arch", "transformer_iwslt_de_en",
                                   "--max-tokens", "4096"], update_freq=1, num_processes=1)
"""

from __future__ import annotations

from knee_nlp import budget
from knee_nlp.errors import InvalidInputError
from knee_nlp.reproduce.quiet import quiet


def count_batches(train_argv: list[str]) -> int:
    """Batches in one epoch of the training set, for one process, as fairseq-train forms them;
    :class:`~knee_nlp.errors.InvalidInputError` when there are none (too few pairs)."""
    with quiet():
        return _count_batches(train_argv)


def _count_batches(train_argv: list[str]) -> int:
    from fairseq import options, tasks, utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, train_argv)
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    task.load_dataset(cfg.dataset.train_subset, epoch=1, combine=True)
    dataset = task.dataset(cfg.dataset.train_subset)
    model = task.build_model(cfg.model)
    iterator = task.get_batch_iterator(
        dataset=dataset,
        max_tokens=cfg.dataset.max_tokens,
        max_sentences=cfg.dataset.batch_size,
        max_positions=utils.resolve_max_positions(
            task.max_positions(), model.max_positions(), cfg.dataset.max_tokens),
        ignore_invalid_inputs=True,
        required_batch_size_multiple=cfg.dataset.required_batch_size_multiple,
        seed=cfg.common.seed,
        num_shards=1,
    )
    if not len(iterator):
        raise InvalidInputError(
            f"the training data ({len(dataset)} pairs in {cfg.task.data}) forms no batch: fairseq makes batches "
            f"of a multiple of --required-batch-size-multiple {cfg.dataset.required_batch_size_multiple} sentences "
            f"within --max-tokens {cfg.dataset.max_tokens} (longer pairs are skipped); train on more pairs")
    return len(iterator)


def count_epoch_updates(train_argv: list[str], *, update_freq: int, num_processes: int) -> int:
    """Optimizer updates per epoch with the batches sharded over ``num_processes`` GPUs."""
    return budget.updates_from_batches(count_batches(train_argv), update_freq=update_freq,
                                    num_processes=num_processes)
