"""Score a ``fairseq-generate`` output two ways: tokenized BLEU and detokenized sacreBLEU.

* **Tokenized BLEU** is the ``BLEU4 = ...`` line fairseq prints: BLEU over the Moses-tokenized,
  BPE-removed text (what the paper and fairseq's IWSLT'14 recipe report).
* **Detokenized sacreBLEU**: hypotheses (``H-``) and references (``T-``) are detokenized with
  sacremoses and scored by sacreBLEU, which reports its signature. The references are those of
  the binarized test set, so for a lowercased corpus (IWSLT'14) they stay lowercased.

Example::

    scores = score_generate_output(Path("generate.log").read_text(), target_lang="en")
    scores["bleu_tokenized"], scores["sacrebleu"], scores["sacrebleu_signature"]
"""

from __future__ import annotations

import re

_BLEU_LINE = re.compile(r"Generate \S+ with beam=\d+: BLEU4? = ([0-9.]+)")


def read_hypotheses(text: str) -> tuple[list[str], list[str]]:
    """(hypotheses, references) in test-set order from ``H-<id>`` and ``T-<id>`` lines."""
    hypotheses: dict[int, str] = {}
    references: dict[int, str] = {}
    for line in text.splitlines():
        tag, _, rest = line.partition("\t")
        if tag.startswith("H-"):
            hypotheses[int(tag[2:])] = rest.split("\t", 1)[1] if "\t" in rest else ""
        elif tag.startswith("T-"):
            references[int(tag[2:])] = rest
    if not hypotheses or hypotheses.keys() != references.keys():
        raise ValueError(f"generate output has {len(hypotheses)} hypotheses and "
                         f"{len(references)} references; expected the same, non-zero, ids")
    order = sorted(hypotheses)
    return [hypotheses[i] for i in order], [references[i] for i in order]


def fairseq_bleu(text: str) -> float:
    """The tokenized BLEU of fairseq's final ``Generate test with beam=N: BLEU4 = X`` line."""
    matches = _BLEU_LINE.findall(text)
    if not matches:
        raise ValueError("no 'Generate ... BLEU4 = ...' line in the generate output")
    return float(matches[-1])


def score_generate_output(text: str, *, target_lang: str) -> dict[str, float | str | int]:
    """Both BLEU variants, the sacreBLEU signature and the number of scored sentences."""
    import sacrebleu
    from sacremoses import MosesDetokenizer

    hypotheses, references = read_hypotheses(text)
    detok = MosesDetokenizer(lang=target_lang)
    metric = sacrebleu.BLEU()
    score = metric.corpus_score([detok.detokenize(h.split()) for h in hypotheses],
                                [[detok.detokenize(r.split()) for r in references]])
    return {
        "bleu_tokenized": fairseq_bleu(text),
        "sacrebleu": round(score.score, 2),
        "sacrebleu_signature": str(metric.get_signature()),
        "sentences": len(hypotheses),
    }
