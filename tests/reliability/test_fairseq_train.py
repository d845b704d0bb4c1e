"""The exact-resume patch reaches every process that trains: fairseq's workers for several GPUs."""

from __future__ import annotations

import pickle
import subprocess
import sys

from knee_nlp.reproduce import fairseq_train

_WORKER = """
from fairseq.trainer import Trainer
from knee_nlp.reproduce.fairseq_train import train_main
try:
    train_main(None)  # fairseq's main fails on this config, after the patch is in
except Exception:
    pass
print(getattr(Trainer.get_train_iterator, "__knee_nlp_first_epoch_batches__", False))
"""


def test_fairseq_worker_processes_install_the_patch() -> None:
    """fairseq hands ``train_main`` to the processes it spawns by name; in a fresh process it
    installs the batch-grouping patch before fairseq's own main runs."""
    assert pickle.loads(pickle.dumps(fairseq_train.train_main)) is fairseq_train.train_main
    done = subprocess.run([sys.executable, "-c", _WORKER], capture_output=True, text=True,
                          timeout=300)
    assert done.stdout.strip().endswith("True"), done.stdout[-2000:] + done.stderr[-2000:]
