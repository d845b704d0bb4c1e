"""Split a WikiText-style held-out text by article into a validation half and a test half.

An article starts at a title line: a line that starts with ``" = "`` but not ``" = = "``
(section headings). Lines before the first title belong to the first article. The first
``ceil(n / 2)`` of the ``n`` articles are the validation half, the rest the test half; every line
is kept, in order, so the two halves concatenate back to the input. Deterministic: the same file
always gives the same halves.

>>> text = " = A = \\n a\\n = = s = = \\n b\\n = B = \\n c\\n = C = \\n d\\n"
>>> split = split_by_article(text)
>>> split.validation_articles, split.test_articles
(2, 1)
>>> split.test
' = C = \\n d\\n'
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knee_nlp.atomic import write_text_atomic

SPLIT_RULE = (
    "held-out text split by article (a line starting with ' = ' but not ' = = ' opens an "
    "article): first ceil(n/2) articles = validation, the remaining articles = test"
)


@dataclass(frozen=True)
class ArticleSplit:
    """The two halves as text, and how many articles and the first title each holds."""

    validation: str
    test: str
    validation_articles: int
    test_articles: int
    validation_first_title: str
    test_first_title: str

    def describe(self) -> dict[str, Any]:
        """Counts, first titles and SHA-256 of both halves, as JSON-able data."""
        return {
            "rule": SPLIT_RULE,
            "validation": {"articles": self.validation_articles, "first_title": self.validation_first_title,
                           "lines": self.validation.count("\n"), "sha256": sha256_text(self.validation)},
            "test": {"articles": self.test_articles, "first_title": self.test_first_title,
                     "lines": self.test.count("\n"), "sha256": sha256_text(self.test)},
        }


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def is_title(line: str) -> bool:
    """A WikiText article title (``" = Title = "``), not a section heading (``" = = ... = = "``)."""
    return line.startswith(" = ") and not line.startswith(" = = ")


def split_by_article(text: str, where: str = "the held-out text") -> ArticleSplit:
    """Validation = the first ``ceil(n/2)`` articles, test = the rest; ``ValueError`` if n < 2."""
    lines = re.findall(r"[^\n]*\n|[^\n]+$", text)  # "\n" only: WikiText holds other separators
    starts = [index for index, line in enumerate(lines) if is_title(line)]
    if len(starts) < 2:
        raise ValueError(
            f"{where} must hold at least 2 articles (title lines ' = Title = '), found {len(starts)}"
        )
    cut = starts[(len(starts) + 1) // 2]
    return ArticleSplit(
        validation="".join(lines[:cut]),
        test="".join(lines[cut:]),
        validation_articles=(len(starts) + 1) // 2,
        test_articles=len(starts) // 2,
        validation_first_title=lines[starts[0]].strip(),
        test_first_title=lines[cut].strip(),
    )


def write_split(split: ArticleSplit, directory: Path) -> tuple[Path, Path]:
    """Write ``validation.txt`` and ``test.txt`` into ``directory`` (atomically; an existing file
    with other content is an error, never overwritten)."""
    paths = directory / "validation.txt", directory / "test.txt"
    for path, text in zip(paths, (split.validation, split.test)):
        if path.exists():
            if path.read_text(encoding="utf-8") != text:
                raise ValueError(f"{path} exists with other content than the split of the held-out file")
            continue
        write_text_atomic(path, text)
    return paths
