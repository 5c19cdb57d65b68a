"""Copy an SQLite ingest's write-ahead log into the database in a thread of its own.

SQLite in WAL mode appends each commit's pages to the ``-wal`` file, and from time to time
copies them into the database ("checkpoint"). By default the connection that commits does
the copying, at the end of its commit, and waits for it: two fsyncs and the copy itself. In
an ingest that connection is the writer, the one step that cannot run in parallel, and the
parsing workers stall while it waits (1,000,000 X posts into SQLite: eight checkpoints of
256 MiB, about two seconds each under strace, during which the writer read no results and
the workers, their chunks parsed, stopped).

:class:`BackgroundCheckpoints` turns the writer's own checkpoints off and runs them in a
thread, on a connection of its own, after each commit. SQLite allows that: a ``PASSIVE``
checkpoint copies the pages committed before it began while the writer goes on writing, and
Python's ``sqlite3`` lets go of the GIL while SQLite works.

One thing only the writer can do: start the WAL file again from its beginning. SQLite does
that when a write transaction begins while every page of the WAL has been copied. With a
thread copying while the writer writes, that happens only when the thread is quick enough,
and otherwise the file would grow with the ingest. So every few commits the writer waits,
before its next batch, until the last commit has been copied, if it has not been yet:
usually a fraction of a second or nothing (see docs/ingest.md, "Throughput").
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from sqlalchemy import Engine

#: Commits after which the writer lets the WAL start again from its beginning, waiting if
#: need be for the copy of the last of them, so the WAL holds at most this many commits'
#: pages. Over 1,000,000 X posts it never passed 77 MB: the thread had mostly copied a commit
#: before the writer began the next batch, and SQLite started the WAL again then. An earlier
#: form of this class that counted pages instead measured the same with 16,384 pages and
#: with four times as many (1,000,000 X posts in 48.7 and 50.2 s, one run each).
RESTART_EVERY = 3


class BackgroundCheckpoints:
    """Checkpoints of ``engine``'s SQLite database, run by a thread after each commit.

    Use as a context manager around the writing; the writer's connection must have
    ``PRAGMA wal_autocheckpoint = 0`` meanwhile. Call :meth:`before_batch` before each write
    transaction begins and :meth:`committed` after each commit."""

    def __init__(self, engine: Engine, *, restart_every: int | None = None) -> None:
        self.engine = engine
        self.restart_every = RESTART_EVERY if restart_every is None else restart_every
        self._commits = 0  # since the WAL last started again
        self.runs = 0  #: checkpoints run
        self._changed = threading.Condition()
        self._requested = False
        self._running = False
        self._stopping = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name="tidewatch-wal-checkpoints", daemon=True
        )

    def __enter__(self) -> BackgroundCheckpoints:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join()
        if self._error is not None and kind is None:
            raise self._error

    def committed(self) -> None:
        """A write transaction has committed: copy what it wrote."""
        with self._changed:
            self._commits += 1
            self._requested = True
            self._changed.notify_all()

    def before_batch(self) -> None:
        """Called before a write transaction begins: every ``restart_every`` commits, wait
        until what they wrote is copied, so that this transaction starts the WAL again from
        its beginning (unless a reader still reads an older state, as with SQLite's own
        checkpoints)."""
        with self._changed:
            if self._error is not None:
                raise self._error
            if self._commits < self.restart_every:
                return
            while (self._requested or self._running) and self._error is None:
                self._changed.wait()
            self._commits = 0

    def _run(self) -> None:
        try:
            connection = self.engine.raw_connection()
            try:
                self._serve(connection)
            finally:
                connection.close()
        except BaseException as error:  # reported to the writer by before_batch and __exit__
            with self._changed:
                self._error = error
                self._running = self._requested = False
                self._changed.notify_all()

    def _serve(self, connection: Any) -> None:
        while True:
            with self._changed:
                while not (self._requested or self._stopping):
                    self._changed.wait()
                if not self._requested:
                    return
                self._requested = False
                self._running = True
            cursor = connection.cursor()
            try:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                cursor.close()
            with self._changed:
                self.runs += 1
                self._running = False
                self._changed.notify_all()
