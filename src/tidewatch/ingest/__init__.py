"""Ingest: read every supported source format into domain bundles.

``read_input(path)`` is the one entry point: it frames the input, detects the format (or uses
the one given), and yields a :class:`~tidewatch.model.Bundle` per source record or a
:class:`~tidewatch.errors.RecordError` per bad record, in input order.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tidewatch.errors import FormatError, RecordError
from tidewatch.ingest import (  # noqa: F401  (each module registers its reader)
    crowdtangle,
    generic,
    meta_content_library,
    meta_graph,
    telegram,
    tiktok,
    x_v1,
    x_v2,
    youtube,
)
from tidewatch.ingest.base import READERS, ReadContext, Reader, Unit, readers_by_priority
from tidewatch.ingest.framing import Limits, PeekableStream, detect_framing, iter_units
from tidewatch.model import Bundle

__all__ = ["READERS", "Reader", "detect_reader", "read_input", "read_stream"]


def detect_reader(unit: Unit) -> Reader:
    """The first reader, in priority order, that recognises this unit."""
    for reader_class in readers_by_priority():
        if unit.framing in reader_class.framings and reader_class.sniff(unit.value, unit.framing):
            return reader_class()
    raise FormatError(
        f"{unit.where}: not a format Tidewatch reads "
        f"({unit.framing.value}; known formats: {', '.join(sorted(READERS))}); "
        "use --format to name one"
    )


def reader_named(name: str) -> Reader:
    try:
        return READERS[name]()
    except KeyError:
        raise FormatError(
            f"unknown format {name!r}; known formats: {', '.join(sorted(READERS))}"
        ) from None


#: Read buffer of an input file. Python's default (8 KiB) takes an X page of 110 KB in some
#: fourteen reads; framing 200,000 X posts into lines cost 1.1 to 1.3 us a post with it and
#: 0.2 to 0.7 with 1 MiB, in the process that also writes the database.
INPUT_BUFFER_BYTES = 1 << 20


@contextmanager
def open_input(path: str | Path) -> Iterator[PeekableStream]:
    """A file, or standard input for ``-``, as a peekable binary stream."""
    if str(path) == "-":
        yield PeekableStream(sys.stdin.buffer, "<stdin>")
        return
    file_path = Path(path)
    if file_path.is_dir():
        raise FormatError(f"{file_path}: is a folder; give the files inside it")
    try:
        handle: IO[bytes] = file_path.open("rb", buffering=INPUT_BUFFER_BYTES)
    except OSError as error:
        raise FormatError(f"{file_path}: cannot open ({error.strerror})") from None
    with handle:
        yield PeekableStream(handle, str(file_path))


def read_stream(
    stream: PeekableStream,
    *,
    format: str | None = None,
    collector: str = "",
    limits: Limits | None = None,
) -> Iterator[Bundle | RecordError]:
    framing = detect_framing(stream)
    reader = reader_named(format) if format else None
    if reader is not None and framing not in reader.framings:
        raise FormatError(
            f"{stream.name}: looks like {framing.value}, but format {reader.name!r} reads "
            f"{', '.join(sorted(f.value for f in reader.framings))}"
        )
    context = ReadContext(collector=collector, origin=stream.name)
    for unit in iter_units(stream, framing, limits):
        if isinstance(unit, RecordError):
            yield unit
            continue
        if reader is None:
            reader = detect_reader(unit)
        try:
            yield reader.read(unit, context)
        except RecordError as error:
            yield error


def read_input(
    path: str | Path,
    *,
    format: str | None = None,
    collector: str = "",
    limits: Limits | None = None,
) -> Iterator[Bundle | RecordError]:
    with open_input(path) as stream:
        yield from read_stream(stream, format=format, collector=collector, limits=limits)
