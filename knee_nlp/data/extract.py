"""Plain text out of the raw corpus formats, line for line as the recipes' grep/sed pipelines.

``sgml_segments`` reads IWSLT ``*.xml`` and WMT ``*.sgm`` test sets (``grep '<seg id'`` then strip
the ``<seg>`` tags and the spaces around them, then ``’`` -> ``'``); ``ted_train_text`` reads
IWSLT ``train.tags.*`` files (drop ``<url>``/``<talkid>``/``<keywords>`` lines, strip the
``<title>``/``<description>`` tags but keep their text, as ``prepare-iwslt14.sh`` does).

Example::

    >>> list(sgml_segments(['<doc docid="1">', '<seg id="7"> It’s here. </seg>']))
    ["It's here."]
    >>> list(ted_train_text(["<talkid>1</talkid>", "<title>A talk</title>", "Hello."]))
    ['A talk', 'Hello.']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_SED_SPACE = "[ \t\n\r\f\v]"  # sed's \s
_SEG_OPEN = re.compile(f'<seg id="[0-9]*">{_SED_SPACE}*')
_SEG_CLOSE = re.compile(f"{_SED_SPACE}*</seg>{_SED_SPACE}*")
_TRAIN_DROP = ("<url>", "<talkid>", "<keywords>")
_TRAIN_STRIP = ("<title>", "</title>", "<description>", "</description>")


def sgml_segments(lines: Iterable[str]) -> Iterator[str]:
    """The text of every line holding ``<seg id``, tags and surrounding spaces removed."""
    for line in lines:
        if "<seg id" in line:
            yield _SEG_CLOSE.sub("", _SEG_OPEN.sub("", line)).replace("\u2019", "'")


def ted_train_text(lines: Iterable[str]) -> Iterator[str]:
    """IWSLT ``train.tags`` lines minus the metadata lines and tags the standard recipe removes."""
    for line in lines:
        if any(tag in line for tag in _TRAIN_DROP):
            continue
        for tag in _TRAIN_STRIP:
            line = line.replace(tag, "")
        yield line
