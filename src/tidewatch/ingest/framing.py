"""Split an input stream into units: JSON lines, one JSON document, or CSV rows.

Guarantees every reader relies on:

* Memory is bounded: a line longer than ``max_line_bytes`` is skipped (and reported) without
  being held in memory; a JSON document larger than ``max_document_bytes`` is refused.
* Each unit keeps its raw bytes (the SourceRecord) and says where it came from
  (``file:line``), so errors name the place.
* Bad units (invalid UTF-8, truncated JSON, a line too long) are reported as
  :class:`RecordError` items *in* the stream; the units around them still arrive.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from tidewatch.errors import FormatError, RecordError
from tidewatch.ingest.base import Framing, Unit

MAX_LINE_BYTES = 64 * 1024 * 1024
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
_SKIP_CHUNK = 1024 * 1024
_BOM = b"\xef\xbb\xbf"

# CSV fields can be as long as a post with its media list; the stdlib default (128 KiB) is not.
csv.field_size_limit(MAX_LINE_BYTES)


@dataclass
class Limits:
    max_line_bytes: int = MAX_LINE_BYTES
    max_document_bytes: int = MAX_DOCUMENT_BYTES


# Integers over 64 bits (20 digits or more) come back from orjson as floats that have lost
# digits. Finding a run of 20 digits by mapping digits to "0" and everything else to a space
# is ten times faster than a regular expression on 100 KB API pages.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_TWENTY_DIGITS = b"0" * 20


def loads(raw: bytes) -> Any:
    """Parse JSON fast with orjson, but with the standard library wherever exactness needs it
    (integers over 64 bits) or orjson refuses what Python accepts (NaN), so nothing is lost."""
    if _TWENTY_DIGITS in raw.translate(_DIGITS_ONLY):
        return json.loads(raw.decode("utf-8"))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8"))


class PeekableStream:
    """A binary stream whose first bytes can be looked at before deciding how to read it
    (stdin cannot seek)."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self._stream = stream
        self._buffer = b""
        self.name = name
        #: Bytes taken from the underlying stream so far (for progress bars).
        self.consumed = 0

    def peek(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self._stream.read(size - len(self._buffer))
            if not chunk:
                break
            self.consumed += len(chunk)
            self._buffer += chunk
        return self._buffer[:size]

    def readline(self, limit: int) -> bytes:
        if self._buffer:
            newline = self._buffer.find(b"\n", 0, limit)
            if newline >= 0:
                line, self._buffer = self._buffer[: newline + 1], self._buffer[newline + 1 :]
                return line
            if len(self._buffer) >= limit:
                line, self._buffer = self._buffer[:limit], self._buffer[limit:]
                return line
            head, self._buffer = self._buffer, b""
            return head + self._read_line(limit - len(head))
        return self._read_line(limit)

    def _read_line(self, limit: int) -> bytes:
        line = self._stream.readline(limit)
        self.consumed += len(line)
        return line

    def read(self, size: int) -> bytes:
        head, self._buffer = self._buffer[:size], self._buffer[size:]
        if len(head) < size:
            more = self._stream.read(size - len(head))
            self.consumed += len(more)
            head += more
        return head


def detect_framing(stream: PeekableStream) -> Framing:
    """Decide how to split the input by looking at its first bytes."""
    head = stream.peek(64 * 1024)
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    stripped = head.lstrip()
    if not stripped:
        raise FormatError(f"{stream.name}: the input is empty")
    first = stripped[:1]
    if first == b"{":
        first_line = stripped.split(b"\n", 1)[0].strip()
        if first_line in (b"{", b"{\r"):
            return Framing.JSON
        try:
            loads(first_line)
        except (ValueError, UnicodeDecodeError):
            # A first line that is not a whole value: a pretty-printed document, or a
            # truncated first line of a JSONL file. Documents rarely fit on one line.
            return Framing.JSON if b"\n" in stripped else Framing.JSONL
        return Framing.JSONL
    if first == b"[":
        return Framing.JSON
    try:
        sample = head.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        # Only the sample's last character may be cut in half.
        try:
            sample = head[:-4].decode("utf-8")
        except UnicodeDecodeError as error:
            raise FormatError(
                f"{stream.name}: not UTF-8 text (invalid byte at offset {error.start}); "
                "expected JSON, JSON lines or CSV"
            ) from None
    header = sample.split("\n", 1)[0]
    if any(sep in header for sep in (",", "\t", ";")):
        return Framing.CSV
    raise FormatError(
        f"{stream.name}: not JSON, JSON lines or CSV (first line starts {header[:40]!r})"
    )


def iter_units(
    stream: PeekableStream, framing: Framing, limits: Limits | None = None
) -> Iterator[Unit | RecordError]:
    limits = limits or Limits()
    if framing is Framing.JSONL:
        yield from _jsonl_units(stream, limits)
    elif framing is Framing.JSON:
        yield from _document_units(stream, limits)
    else:
        yield from _csv_units(stream, limits)


def numbered_lines(
    stream: PeekableStream, limits: Limits
) -> Iterator[tuple[int, bytes | RecordError]]:
    """Numbered raw lines; an overlong line is drained in chunks and reported, never held."""
    number = 0
    while True:
        line = stream.readline(limits.max_line_bytes + 1)
        if not line:
            return
        number += 1
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        if len(line) > limits.max_line_bytes and not line.endswith(b"\n"):
            skipped = len(line)
            while True:
                rest = stream.readline(_SKIP_CHUNK)
                skipped += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield (
                number,
                RecordError(
                    f"line is {skipped:,} bytes, over the limit of {limits.max_line_bytes:,}; skipped",
                    where=f"{stream.name}:{number}",
                ),
            )
            continue
        yield number, line


def _check_utf8(raw: bytes, where: str) -> RecordError | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return RecordError(f"invalid UTF-8 at byte offset {error.start} of the line", where=where)
    return None


def _is_truncated(error: json.JSONDecodeError, raw: bytes) -> bool:
    """Did the text end before the value did (a cut-off download), rather than being wrong?"""
    return error.msg.startswith("Unterminated string") or error.pos >= len(raw.rstrip()) - 1


def _jsonl_units(stream: PeekableStream, limits: Limits) -> Iterator[Unit | RecordError]:
    for number, line in numbered_lines(stream, limits):
        if isinstance(line, RecordError):
            yield line
            continue
        unit = jsonl_unit(line, f"{stream.name}:{number}")
        if unit is not None:
            yield unit


def jsonl_unit(line: bytes, where: str) -> Unit | RecordError | None:
    """One line of JSON lines as a unit, a RecordError saying what is wrong with it, or
    None for a blank line. Pure, so lines can be parsed in other processes."""
    raw = line.rstrip(b"\r\n")
    if not raw.strip():
        return None
    # No separate UTF-8 check (it cost a quarter of parsing a line): orjson refuses invalid
    # UTF-8 as Python's decoder does, and loads then decodes with Python's, which names
    # the byte.
    try:
        value = loads(raw)
    except UnicodeDecodeError as error:
        return RecordError(f"invalid UTF-8 at byte offset {error.start} of the line", where=where)
    except json.JSONDecodeError as error:
        problem = "truncated JSON" if _is_truncated(error, raw) else "invalid JSON"
        return RecordError(f"{problem}: {error.msg} (column {error.colno})", where=where)
    except RecursionError:
        return RecordError("JSON nested too deeply", where=where)
    return Unit(raw=raw, value=value, where=where, framing=Framing.JSONL)


def _document_units(stream: PeekableStream, limits: Limits) -> Iterator[Unit | RecordError]:
    raw = stream.read(limits.max_document_bytes + 1)
    if len(raw) > limits.max_document_bytes:
        yield RecordError(
            f"JSON document is over the limit of {limits.max_document_bytes:,} bytes; "
            "split it or convert it to JSON lines",
            where=stream.name,
        )
        return
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    bad_encoding = None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        bad_encoding = RecordError(
            f"invalid UTF-8 at byte offset {error.start} (line {line})", where=stream.name
        )
    if bad_encoding:
        yield bad_encoding
        return
    try:
        value = loads(raw)
    except json.JSONDecodeError as error:
        problem = "truncated JSON document" if _is_truncated(error, raw) else "invalid JSON"
        yield RecordError(
            f"{problem}: {error.msg} (line {error.lineno}, column {error.colno})", where=stream.name
        )
        return
    except RecursionError:
        yield RecordError("JSON nested too deeply", where=stream.name)
        return
    yield Unit(raw=raw, value=value, where=stream.name, framing=Framing.JSON)


def _csv_units(stream: PeekableStream, limits: Limits) -> Iterator[Unit | RecordError]:
    """CSV rows as dicts. Each unit's raw bytes are the header line plus the row's own lines,
    so a stored SourceRecord is itself a valid one-row CSV file."""
    consumed: list[bytes] = []
    problems: list[RecordError] = []
    line_numbers: list[int] = []

    def text_lines() -> Iterator[str]:
        for number, line in numbered_lines(stream, limits):
            if isinstance(line, RecordError):
                problems.append(line)
                continue
            where = f"{stream.name}:{number}"
            bad_encoding = _check_utf8(line, where)
            if bad_encoding:
                problems.append(bad_encoding)
                continue
            consumed.append(line)
            line_numbers.append(number)
            yield line.decode("utf-8")

    lines = text_lines()
    header_text = next(lines, None)
    yield from problems
    problems.clear()
    if header_text is None:
        return
    header_raw = consumed.pop()
    line_numbers.pop()
    dialect = _dialect(header_text)
    header = next(csv.reader([header_text], dialect))
    names = [name.strip() for name in header]
    if len(set(names)) != len(names):
        yield RecordError(f"CSV header repeats a column name: {names}", where=f"{stream.name}:1")
        return
    reader = csv.reader(lines, dialect)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            yield from problems
            return
        except csv.Error as error:
            yield from problems
            problems.clear()
            where = f"{stream.name}:{line_numbers[0] if line_numbers else '?'}"
            consumed.clear()
            line_numbers.clear()
            yield RecordError(f"malformed CSV: {error}", where=where)
            continue
        yield from problems
        problems.clear()
        first_line = line_numbers[0] if line_numbers else 0
        raw = header_raw + b"".join(consumed)
        consumed.clear()
        line_numbers.clear()
        if not any(cell.strip() for cell in row):
            continue
        where = f"{stream.name}:{first_line}"
        if len(row) != len(names):
            yield RecordError(
                f"CSV row has {len(row)} fields, the header has {len(names)}", where=where
            )
            continue
        yield Unit(
            raw=raw, value=dict(zip(names, row, strict=True)), where=where, framing=Framing.CSV
        )


class _Excel(csv.excel):
    """RFC 4180 quoting (``""`` inside a quoted cell); only the delimiter varies."""


def _dialect(header_line: str) -> type[csv.Dialect]:
    """Excel/RFC 4180 CSV with the delimiter the header uses.

    csv.Sniffer is not used: guessing from a header without quotes, it turns off
    double-quote escaping and silently misreads ``""`` inside later cells.
    """
    counts = {sep: header_line.count(sep) for sep in (",", ";", "\t")}
    delimiter = max(counts, key=lambda sep: counts[sep])
    if delimiter == ",":
        return csv.excel
    return type("_Delimited", (_Excel,), {"delimiter": delimiter})
