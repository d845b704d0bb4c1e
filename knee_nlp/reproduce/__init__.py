"""Reproduce the paper's translation experiments with fairseq: configs, runs, scores, report.

One job per module:

* :mod:`~knee_nlp.reproduce.config`: compose and validate the YAML configs shipped in
  ``knee_nlp/configs/reproduce`` (preset base + schedule block + budget)
* :mod:`~knee_nlp.reproduce.datasets`: find, check, subset and binarize the data
  (:mod:`~knee_nlp.reproduce.synthetic` when there is none)
* :mod:`~knee_nlp.reproduce.epochs`: epochs to updates with fairseq's own batching
* :mod:`~knee_nlp.reproduce.fairseq_commands`: fairseq-train / fairseq-generate command lines
* :mod:`~knee_nlp.reproduce.runner`: one resumable run
* :mod:`~knee_nlp.reproduce.pipeline`: all runs of one ``knee-nlp reproduce`` call
* :mod:`~knee_nlp.reproduce.averaging`, :mod:`~knee_nlp.reproduce.scoring` and
  :mod:`~knee_nlp.reproduce.logs`: checkpoints, BLEU and curves
* :mod:`~knee_nlp.reproduce.aggregate` and :mod:`~knee_nlp.reproduce.report`: the table and plots

Example::

    knee-nlp reproduce iwslt14 --preset tiny --run-dir runs/tiny
    knee-nlp report runs/tiny
"""
