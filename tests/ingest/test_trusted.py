"""Models built from checked values (tidewatch.trusted) behave like validated ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tidewatch.model import Bundle, Metrics, Platform, Post, Stamp
from tidewatch.timeparse import parse_time
from tidewatch.trusted import builder


def test_a_built_model_equals_and_copies_like_a_validated_one() -> None:
    make = builder(Post)
    values = {"platform": Platform.X, "native_id": "1", "text": "boat", "hashtags": ("uk",)}
    built, validated = make(**values), Post(**values)
    assert built == validated
    assert built.model_dump() == validated.model_dump()
    # The reader decided every field, so every field counts as set.
    assert built.model_fields_set == set(Post.model_fields)
    assert built.model_copy(update={"text": "car"}).text == "car"
    assert built.metrics == Metrics()


def test_a_built_stamp_hashes_like_a_validated_one() -> None:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    assert hash(builder(Stamp)(utc=moment, raw="x")) == hash(Stamp(utc=moment, raw="x"))


def test_default_factories_give_each_instance_its_own_value() -> None:
    make = builder(Metrics)
    first, second = make(), make()
    assert first.extra == {} and first.extra is not second.extra


def test_built_models_share_their_fields_set_and_copies_do_not_touch_it() -> None:
    make = builder(Post)
    first, second = (
        make(platform=Platform.X, native_id="1"),
        make(platform=Platform.X, native_id="2"),
    )
    assert first.model_fields_set is second.model_fields_set
    copied = first.model_copy(update={"text": "car"})
    assert copied.model_fields_set is not first.model_fields_set
    assert second.model_fields_set == set(Post.model_fields)


def test_only_frozen_models_get_a_builder() -> None:
    # Instances share their fields set, which pydantic adds to when a field is assigned.
    with pytest.raises(TypeError, match=r"Bundle: .*only frozen models"):
        builder(Bundle)


def test_a_built_model_stays_frozen() -> None:
    post = builder(Post)(platform=Platform.X, native_id="1")
    with pytest.raises(ValueError, match="frozen"):
        post.text = "changed"


def test_unknown_or_missing_fields_are_refused() -> None:
    make = builder(Post)
    with pytest.raises(TypeError, match=r"build_Post.*txt"):
        make(platform=Platform.X, native_id="1", txt="typo")
    with pytest.raises(TypeError, match=r"build_Post.*native_id"):
        make(platform=Platform.X)
    with pytest.raises(TypeError, match="positional"):
        make(Platform.X, "1")


def test_a_cached_time_keeps_the_zone_rule_of_its_caller() -> None:
    """Stamps are cached by text; a time read as UTC for one format must still be refused
    where a zone is required."""
    assert parse_time("2019-09-07 19:04:03", field="t", naive_is_utc=True).utc == datetime(
        2019, 9, 7, 19, 4, 3, tzinfo=UTC
    )
    with pytest.raises(Exception, match="no time zone"):
        parse_time("2019-09-07 19:04:03", field="t")


def test_the_same_time_text_gives_equal_stamps() -> None:
    first = parse_time("2024-01-01T10:00:00.000Z", field="t")
    assert first == parse_time("2024-01-01T10:00:00.000Z", field="t")
    assert first == Stamp(utc=datetime(2024, 1, 1, 10, tzinfo=UTC), raw="2024-01-01T10:00:00.000Z")
