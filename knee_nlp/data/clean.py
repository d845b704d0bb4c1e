"""Length filtering of a parallel corpus, rule for rule as Moses' ``clean-corpus-n.perl``.

For each pair (after collapsing whitespace, trimming, and deleting ``|`` unless the first line
shows a factored corpus) a pair is dropped if either side is empty, has fewer than
``min_length`` or more than ``max_length`` words, if one side is more than ``ratio`` times
longer than the other, or if a word exceeds ``max_word_length`` characters. Kept pairs are
written in their normalized form, as the Perl script does.

Example::

    >>> list(clean_pairs(["a  b", "a", ""], ["x y", "x y z", "x"], ratio=1.5))
    [('a b', 'x y')]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from itertools import zip_longest

from knee_nlp.validation import check_step_count

_PERL_SPACES = re.compile(r"[^\S\x1c-\x1f]+")  # Perl's \s excludes \x1c-\x1f, Python's does not
_BLANK_FACTOR = re.compile(r"[ |]\|")


def _normalize(line: str, factored: bool) -> str:
    """Delete pipes (unless factored), collapse whitespace runs to one space, trim one space."""
    if not factored:
        line = line.replace("|", "")
    line = _PERL_SPACES.sub(" ", line)
    line = line[1:] if line.startswith(" ") else line
    return line[:-1] if line.endswith(" ") else line


def clean_pairs(source: Iterable[str], target: Iterable[str], *, ratio: float = 9.0,
                min_length: int = 1, max_length: int = 100,
                max_word_length: int = 1000) -> Iterator[tuple[str, str]]:
    """Yield the normalized ``(source, target)`` pairs that ``clean-corpus-n.perl`` keeps.

    Defaults are the Perl script's; ``prepare-iwslt14.sh`` uses ``ratio=1.5, max_length=175``,
    ``prepare-wmt14en2de.sh`` ``ratio=1.5, max_length=250``. Raises ``ValueError`` if the two
    sides have different line counts or a factored corpus has a blank factor.
    """
    if not ratio > 0:
        raise ValueError(f"ratio must be > 0, got {ratio!r}")
    check_step_count("min_length", min_length, minimum=0)
    check_step_count("max_length", max_length, minimum=min_length)
    check_step_count("max_word_length", max_word_length, minimum=1)
    long_word = re.compile("[^ |]{%d}" % (max_word_length + 1))  # only " " is left as space
    factored = False
    for number, (src, tgt) in enumerate(zip_longest(source, target), start=1):
        if src is None or tgt is None:
            side = "source" if src is None else "target"
            raise ValueError(f"clean_pairs: the {side} side is shorter (ends before line {number})")
        if number == 1:
            factored = "|" in src or "|" in tgt
        src, tgt = _normalize(src, factored), _normalize(tgt, factored)
        if not src or not tgt:
            continue
        src_words, tgt_words = len(src.split(" ")), len(tgt.split(" "))
        if not (min_length <= src_words <= max_length and min_length <= tgt_words <= max_length):
            continue
        if src_words / tgt_words > ratio or tgt_words / src_words > ratio:
            continue
        if long_word.search(src) or long_word.search(tgt):
            continue
        for side, text in (("source", src), ("target", tgt)):
            if _BLANK_FACTOR.search(text):
                raise ValueError(f"clean_pairs: blank factor in the {side} side, line {number}: {text}")
        yield src, tgt
