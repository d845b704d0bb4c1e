"""Data preparation for the paper's translation experiments, in pure Python.

``knee_nlp.data.iwslt14.prepare_iwslt14`` and ``knee_nlp.data.wmt14.prepare_wmt14`` run
fairseq's ``prepare-iwslt14.sh`` / ``prepare-wmt14en2de.sh`` recipes (they need the ``fairseq``
extra: sacremoses, subword-nmt, fairseq); :func:`load_prepared` reads a finished result and
:func:`fairseq_preprocess` binarizes any tokenized corpus. Nothing here imports fairseq until
it binarizes.

Example::

    from knee_nlp.data import load_prepared
    data = load_prepared(Path("iwslt14.tokenized.de-en"))
    data.bin_dir, data.pairs
"""

from knee_nlp.data.binarize import fairseq_preprocess
from knee_nlp.data.recipe import PreparedData, load_prepared

__all__ = ["PreparedData", "fairseq_preprocess", "load_prepared"]
