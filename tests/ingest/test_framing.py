"""Bad input gets a clear error naming the file and line; good records around it still arrive."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidewatch.errors import FormatError, RecordError
from tidewatch.ingest import read_input, read_stream
from tidewatch.ingest.framing import Limits, PeekableStream, jsonl_unit
from tidewatch.model import Bundle


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def results(path: Path, **kwargs) -> tuple[list[Bundle], list[RecordError]]:  # type: ignore[no-untyped-def]
    items = list(read_input(path, **kwargs))
    return [i for i in items if isinstance(i, Bundle)], [
        i for i in items if isinstance(i, RecordError)
    ]


def line(record: dict) -> bytes:  # type: ignore[type-arg]
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"


def test_a_truncated_json_line_is_reported_with_its_line_and_the_rest_is_read(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "posts.jsonl",
        line({"id": 1, "text": "a"})
        + b'{"id": 2, "text": "b'
        + b"\n"
        + line({"id": 3, "text": "c"}),
    )
    bundles, errors = results(path)
    assert [b.posts[0].native_id for b in bundles] == ["1", "3"]
    assert len(errors) == 1
    assert str(errors[0]).startswith(f"{path}:2: truncated JSON")


def test_invalid_utf8_is_reported_with_its_line_and_byte(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "posts.jsonl",
        line({"id": 1, "text": "a"})
        + b'{"id": 2, "text": "\xff\xfe"}\n'
        + line({"id": 3, "text": "c"}),
    )
    bundles, errors = results(path)
    assert len(bundles) == 2
    assert str(errors[0]) == f"{path}:2: invalid UTF-8 at byte offset 19 of the line"


@settings(max_examples=400)
@given(
    st.binary(max_size=12),
    st.sampled_from([b"", b"0" * 25, b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"]),
)
def test_a_line_is_refused_as_invalid_utf8_exactly_when_python_cannot_decode_it(
    noise: bytes, tricky: bytes
) -> None:
    # Parsing relies on orjson to refuse invalid UTF-8 (lone surrogates, code points past
    # U+10FFFF, overlong forms included) as Python's decoder does; twenty digits take the
    # standard library's path.
    raw = b'{"id": 1, "n": ' + (tricky if tricky.isdigit() else b"1")
    raw += b', "text": "' + noise + (b"" if tricky.isdigit() else tricky) + b'"}'
    unit = jsonl_unit(raw, "f:1")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        assert isinstance(unit, RecordError)
        assert str(unit) == f"f:1: invalid UTF-8 at byte offset {error.start} of the line"
    else:
        assert not (isinstance(unit, RecordError) and "UTF-8" in str(unit))


def test_a_missing_required_field_names_the_field_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, "posts.jsonl", line({"id": 1, "text": "a"}) + line({"id": 2, "txt": "typo"})
    )
    bundles, errors = results(path, format="generic")
    assert len(bundles) == 1
    assert str(errors[0]) == f"{path}:2: record: required field 'text' is missing"


def test_an_enormous_line_is_skipped_without_holding_it_in_memory(tmp_path: Path) -> None:
    huge = b'{"id": 2, "text": "' + b"x" * 20_000_000 + b'"}\n'
    path = write(
        tmp_path, "posts.jsonl", line({"id": 1, "text": "a"}) + huge + line({"id": 3, "text": "c"})
    )
    tracemalloc.start()
    bundles, errors = results(path, limits=Limits(max_line_bytes=100_000))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [b.posts[0].native_id for b in bundles] == ["1", "3"]
    assert "over the limit of 100,000" in str(errors[0]) and f"{path}:2" in str(errors[0])
    assert peak < 8_000_000, f"peak {peak:,} bytes: the long line was buffered"


def test_a_file_that_is_not_json_or_csv_is_refused_as_a_whole(tmp_path: Path) -> None:
    path = write(tmp_path, "photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(FormatError, match=r"photo\.png"):
        results(path)


def test_plain_prose_is_refused_with_the_start_of_its_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.txt", b"just some notes\nno structure\n")
    with pytest.raises(FormatError, match="just some notes"):
        results(path)


def test_json_in_an_unknown_shape_names_the_known_formats(tmp_path: Path) -> None:
    path = write(tmp_path, "other.jsonl", line({"weather": "calm"}))
    with pytest.raises(FormatError, match=r"known formats: .*generic"):
        results(path)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="empty"):
        results(write(tmp_path, "empty.jsonl", b"\n  \n"))


def test_a_truncated_json_document_is_one_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "feed.json", b'{\n  "data": [\n    {"id": "1", "message": "hi"')
    bundles, errors = results(path)
    assert bundles == []
    assert str(errors[0]).startswith(f"{path}: truncated JSON document")


def test_asking_for_a_format_that_cannot_read_the_framing_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "posts.csv", b"id,text\n1,hello\n")
    with pytest.raises(FormatError, match="telegram"):
        results(path, format="telegram")


def test_csv_rows_keep_their_own_raw_lines_with_the_header(tmp_path: Path) -> None:
    path = write(tmp_path, "posts.csv", b'id,text\n1,"two\nlines"\n2,plain\n')
    bundles, errors = results(path)
    assert errors == []
    assert bundles[0].posts[0].text == "two\nlines"
    assert bundles[0].source.raw == b'id,text\n1,"two\nlines"\n'
    assert bundles[1].source.raw == b"id,text\n2,plain\n"


def test_a_csv_row_with_the_wrong_number_of_fields_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "posts.csv", b"id,text\n1,ok\n2,too,many\n3,fine\n")
    bundles, errors = results(path)
    assert [b.posts[0].native_id for b in bundles] == ["1", "3"]
    assert str(errors[0]) == f"{path}:3: CSV row has 3 fields, the header has 2"


def test_a_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    bundles, errors = results(write(tmp_path, "bom.csv", b"\xef\xbb\xbfid,text\n1,hello\n"))
    assert errors == [] and bundles[0].posts[0].text == "hello"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_bundles_record_errors_or_a_format_error(data: bytes) -> None:
    stream = PeekableStream(io.BytesIO(data), "fuzz")
    try:
        for item in read_stream(stream, limits=Limits(max_line_bytes=200, max_document_bytes=300)):
            assert isinstance(item, Bundle | RecordError)
    except FormatError as error:
        assert str(error).startswith("fuzz")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["id", "text", "author", "created_at", "url", "platform"]),
            st.one_of(st.none(), st.integers(), st.text(max_size=10), st.floats(allow_nan=False)),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_generic_lines_of_random_values_never_raise_anything_unexpected(
    records: list[dict],
) -> None:  # type: ignore[type-arg]
    data = b"".join(line(r) for r in records)
    stream = PeekableStream(io.BytesIO(b'{"id": "0", "text": "first"}\n' + data), "fuzz")
    for item in read_stream(stream, format="generic"):
        assert isinstance(item, Bundle | RecordError)


def test_integers_over_64_bits_are_parsed_exactly() -> None:
    from tidewatch.ingest.framing import loads

    assert loads(b'{"id": 123456789012345678901234}') == {"id": 123456789012345678901234}
