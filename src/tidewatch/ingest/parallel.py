"""Read JSON lines in worker processes, results in input order.

Parsing a large X or TikTok archive costs more CPU than writing it, and one Python process
uses one core. :func:`read_stream_parallel` keeps reading the file and framing it into lines
here (cheap), and hands chunks of lines to worker processes that do what costs: JSON
parsing, the reader, and a ``prepare`` step given by the caller (the store turns bundles
into plain rows there, which also cross back between processes faster than models).

What the caller sees is what :func:`tidewatch.ingest.read_stream` gives, mapped through
``prepare``: one item per unit or RecordError, in input order, errors naming file and line.
At most a few chunks are in flight, so memory does not grow with the file.

Workers are forked (Linux), so ``prepare`` and the reader need no pickling; they ignore
Ctrl-C (the parent stops them) and die with the parent, so a killed ingest leaves no
orphans. Other framings (one JSON document, CSV) and other platforms read in process.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import marshal
import multiprocessing
import os
import pickle
import signal
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

from tidewatch.errors import FormatError, RecordError
from tidewatch.ingest import detect_reader, reader_named
from tidewatch.ingest.base import Framing, ReadContext, Reader, Unit
from tidewatch.ingest.framing import (
    Limits,
    PeekableStream,
    detect_framing,
    iter_units,
    jsonl_unit,
    numbered_lines,
)
from tidewatch.model import Bundle

T = TypeVar("T")

#: A chunk of lines handed to a worker ends after about this many bytes or lines.
CHUNK_BYTES = 1 << 20
CHUNK_LINES = 2000
#: Chunks in flight per worker: enough to keep workers busy while the caller writes a whole
#: batch (up to 20,000 posts: some 21 chunks of X pages, at about 950 posts a chunk); with
#: fewer than a batch's worth, they idled during each commit (measured: 200,000 X posts into
#: SQLite, 14.5 s -> 13.0 s from two to six when batches held 5,000 posts; 24 measured the
#: same as 12 with batches of 20,000, with more memory).
IN_FLIGHT_PER_WORKER = 12
#: Added to the workers' niceness: the writer gets a core whenever it can use one.
WORKER_NICENESS = 5

_Line = tuple[int, bytes | tuple[str, str]]  # (line number, raw line or (message, where))


def fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def read_stream_parallel(
    stream: PeekableStream,
    *,
    prepare: Callable[[Bundle], T],
    workers: int,
    format: str | None = None,
    collector: str = "",
    limits: Limits | None = None,
) -> Generator[T | RecordError, None, None]:
    """``prepare(bundle)`` or a RecordError for every unit of ``stream``, in input order.
    What ``prepare`` returns crosses back fastest as plain data (tuples, lists, str, bytes,
    numbers, None: see :func:`_pack`)."""
    limits = limits or Limits()
    framing = detect_framing(stream)
    reader = reader_named(format) if format else None
    if reader is not None and framing not in reader.framings:
        raise FormatError(
            f"{stream.name}: looks like {framing.value}, but format {reader.name!r} reads "
            f"{', '.join(sorted(f.value for f in reader.framings))}"
        )
    context = ReadContext(collector=collector, origin=stream.name)
    if framing is not Framing.JSONL or workers < 2 or not fork_available():
        for item in iter_units(stream, framing, limits):
            if isinstance(item, RecordError):
                yield item
                continue
            if reader is None:
                reader = detect_reader(item)
            yield _read(reader, item, context, prepare)
        return

    lines = numbered_lines(stream, limits)
    # Until the format is known, lines are read here: the first unit decides it, and a
    # FormatError must reach the caller as it would without workers.
    while reader is None:
        step = next(lines, None)
        if step is None:
            return
        number, line = step
        unit = (
            line if isinstance(line, RecordError) else jsonl_unit(line, f"{stream.name}:{number}")
        )
        if unit is None:
            continue
        if isinstance(unit, RecordError):
            yield unit
            continue
        reader = detect_reader(unit)
        yield _read(reader, unit, context, prepare)

    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(reader, context, prepare, os.getpid()),
    )
    pending: deque[Future[bytes]] = deque()
    try:
        for chunk in _chunks(lines, stream.name):
            pending.append(pool.submit(_work, chunk))
            if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                yield from _unpack(pending.popleft().result())
        while pending:
            yield from _unpack(pending.popleft().result())
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _read(
    reader: Reader, unit: Unit, context: ReadContext, prepare: Callable[[Bundle], T]
) -> T | RecordError:
    try:
        return prepare(reader.read(unit, context))
    except RecordError as error:
        return error


def _chunks(lines: Iterator[tuple[int, bytes | RecordError]], name: str) -> Iterator[list[_Line]]:
    chunk: list[_Line] = []
    size = 0
    for number, line in lines:
        if isinstance(line, RecordError):
            chunk.append((number, (line.message, line.where)))
        else:
            chunk.append((number, line))
            size += len(line)
        if size >= CHUNK_BYTES or len(chunk) >= CHUNK_LINES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _unpack(results: bytes) -> Iterator[Any]:
    """A worker's results (see :func:`_pack`), in input order."""
    items, errors = _read_packed(results)
    for position, item in enumerate(items):
        error = errors.get(position)
        yield item if error is None else RecordError(error[0], where=error[1])


#: A packed chunk's first byte: how the rest was written.
_MARSHAL = b"m"
_PICKLE = b"p"


def _pack(items: list[Any], errors: dict[int, tuple[str, str]]) -> bytes:
    """Results as bytes: the items, with None where ``errors`` holds (message, where).

    marshal writes plain data (tuples, lists, str, bytes, numbers, None) about twice as
    fast as pickle, which keeps a table of every object it writes (an X page's prepared
    rows: 3.2 against 6.6 us a post; reading them back costs about the same). Workers and the
    writing process are the same interpreter (forked), which is all marshal asks. Anything
    else (datetimes, prepared for PostgreSQL) is pickled."""
    try:
        return _MARSHAL + marshal.dumps((items, errors))
    except ValueError:
        return _PICKLE + pickle.dumps((items, errors), protocol=pickle.HIGHEST_PROTOCOL)


def _read_packed(packed: bytes) -> tuple[list[Any], dict[int, tuple[str, str]]]:
    body = memoryview(packed)[1:]
    if packed[:1] == _MARSHAL:
        return marshal.loads(body)
    return pickle.loads(body)


# --- in the worker processes ----------------------------------------------------------------

_worker: dict[str, Any] = {}
_PR_SET_PDEATHSIG = 1


def _start_worker(
    reader: Reader, context: ReadContext, prepare: Callable[[Bundle], Any], parent: int
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Linux: the kernel kills this worker when the process that started it dies.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    # The writing process is the ingest's one serial step; parsers that wait their turn
    # for a core cost nothing as long as a few chunks are parsed ahead.
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    # The parent's objects are inherited and never freed here; the collector need not scan them.
    # Workers also inherit the parent's collector state: paused when a store load forks them
    # (tidewatch.gcpause). Reading, bad records included, left no cycles when checked in process.
    gc.freeze()
    _worker.update(reader=reader, context=context, prepare=prepare, name=context.origin)


def _work(chunk: list[_Line]) -> bytes:
    """The chunk's results, packed here rather than pickled by the pool: the pool unpickles
    what arrives in a thread of the writing process, which then takes the GIL from the
    writer at any moment (a chunk is about 1 MB of small tuples); as bytes, they are read
    when the writer asks for them. Errors travel as (message, where): pickling a
    RecordError would drop ``where``."""
    reader: Reader = _worker["reader"]
    context: ReadContext = _worker["context"]
    prepare: Callable[[Bundle], Any] = _worker["prepare"]
    name: str = _worker["name"]
    items: list[Any] = []
    errors: dict[int, tuple[str, str]] = {}
    for number, line in chunk:
        if isinstance(line, tuple):
            errors[len(items)] = line
            items.append(None)
            continue
        unit = jsonl_unit(line, f"{name}:{number}")
        if unit is None:
            continue
        if isinstance(unit, RecordError):
            errors[len(items)] = (unit.message, unit.where)
            items.append(None)
            continue
        item = _read(reader, unit, context, prepare)
        if isinstance(item, RecordError):
            errors[len(items)] = (item.message, item.where)
            item = None
        items.append(item)
    return _pack(items, errors)
