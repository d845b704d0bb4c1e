"""BERT masked-language-model pretraining with accelerate and the Knee LR schedule.

Run it with ``accelerate launch -m hf_integration.pretrain_bert --config tiny
'data.train_files=[train.txt]' 'data.validation_files=[valid.txt]'`` (or ``python -m``, or the
``knee-pretrain-bert`` command, for one process). Modules, one job each: ``config`` (YAML + overrides,
validation), ``data`` (files, WordPiece, packing, cache), ``batches`` (resumable sharding and
masking), ``model``, ``optim``, ``schedules``, ``train`` (the update loop), ``train_metrics``
(training-loss logging), ``evaluation`` (held-out loss and accuracy), ``checkpoint`` (run
directory, save/resume), ``tracking`` (JSON-lines and per-phase TensorBoard trackers, no
duplicates after a resume) and ``run`` (all phases).

>>> from hf_integration.pretrain_bert import load_config, pretrain  # doctest: +SKIP
>>> pretrain(load_config("tiny", ["run_dir=runs/tiny", "data.train_files=[train.txt]",
...                                               "data.validation_files=[valid.txt]"]))  # doctest: +SKIP
"""

from hf_integration.pretrain_bert.config import PretrainConfig, load_config

__all__ = ["PretrainConfig", "load_config", "pretrain"]


def __getattr__(name: str):
    if name == "pretrain":
        from hf_integration.pretrain_bert.run import pretrain

        return pretrain
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
