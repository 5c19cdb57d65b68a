"""TikTok Research API reader, on responses written from the public codebook (fixtures/tiktok_research_api/ORIGIN.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.ingest import reader_test_kit as kit
from tidewatch.errors import RecordError
from tidewatch.ingest import read_input
from tidewatch.ingest.base import Framing, ReadContext, Unit
from tidewatch.ingest.framing import loads
from tidewatch.ingest.tiktok import TikTokResearchReader
from tidewatch.model import Bundle, Platform, Post, PostKind

FOLDER = kit.FIXTURES / "tiktok_research_api"
VIDEOS = FOLDER / "video_query_WRITTEN.json"
PAGES = FOLDER / "video_query_pages_WRITTEN.jsonl"
COMMENTS = FOLDER / "video_comment_list_WRITTEN.json"
USER_INFO = FOLDER / "user_info_WRITTEN.json"
ERROR_BODY = FOLDER / "error_invalid_params_WRITTEN.json"
# The user-info response does not name its account, so read_input alone cannot read it.
DATA = [VIDEOS, PAGES, COMMENTS]
BIG_ID = "7178094638209076522"  # above 2**53: a float (or JavaScript) would change it


def bundle_of(path: Path) -> Bundle:
    [bundle] = list(read_input(path))
    assert isinstance(bundle, Bundle), bundle
    return bundle


def read_value(value: Any, context: ReadContext | None = None) -> Bundle:
    unit = Unit(raw=json.dumps(value).encode(), value=value, where="inline", framing=Framing.JSON)
    return TikTokResearchReader().read(unit, context)


def post_with(bundle: Bundle, native_id: str) -> Post:
    return next(p for p in bundle.posts if p.native_id == native_id)


def response_with(videos: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": {"videos": videos, "has_more": False},
        "error": {"code": "ok", "message": "", "log_id": "1"},
    }


# --- the contract ---------------------------------------------------------------------


def test_every_data_fixture_reads_as_tiktok() -> None:
    kit.check_reads_fixtures(TikTokResearchReader, DATA, min_posts=6)


@pytest.mark.parametrize("path", [*DATA, USER_INFO, ERROR_BODY], ids=lambda p: p.name)
def test_read_input_detects_each_fixture_without_a_format(path: Path) -> None:
    kit.assert_detected(TikTokResearchReader, path)


@pytest.mark.parametrize("path", [VIDEOS, COMMENTS], ids=lambda p: p.name)
def test_random_and_mutated_responses_give_a_bundle_or_a_record_error(path: Path) -> None:
    kit.fuzz_reader(TikTokResearchReader, kit.first_unit(path))


# --- error bodies -----------------------------------------------------------------------


def test_error_code_other_than_ok_is_a_record_error_with_code_and_message() -> None:
    [error] = list(read_input(ERROR_BODY))
    assert isinstance(error, RecordError)
    assert error.message == (
        "TikTok Research API error invalid_params: Invalid parameters: end_date must be no more "
        "than 30 days after start_date (log_id 20231115093000C0FFEE0000000000003)"
    )


def test_a_malformed_field_is_named_with_its_path() -> None:
    value = loads(VIDEOS.read_bytes())
    value["data"]["videos"][1]["like_count"] = "many"
    with pytest.raises(RecordError, match=r"data\.videos\[1\]\.like_count: expected a count"):
        read_value(value)


# --- ids ------------------------------------------------------------------------------


def test_video_id_above_2_53_is_kept_exactly_as_a_string() -> None:
    assert int(BIG_ID) > 2**53
    assert f'"id": {BIG_ID},' in VIDEOS.read_text()  # a JSON number in the fixture, not a string
    video = bundle_of(VIDEOS).posts[0]
    assert video.native_id == BIG_ID
    assert str(int(float(BIG_ID))) != BIG_ID  # what reading it as a float would have stored


def test_video_id_sent_as_a_string_is_accepted() -> None:
    assert "7301234567890123457" in [p.native_id for p in bundle_of(VIDEOS).posts]


def test_video_id_that_arrived_as_a_float_is_refused_because_it_lost_digits() -> None:
    with pytest.raises(RecordError, match=r"data\.videos\[0\]\.id: id .* has lost precision"):
        read_value(response_with([{"id": float(BIG_ID), "video_description": "x"}]))


def test_comment_ids_and_their_video_id_are_kept_exactly() -> None:
    comment = bundle_of(COMMENTS).posts[0]
    assert (comment.native_id, comment.parent_id) == ("7178100000000000001", BIG_ID)


# --- videos -----------------------------------------------------------------------------


def test_video_maps_description_url_and_counts() -> None:
    video = bundle_of(VIDEOS).posts[0]
    assert (video.platform, video.kind) == (Platform.TIKTOK, PostKind.POST)
    assert video.text.startswith("SYNTHETIC TEST DATA. Weekly trips to Europe")
    assert video.url == f"https://www.tiktok.com/@synthetic_travel_tt/video/{BIG_ID}"
    metrics = video.metrics
    assert (metrics.likes, metrics.comments, metrics.shares, metrics.views) == (1250, 87, 44, 30512)


def test_create_time_in_epoch_seconds_becomes_utc_with_the_raw_value() -> None:
    created = bundle_of(VIDEOS).posts[0].created_at
    assert created is not None
    assert (created.utc, created.raw) == (datetime(2023, 11, 12, 11, 15, tzinfo=UTC), "1699787700")


def test_voice_to_text_is_the_video_transcript_the_detector_reads() -> None:
    video = bundle_of(VIDEOS).posts[0]
    [media] = video.media
    assert (media.kind, media.native_id, media.duration_ms) == ("video", BIG_ID, 34000)
    assert media.transcript.startswith("synthetic test transcript: boat leaves on Friday")
    assert "pay half before and half on arrival" in video.detectable_text


def test_hashtag_names_and_mentions_are_kept_without_their_signs() -> None:
    first, second = bundle_of(VIDEOS).posts
    assert first.hashtags == ("travel", "europe")
    assert second.mentions == ("synthetic_helper",)


def test_creator_account_is_keyed_by_username_and_located_by_region_code() -> None:
    bundle = bundle_of(VIDEOS)
    [account] = bundle.accounts
    assert (account.native_id, account.handle) == ("synthetic_travel_tt", "synthetic_travel_tt")
    assert account.location == "TR"
    assert account.url == "https://www.tiktok.com/@synthetic_travel_tt"
    assert {p.account_id for p in bundle.posts} == {"synthetic_travel_tt"}


def test_pages_saved_one_response_per_line_give_one_bundle_each() -> None:
    bundles = list(read_input(PAGES))
    assert [[p.native_id for p in b.posts] for b in bundles if isinstance(b, Bundle)] == [
        ["7301234567890123461"],
        ["7301234567890123463"],
    ]


# --- comments ---------------------------------------------------------------------------


def test_comment_whose_parent_is_the_video_is_a_comment_on_the_video() -> None:
    comment = post_with(bundle_of(COMMENTS), "7178100000000000001")
    assert (comment.kind, comment.parent_id, comment.conversation_id) == (
        PostKind.COMMENT,
        BIG_ID,
        BIG_ID,
    )
    assert (comment.metrics.likes, comment.metrics.comments) == (4, 1)


def test_comment_whose_parent_is_another_comment_is_a_reply_to_it() -> None:
    reply = post_with(bundle_of(COMMENTS), "7178100000000000002")
    assert (reply.kind, reply.parent_id) == (PostKind.REPLY, "7178100000000000001")
    assert reply.text == "SYNTHETIC TEST DATA. Check your messages"


# --- user info --------------------------------------------------------------------------


def test_user_info_without_a_username_is_a_record_error_saying_how_to_give_one() -> None:
    [error] = list(read_input(USER_INFO))
    assert isinstance(error, RecordError)
    assert "data.username" in error.message and "username=" in error.message


def test_user_info_with_the_username_option_becomes_an_account() -> None:
    bundle = read_value(
        loads(USER_INFO.read_bytes()), ReadContext(options={"username": "synthetic_travel_tt"})
    )
    [account] = bundle.accounts
    assert (account.native_id, account.display_name, account.verified) == (
        "synthetic_travel_tt",
        "Synthetic Travel",
        False,
    )
    assert account.bio == "SYNTHETIC TEST DATA. Safe trips, fair price, WhatsApp in link"
    assert account.links == ("https://wa.me/000000000",)
    metrics = account.metrics
    assert (metrics.followers, metrics.following, metrics.likes, metrics.posts) == (
        5120,
        12,
        80450,
        48,
    )


# --- sniffing ---------------------------------------------------------------------------

NOT_TIKTOK = {
    "generic record": {"id": "1", "text": "hello", "create_time": 1699787700},
    "graph error": {
        "error": {"message": "x", "type": "OAuthException", "code": 100, "fbtrace_id": "A"}
    },
    "google error": {
        "error": {"code": 400, "message": "Bad Request", "errors": [{"reason": "keyInvalid"}]}
    },
    "x v2 page": {"data": [{"id": "1", "text": "hi"}], "meta": {"result_count": 1}},
}


@pytest.mark.parametrize("path", kit.other_formats_fixtures(FOLDER), ids=kit.fixture_id)
def test_sniff_does_not_claim_another_formats_fixture(path: Path) -> None:
    kit.assert_sniff_rejects(TikTokResearchReader, path)


@pytest.mark.parametrize("value", NOT_TIKTOK.values(), ids=NOT_TIKTOK.keys())
def test_sniff_does_not_claim_look_alike_payloads(value: Any) -> None:
    assert not TikTokResearchReader.sniff(value, Framing.JSON)
