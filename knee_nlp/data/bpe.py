"""Joint byte-pair encoding with subword-nmt, as ``learn_bpe.py -s N`` / ``apply_bpe.py -c CODES``.

Example::

    codes = learn_joint_bpe([Path("tmp/train.de"), Path("tmp/train.en")], Path("code"), 10000)
    apply_bpe(codes, Path("tmp/test.de"), Path("test.de"), workers=2)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache, partial
from pathlib import Path

from knee_nlp.atomic import atomic_file
from knee_nlp.data.parallel import map_file_lines
from knee_nlp.validation import check_step_count


def learn_joint_bpe(sources: Sequence[Path], codes: Path, num_symbols: int, *,
                    min_frequency: int = 2, workers: int = 1) -> Path:
    """Learn ``num_symbols`` merges on the concatenation of ``sources``; write them to ``codes``.

    Same as ``cat sources... | subword-nmt learn-bpe -s num_symbols > codes`` (a progress bar
    counts merges; learning stops early when no pair occurs ``min_frequency`` times).
    ``workers`` processes count the vocabulary; the merges themselves are sequential.
    """
    from subword_nmt.learn_bpe import learn_bpe

    check_step_count("num_symbols", num_symbols, minimum=1)
    check_step_count("workers", workers, minimum=1)
    missing = [str(path) for path in sources if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(f"learn_joint_bpe: missing input file(s): {', '.join(missing)}")
    corpus = codes.with_name(f".{codes.name}.corpus")
    try:
        with open(corpus, "wb") as joined:
            for source in sources:
                joined.write(Path(source).read_bytes())
        with atomic_file(codes) as work, open(corpus, encoding="utf-8") as infile, \
                open(work, "w", encoding="utf-8") as outfile:
            learn_bpe(infile, outfile, num_symbols, min_frequency=min_frequency,
                      num_workers=workers)
    finally:
        corpus.unlink(missing_ok=True)
    return codes


@lru_cache(maxsize=4)
def _bpe(codes: str, version: tuple[int, int]):
    from subword_nmt.apply_bpe import BPE

    with open(codes, encoding="utf-8") as handle:
        return BPE(handle)


def codes_version(codes: Path | str) -> tuple[int, int]:
    """``(mtime_ns, size)`` of a codes file: a rewritten file is read again, not taken from the cache."""
    stat = os.stat(codes)
    return stat.st_mtime_ns, stat.st_size


def bpe_line(line: str, codes: str, version: tuple[int, int] | None = None) -> str:
    """One line segmented with the merges in ``codes`` (``@@ `` marks a split); ``version``:
    :func:`codes_version` (looked up when not given)."""
    return _bpe(codes, version or codes_version(codes)).process_line(line)


def apply_bpe(codes: Path, source: Path, target: Path, *, workers: int = 1) -> Path:
    """Write ``source`` segmented with ``codes`` to ``target`` (``apply_bpe.py -c codes``)."""
    for name, path in (("codes", codes), ("source", source)):
        if not Path(path).is_file():
            raise FileNotFoundError(f"apply_bpe: {name} file not found: {path}")
    map_file_lines(partial(bpe_line, codes=str(codes), version=codes_version(codes)), source, target, workers=workers,
                   desc=f"BPE {source.name}")
    return target
