"""The contract every reader must pass (modelled on python-threatexchange's signal_type_test_helper).

A reader's own test module calls :func:`check_reads_fixtures` with its real fixtures and
:func:`fuzz_reader` with hypothesis; both are written once here so that no reader can skip them.
Detection is checked the same way: :func:`assert_detected` / :func:`assert_read_as` on the
reader's own fixtures, and :func:`assert_sniff_rejects` on :func:`other_formats_fixtures`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tidewatch.errors import FormatError, RecordError
from tidewatch.ingest import detect_reader, open_input, read_input
from tidewatch.ingest.base import Framing, Reader, Unit
from tidewatch.ingest.framing import detect_framing, iter_units, loads
from tidewatch.model import Bundle, Stamp

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def _stamps(value: Any) -> list[Stamp]:
    if isinstance(value, Stamp):
        return [value]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _stamps(item)]
    if isinstance(value, BaseModel):
        return [s for name in type(value).model_fields for s in _stamps(getattr(value, name))]
    return []


def check_reads_fixtures(
    reader: type[Reader], paths: list[Path], *, min_posts: int = 1
) -> list[Bundle]:
    """Each fixture is detected as this reader's format and read without error into bundles
    whose ids are strings, whose times are UTC, and whose source keeps the exact raw bytes."""
    bundles: list[Bundle] = []
    for path in paths:
        results = list(read_input(path))
        errors = [r for r in results if isinstance(r, RecordError)]
        assert not errors, f"{path.name}: {errors}"
        file_bundles = [r for r in results if isinstance(r, Bundle)]
        assert file_bundles, f"{path.name}: no records read"
        raw_file = path.read_bytes()
        for bundle in file_bundles:
            assert bundle.source.format == reader.name, (
                f"{path.name} detected as {bundle.source.format}"
            )
            assert _raw_is_from(bundle, raw_file), (
                "the source record must keep the raw bytes unchanged"
            )
            for post in bundle.posts:
                assert isinstance(post.native_id, str) and post.native_id
                assert isinstance(post.account_id, str)
            for stamp in _stamps(bundle):
                offset = stamp.utc.utcoffset()
                assert offset is not None and offset.total_seconds() == 0
                assert stamp.raw
        bundles.extend(file_bundles)
    assert sum(len(b.posts) for b in bundles) >= min_posts
    return bundles


def _raw_is_from(bundle: Bundle, raw_file: bytes) -> bool:
    """JSON units are slices of the file; a CSV unit is the header line plus its row's lines."""
    raw = bundle.source.raw
    if raw in raw_file:
        return True
    header, _, row = raw.partition(b"\n")
    return raw_file.lstrip(b"\xef\xbb\xbf").startswith(header + b"\n") and row in raw_file


def first_unit(path: Path) -> Unit:
    raw = path.read_bytes()
    if path.suffix == ".jsonl":
        line = next(candidate for candidate in raw.split(b"\n") if candidate.strip())
        return Unit(raw=line, value=loads(line), where=path.name, framing=Framing.JSONL)
    return Unit(raw=raw, value=loads(raw), where=path.name, framing=Framing.JSON)


def _read_or_record_error(reader: Reader, value: Any, framing: Framing) -> None:
    unit = Unit(raw=repr(value).encode(), value=value, where="fuzz", framing=framing)
    try:
        result = reader.read(unit)
    except RecordError as error:
        assert str(error)  # a message a person can read
        return
    assert isinstance(result, Bundle)


def fuzz_reader(reader: type[Reader], sample: Unit) -> None:
    """Random JSON and random mutations of a real sample: parse, or raise RecordError."""
    instance = reader()
    framing = sample.framing

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(json_values)
    def random_values(value: Any) -> None:
        _read_or_record_error(instance, value, framing)

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def mutated_sample(data: st.DataObject) -> None:
        value = copy.deepcopy(sample.value)
        for _ in range(data.draw(st.integers(1, 3))):
            value = _mutate(value, data)
        _read_or_record_error(instance, value, framing)

    random_values()
    mutated_sample()


def _mutate(value: Any, data: st.DataObject) -> Any:
    """Replace or delete one node somewhere in a JSON tree."""
    if isinstance(value, dict) and value and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(value, key=str)))
        if data.draw(st.integers(0, 3)) == 0:
            del value[key]
        else:
            value[key] = _mutate(value[key], data)
        return value
    if isinstance(value, list) and value and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(value) - 1))
        value[index] = _mutate(value[index], data)
        return value
    return data.draw(json_values)


# --- detection ------------------------------------------------------------------------------

JSON_SUFFIXES = frozenset({".json", ".jsonl"})


def fixture_id(path: Path) -> str:
    """A parametrize id naming a fixture with its folder: ``x_twitter_v2/twarc2_edited.jsonl``."""
    return f"{path.parent.name}/{path.name}"


def other_formats_fixtures(folder: Path) -> list[Path]:
    """Every fixture file outside ``folder`` (ORIGIN.md notes left out), sorted: the inputs of
    every other format, which the reader whose fixtures live in ``folder`` must not claim."""
    return sorted(
        p
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.suffix != ".md" and p.parent.name != folder.name
    )


def framed_first_unit(path: Path) -> Unit | None:
    """The first unit of a file exactly as read_input frames it (blank lines and all), or None
    when there is none: a file whose framing is not recognised (binary evidence files and the
    like: no reader's input) or that frames into no unit."""
    with open_input(path) as stream:
        try:
            framing = detect_framing(stream)
        except FormatError:
            return None
        return next((u for u in iter_units(stream, framing) if isinstance(u, Unit)), None)


def assert_detected_as(reader: type[Reader], unit: Unit) -> None:
    """detect_reader (what read_input runs when given no --format) picks ``reader`` for ``unit``."""
    detected = type(detect_reader(unit))
    assert detected is reader, f"{unit.where}: detected as {detected.__name__}"


def assert_detected(reader: type[Reader], path: Path) -> None:
    """Given no --format, read_input picks ``reader`` for this fixture: detection runs on the
    first unit as read_input frames it. Holds for error bodies too, which read as RecordErrors."""
    unit = framed_first_unit(path)
    assert unit is not None, f"{path.name}: read_input frames no unit to detect"
    assert_detected_as(reader, unit)


def assert_read_as(reader: type[Reader], path: Path) -> None:
    """Given no --format, read_input reads every record of this fixture into a bundle (no
    RecordError), and every bundle is of ``reader``'s format."""
    results = list(read_input(path))
    assert all(isinstance(r, Bundle) for r in results), results
    formats = {r.source.format for r in results if isinstance(r, Bundle)}
    assert formats == {reader.name}, f"{path.name} read as {sorted(formats)}"


def assert_sniff_rejects(reader: type[Reader], path: Path) -> None:
    """``reader.sniff`` does not claim the first unit (as read_input frames it) of another
    format's fixture. A file that frames into no unit has nothing to claim, but a JSON or JSON
    Lines fixture always must frame into one."""
    unit = framed_first_unit(path)
    if unit is None:
        assert path.suffix not in JSON_SUFFIXES, f"{fixture_id(path)}: frames into no unit"
        return
    assert not reader.sniff(unit.value, unit.framing), (
        f"{reader.__name__} claims {fixture_id(path)} ({unit.framing.value})"
    )
