"""Line-by-line text transforms over files, in order, on several processes, with a progress bar.

Example::

    from functools import partial
    from knee_nlp.data.moses import tokenize
    map_file_lines(partial(tokenize, lang="de"), Path("train.de"), Path("train.tok.de"),
                   workers=4, desc="tokenize train.de")
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from multiprocessing.pool import AsyncResult
from pathlib import Path

from tqdm import tqdm

from knee_nlp.atomic import atomic_file

LineFunction = Callable[[str], str]
_CHUNK_LINES = 2000
_CHUNKS_IN_FLIGHT = 4  # per worker


def read_lines(path: Path) -> Iterator[str]:
    """Lines of a UTF-8 file without their ``\\n``, split on ``\\n`` only (as Perl and sed do)."""
    with open(path, encoding="utf-8", newline="\n") as handle:
        for line in handle:
            yield line[:-1] if line.endswith("\n") else line


def count_lines(path: Path) -> int:
    """Number of lines ``read_lines`` yields."""
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


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
