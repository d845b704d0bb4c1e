"""Moses text processing as the public translation recipes run it, in Python (sacremoses).

Each function reproduces one Moses script on one line of text:
``tokenize`` = ``tokenizer.perl -l LANG [-a]`` (escaping on, blank lines passed through),
``lowercase`` = ``lowercase.perl`` (Perl ``lc``), ``normalize_punctuation`` =
``normalize-punctuation.perl -l LANG`` and ``remove_non_printing`` = ``remove-non-printing-char.perl``.

sacremoses differs from ``tokenizer.perl`` in one rule that changes real test sets: the Perl script
always splits the period off the last word of a line ("split last words independently as they are
unlikely to be non-breaking prefixes"), so ``U.S.`` or German ordinals like ``70.`` at the end of a
sentence become ``U.S .`` / ``70 .``. :class:`PerlMosesTokenizer` restores that rule.

Example::

    >>> tokenize("All the roads in the U.S.", "en")
    'All the roads in the U.S .'
    >>> lowercase(tokenize("Das ist's, sagte er.", "de"))
    'das ist &apos; s , sagte er .'
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from sacremoses import MosesPunctNormalizer, MosesTokenizer

_PERIOD_WORD = re.compile(r"(\S+)\.")
_LEADING_DIGITS = re.compile(r"[0-9]+")
_PERL_SPLIT = re.compile(r"\s")
_BLANK = re.compile(r"\s*")


class PerlMosesTokenizer(MosesTokenizer):
    """sacremoses' tokenizer with ``tokenizer.perl``'s non-breaking-prefix loop, word for word."""

    def __init__(self, lang: str = "en") -> None:
        super().__init__(lang=lang)
        self._numeric_only = set(self.NUMERIC_ONLY_PREFIXES)
        self._prefixes = set(self.NONBREAKING_PREFIXES) - self._numeric_only

    def handles_nonbreaking_prefixes(self, text: str) -> str:
        words = _PERL_SPLIT.split(text)
        while words and not words[-1]:  # Perl's split drops trailing empty fields
            words.pop()
        last = len(words) - 1
        for i, word in enumerate(words):
            match = _PERIOD_WORD.fullmatch(word)
            if not match:
                continue
            prefix = match.group(1)
            following = words[i + 1] if i < last else ""
            if i == last:
                words[i] = prefix + " ."
            elif (("." in prefix and self.isanyalpha(prefix)) or prefix in self._prefixes
                  or (following and self.islower(following[0]))):
                continue
            elif prefix in self._numeric_only and _LEADING_DIGITS.match(following):
                continue
            else:
                words[i] = prefix + " ."
        return " ".join(words)


@lru_cache(maxsize=None)
def _tokenizer(lang: str) -> PerlMosesTokenizer:
    return PerlMosesTokenizer(lang)


@lru_cache(maxsize=None)
def _normalizer(lang: str) -> MosesPunctNormalizer:
    return MosesPunctNormalizer(lang=lang, perl_parity=True)


def tokenize(line: str, lang: str, *, aggressive_dash_splits: bool = False) -> str:
    """``tokenizer.perl -l lang`` (``-a`` with ``aggressive_dash_splits``) on one line, no newline."""
    if _BLANK.fullmatch(line):
        return line  # tokenizer.perl prints blank lines unchanged
    return _tokenizer(lang).tokenize(
        line, aggressive_dash_splits=aggressive_dash_splits, return_str=True, escape=True)


def lowercase(line: str) -> str:
    """Perl's ``lc``: like ``str.lower`` except that capital sigma always becomes medial sigma."""
    return line.replace("\u03a3", "\u03c3").lower()


def normalize_punctuation(line: str, lang: str) -> str:
    r"""``normalize-punctuation.perl -l lang`` on one line (given and returned without its newline).

    The Perl rules see each line's ``\n``: German's ``s/(\.+)\"(\s*[^<])/\"$1$2/`` moves a
    closing quote before the final period (``Ja."`` -> ``Ja".``) only because ``\s*[^<]`` matches
    the newline, so the newline is added back here (sacremoses strips the result again).

    >>> normalize_punctuation('Er sagte: "Ja."', "de")
    'Er sagte: "Ja".'
    """
    return _normalizer(lang).normalize(line + "\n")


def remove_non_printing(line: str) -> str:
    """``remove-non-printing-char.perl``: each Unicode "Other" (``\\p{C}``) character -> a space."""
    return "".join(" " if unicodedata.category(char)[0] == "C" else char for char in line)
