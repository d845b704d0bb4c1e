"""Line-by-line text over files: reading UTF-8 lines, checking that parallel files align, and
transforms in order on several processes with a progress bar.

Text is never misread silently: a byte sequence that is not UTF-8 stops with
:class:`TextFileError` naming the file and the line, and :func:`check_parallel` compares the
full files of a parallel corpus (before any subset is cut), naming each file and its count.

Example::

    from functools import partial
    from knee_nlp.data.moses import tokenize
    map_file_lines(partial(tokenize, lang="de"), Path("train.de"), Path("train.tok.de"),
                   workers=4, desc="tokenize train.de")
"""

from __future__ import annotations

import codecs
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from multiprocessing.pool import AsyncResult
from pathlib import Path

from tqdm import tqdm

from knee_nlp.atomic import atomic_file
from knee_nlp.errors import InvalidInputError

LineFunction = Callable[[str], str]
_CHUNK_LINES = 2000
_CHUNKS_IN_FLIGHT = 4  # per worker


class TextFileError(InvalidInputError):
    """A text input that is not UTF-8, or parallel files whose line counts differ."""


def decode_line(raw: bytes, path: Path | str, number: int) -> str:
    """``raw`` (line ``number`` of ``path``) as UTF-8 text; :class:`TextFileError` naming both if not.

    >>> decode_line(b"caf\\xc3\\xa9", "a.txt", 1)
    'café'
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TextFileError(
            f"{path}, line {number}: not UTF-8 text (byte {raw[error.start]:#04x} at column "
            f"{error.start + 1}); convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None


def read_lines(path: Path) -> Iterator[str]:
    """Lines of a UTF-8 file without their ``\\n``, split on ``\\n`` only (as Perl and sed do)."""
    try:
        with open(path, encoding="utf-8", newline="\n") as handle:
            for line in handle:
                yield line[:-1] if line.endswith("\n") else line
    except UnicodeDecodeError:
        _raise_at_first_bad_line(path)


def check_utf8(path: Path) -> None:
    """Raise :class:`TextFileError` naming the file and the first line that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        _raise_at_first_bad_line(path)


def _raise_at_first_bad_line(path: Path) -> None:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            decode_line(raw, path, number)


def count_lines(path: Path) -> int:
    """Number of lines ``read_lines`` yields."""
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def count_text_lines(path: Path) -> int:
    """:func:`count_lines` of a file that must be UTF-8 text (:func:`check_utf8` first)."""
    check_utf8(path)
    return count_lines(path)


def check_parallel(paths: Sequence[Path], count: Callable[[Path], int] = count_text_lines,
                   unit: str = "lines") -> int:
    """The common count of ``count(path)`` over the sides of a parallel corpus (whole files); a
    difference raises :class:`TextFileError` naming every file and its count, since pairs are
    matched by position and one missing line would shift every later pair. The default count
    also refuses a file that is not UTF-8, naming its first bad line."""
    counts = {path: count(path) for path in paths}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{path} has {number:,} {unit}" for path, number in counts.items())
        raise TextFileError(f"parallel files differ in length: {listed}; line i of each side must "
                            "translate line i of the other")
    return next(iter(counts.values()))


def write_lines(path: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` (each followed by ``\\n``) to ``path`` atomically; returns the count."""
    count = 0
    with atomic_file(path) as work, open(work, "w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            handle.write(line + "\n")
            count += 1
    return count


def write_columns(paths: Sequence[Path], rows: Iterable[Sequence[str | None]]) -> int:
    """Write column ``i`` of every row to ``paths[i]`` (``None`` skips that file for the row),
    all files atomically; returns the number of rows."""
    count = 0
    with ExitStack() as stack:
        handles = [stack.enter_context(open(stack.enter_context(atomic_file(path)), "w",
                                            encoding="utf-8", newline="\n")) for path in paths]
        for row in rows:
            for handle, line in zip(handles, row, strict=True):
                if line is not None:
                    handle.write(line + "\n")
            count += 1
    return count


def _apply_chunk(function: LineFunction, chunk: list[str]) -> list[str]:
    return [function(line) for line in chunk]


def _chunks(lines: Iterable[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == _CHUNK_LINES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _collect(result: AsyncResult, bar: tqdm) -> list[str]:
    lines = result.get()
    bar.update(len(lines))
    return lines


def map_lines(function: LineFunction, lines: Iterable[str], *, workers: int = 1,
              desc: str = "", total: int | None = None) -> Iterator[str]:
    """``function(line)`` for every line, in input order; ``workers > 1`` uses a process pool.

    ``function`` must be picklable for ``workers > 1`` (a module-level function or a
    ``functools.partial`` of one).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    with tqdm(total=total, desc=desc, unit="lines", unit_scale=True, leave=False) as bar:
        if workers == 1:
            for line in lines:
                yield function(line)
                bar.update()
            return
        with multiprocessing.get_context().Pool(workers) as pool:
            pending: deque[AsyncResult] = deque()  # bounded, so a huge file is never all in memory
            for chunk in _chunks(lines):
                pending.append(pool.apply_async(_apply_chunk, (function, chunk)))
                if len(pending) >= _CHUNKS_IN_FLIGHT * workers:
                    yield from _collect(pending.popleft(), bar)
            while pending:
                yield from _collect(pending.popleft(), bar)


def map_file_lines(function: LineFunction, source: Path, target: Path, *, workers: int = 1,
                   desc: str = "") -> int:
    """Write ``function(line)`` of every line of ``source`` to ``target`` atomically."""
    lines = map_lines(function, read_lines(source), workers=workers,
                      desc=desc or source.name, total=count_lines(source))
    return write_lines(target, lines)
