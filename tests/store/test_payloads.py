"""Raw payloads are stored packed and always read back byte for byte."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from tests.store.test_writer import bundle, post
from tidewatch.store import load
from tidewatch.store import tables as t
from tidewatch.store.payloads import FRAME_MAGIC, pack, unpack
from tidewatch.store.repository import SourceRepository

PAGE = b'{"data": [' + b",".join(b'{"id": "%d", "text": "boat uk"}' % n for n in range(300)) + b"]}"


@given(st.binary(max_size=2048))
def test_any_payload_reads_back_as_it_was(payload: bytes) -> None:
    assert unpack(pack(payload)) == payload


@given(st.binary(max_size=64))
def test_a_payload_that_begins_with_the_frame_magic_reads_back_as_it_was(tail: bytes) -> None:
    payload = FRAME_MAGIC + tail
    assert pack(payload).startswith(FRAME_MAGIC)
    assert unpack(pack(payload)) == payload


def test_a_page_of_json_is_stored_as_a_frame_several_times_smaller() -> None:
    stored = pack(PAGE)
    assert stored.startswith(FRAME_MAGIC)
    assert len(stored) * 5 < len(PAGE)


def test_what_a_frame_would_not_shrink_is_stored_as_it_is() -> None:
    assert pack(b'{"id": "1"}') == b'{"id": "1"}'
    assert pack(b"") == b""  # the retention purge's mark of deleted bytes


def test_values_stored_before_payloads_were_packed_read_as_they_are() -> None:
    assert unpack(PAGE) == PAGE


def test_ingest_stores_the_frame_and_every_reader_gets_the_payload(engine: Engine) -> None:
    load(engine, [bundle(PAGE, [post("p1", "boat")])], input_name="page.jsonl")
    with engine.connect() as conn:
        # What the database holds, past the column's type: the packed form.
        stored = conn.exec_driver_sql("SELECT raw FROM source_records").scalar_one()
        through_table = conn.execute(select(t.source_records.c.raw)).scalar_one()
        sha = conn.execute(select(t.source_records.c.sha256)).scalar_one()
    assert bytes(stored).startswith(FRAME_MAGIC)
    assert len(stored) * 5 < len(PAGE)
    assert through_table == PAGE
    assert sha == hashlib.sha256(PAGE).hexdigest()
    assert SourceRepository(engine).raw(sha) == PAGE


def test_threads_packing_at_once_each_get_their_own_frames() -> None:
    payloads = [PAGE.replace(b"boat", b"%05d" % n) for n in range(64)]
    with ThreadPoolExecutor(8) as pool:
        frames = list(pool.map(pack, payloads))
    assert [unpack(frame) for frame in frames] == payloads
