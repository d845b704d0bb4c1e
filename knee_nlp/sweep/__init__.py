"""``knee-nlp sweep-explore``: how long to explore, measured.

The paper's hypothesis experiment at small scale: the same model trained with several explore
fractions over several seeds on one budget; for every run the validation score, the test score
and the Keskar sharpness of the final weights; the paper's figure (strip plots per explore
setting), a mean ± sd table, and a recommended explore fraction chosen on the validation score
only. One module per concern:

- :mod:`knee_nlp.sweep.splits`: a held-out text split by article into validation and test halves;
- :mod:`knee_nlp.sweep.backend`: the interface a model family implements (train, score, sharpness);
- :mod:`knee_nlp.sweep.bert`: the tiny BERT masked-LM backend (the BERT launcher by subprocess);
- :mod:`knee_nlp.sweep.translation`: a ``knee-nlp reproduce`` experiment and preset (fairseq, BLEU on
  its valid and test subsets);
- :mod:`knee_nlp.sweep.runner`: the sweep directory, its ``sweep.json`` manifest and resumption;
- :mod:`knee_nlp.sweep.report`: summary statistics, the recommendation, Markdown/JSON and the figure.

Layout of a sweep directory::

    <sweep-dir>/sweep.json                    settings; a re-run with other settings is refused
    <sweep-dir>/data/{validation,test}.txt    the held-out split (BERT backend)
    <sweep-dir>/data/{text,bin}/              the preset's data subset, binarized (translation
                                              backend, only when the preset cuts a subset)
    <sweep-dir>/runs/explore<r>-seed<s>/      one run: train/ (launcher or reproduce run dir),
                                              scores.json, sharpness.json, result.json (written
                                              last); translation: valid-generate.log
    <sweep-dir>/results.{json,md}, explore_sweep.png, recommended.json   rewritten after each run
"""
