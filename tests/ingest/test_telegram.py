"""Telegram Desktop export reader, on exports written from the spec (fixtures/telegram_desktop_export/ORIGIN.md)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.ingest import reader_test_kit as kit
from tidewatch.errors import RecordError
from tidewatch.ingest import read_input
from tidewatch.ingest.base import Framing, Unit
from tidewatch.ingest.framing import loads
from tidewatch.ingest.telegram import TelegramExportReader
from tidewatch.model import Bundle, Platform, Post, PostKind

FOLDER = kit.FIXTURES / "telegram_desktop_export"
CHANNEL = FOLDER / "channel_result_WRITTEN.json"
ACCOUNT = FOLDER / "account_result_WRITTEN.json"
DATA = [CHANNEL, ACCOUNT]


def bundle_of(path: Path) -> Bundle:
    [bundle] = list(read_input(path))
    assert isinstance(bundle, Bundle), bundle
    return bundle


def read_value(value: Any) -> Bundle:
    unit = Unit(raw=json.dumps(value).encode(), value=value, where="inline", framing=Framing.JSON)
    return TelegramExportReader().read(unit)


def channel_value() -> dict[str, Any]:
    return copy.deepcopy(loads(CHANNEL.read_bytes()))


def message(native_id: str, path: Path = CHANNEL) -> Post:
    return next(p for p in bundle_of(path).posts if p.native_id == native_id)


# --- the contract ---------------------------------------------------------------------


def test_every_export_fixture_reads_as_telegram() -> None:
    kit.check_reads_fixtures(TelegramExportReader, DATA, min_posts=9)


@pytest.mark.parametrize("path", DATA, ids=lambda p: p.name)
def test_read_input_detects_each_fixture_without_a_format(path: Path) -> None:
    kit.assert_detected(TelegramExportReader, path)


def test_random_and_mutated_exports_give_a_bundle_or_a_record_error() -> None:
    kit.fuzz_reader(TelegramExportReader, kit.first_unit(CHANNEL))


def test_a_malformed_field_is_named_with_its_path() -> None:
    value = channel_value()
    value["messages"][2]["from_id"] = ["user", 1]
    with pytest.raises(
        RecordError, match=r"chat\.messages\[2\]\.from_id: expected an id, got a list"
    ):
        read_value(value)


def test_text_that_is_neither_a_string_nor_a_list_is_refused_naming_it() -> None:
    value = channel_value()
    value["messages"][1]["text"] = {"type": "plain"}
    with pytest.raises(RecordError, match=r"chat\.messages\[1\]\.text: expected a list"):
        read_value(value)


# --- ids and accounts -------------------------------------------------------------------


def test_message_id_is_chat_id_slash_message_id() -> None:
    post = message("1987654321/2")
    assert (post.platform, post.kind) == (Platform.TELEGRAM, PostKind.POST)
    assert post.url == "https://t.me/c/1987654321/2"


def test_message_ids_are_unique_across_the_chats_of_a_full_export() -> None:
    ids = [p.native_id for p in bundle_of(ACCOUNT).posts]
    assert ids == ["5000000002/1", "5000000002/2", "1876543210/2"]


def test_channel_posts_belong_to_the_channel_account() -> None:
    bundle = bundle_of(CHANNEL)
    assert {p.account_id for p in bundle.posts} == {"channel1987654321"}
    [channel] = bundle.accounts
    assert (channel.native_id, channel.display_name) == (
        "channel1987654321",
        "SYNTHETIC Travel Offers (test data)",
    )


def test_group_messages_belong_to_their_senders() -> None:
    bundle = bundle_of(ACCOUNT)
    assert [(a.native_id, a.display_name) for a in bundle.accounts] == [
        ("user5000000002", "Synthetic Contact"),
        ("user5000000001", "Synthetic Analyst"),
    ]


# --- times ------------------------------------------------------------------------------


def test_time_is_date_unixtime_not_the_exporting_machines_local_date() -> None:
    raw_message = channel_value()["messages"][1]
    created = message("1987654321/2").created_at
    assert created is not None
    assert (created.utc, created.raw) == (datetime(2023, 11, 12, 11, 15, tzinfo=UTC), "1699787700")
    local = datetime.fromisoformat(raw_message["date"]).replace(tzinfo=UTC)
    assert local - created.utc == timedelta(hours=3)  # the exporter was on UTC+3


def test_edit_time_comes_from_edited_unixtime() -> None:
    edited = message("1987654321/3").edited_at
    assert edited is not None
    assert (edited.utc, edited.raw) == (datetime(2023, 11, 12, 14, 10, tzinfo=UTC), "1699798200")


def test_an_old_export_without_date_unixtime_gives_no_time_rather_than_a_guess() -> None:
    value = channel_value()
    del value["messages"][1]["date_unixtime"]
    post = next(p for p in read_value(value).posts if p.native_id == "1987654321/2")
    assert post.created_at is None


# --- text -------------------------------------------------------------------------------


def test_plain_string_text_is_kept_as_it_is() -> None:
    assert message("1987654321/2").text == (
        "بيانات اختبار اصطناعية. رحلات أسبوعية إلى أوروبا، المقاعد محدودة، الدفع عند الوصول"
    )


def test_entity_list_text_is_flattened_to_the_plain_text_a_reader_sees() -> None:
    assert message("1987654321/3").text == (
        "داتای تاقیکردنەوەی دەستکرد. گەشتی سەلامەت بۆ ئەوروپا #ئەوروپا\n"
        "پەیوەندی: wa.me/000000000 یان ئێرە @synthetic_agent_tg +00 000 000 0000"
    )


def test_link_entities_and_text_link_hrefs_become_links() -> None:
    assert message("1987654321/3").links == (
        "https://wa.me/000000000",
        "https://t.me/+SYNTHETICinvite000",
    )


def test_hashtag_and_mention_entities_are_kept_without_their_signs() -> None:
    post = message("1987654321/3")
    assert (post.hashtags, post.mentions) == (("ئەوروپا",), ("synthetic_agent_tg",))


def test_text_entities_are_read_when_text_is_missing() -> None:
    value = channel_value()
    del value["messages"][2]["text"]
    post = next(p for p in read_value(value).posts if p.native_id == "1987654321/3")
    assert post.text == message("1987654321/3").text
    assert post.links == ("https://wa.me/000000000", "https://t.me/+SYNTHETICinvite000")


# --- kinds ------------------------------------------------------------------------------


def test_forwarded_message_is_a_forward_naming_its_origin() -> None:
    post = message("1987654321/4")
    assert (post.kind, post.forwarded_from) == (
        PostKind.FORWARD,
        "SYNTHETIC Other Channel (test data)",
    )


def test_reply_is_a_reply_to_the_message_in_the_same_chat() -> None:
    post = message("1987654321/5")
    assert (post.kind, post.parent_id) == (PostKind.REPLY, "1987654321/2")


def test_service_messages_are_skipped_without_failing() -> None:
    channel_ids = [p.native_id for p in bundle_of(CHANNEL).posts]
    assert "1987654321/1" not in channel_ids and len(channel_ids) == 6
    assert "1876543210/1" not in [p.native_id for p in bundle_of(ACCOUNT).posts]


# --- media and reactions ----------------------------------------------------------------


def test_photo_becomes_photo_media_with_its_path_in_the_export() -> None:
    [photo] = message("1987654321/3").media
    assert (photo.kind, photo.local_path) == ("photo", "photos/photo_1@12-11-2023_14-40-00.jpg")
    assert (photo.width, photo.height) == (1280, 720)


def test_video_file_becomes_video_media_with_its_duration() -> None:
    [video] = message("1987654321/6").media
    assert (video.kind, video.local_path, video.duration_ms) == (
        "video",
        "video_files/synthetic_clip.mp4",
        31000,
    )


def test_a_file_left_out_of_the_export_is_media_without_a_path() -> None:
    [voice] = message("1987654321/7").media
    assert (voice.kind, voice.local_path, voice.duration_ms) == ("audio", "", 12000)


def test_reactions_become_extra_metrics() -> None:
    assert message("1987654321/2").metrics.extra == {
        "reactions": 7,
        "reaction:👍": 5,
        "reaction:🔥": 2,
    }


# --- sniffing ---------------------------------------------------------------------------

NOT_TELEGRAM = {
    "generic record": {"id": "1", "text": "hello"},
    "generic array": [{"id": "1", "text": "hello", "type": "message"}],
    "chat list without messages": {"name": "x", "type": "public_channel", "id": 1},
}


@pytest.mark.parametrize("path", kit.other_formats_fixtures(FOLDER), ids=kit.fixture_id)
def test_sniff_does_not_claim_another_formats_fixture(path: Path) -> None:
    kit.assert_sniff_rejects(TelegramExportReader, path)


@pytest.mark.parametrize("value", NOT_TELEGRAM.values(), ids=NOT_TELEGRAM.keys())
def test_sniff_does_not_claim_look_alike_payloads(value: Any) -> None:
    assert not TelegramExportReader.sniff(value, Framing.JSON)
