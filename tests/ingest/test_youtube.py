"""YouTube Data API v3 reader, on responses recorded by python-youtube (fixtures/youtube_data_api_v3/ORIGIN.md)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.ingest import reader_test_kit as kit
from tidewatch.errors import RecordError
from tidewatch.ingest import read_input
from tidewatch.ingest.base import Framing, Unit
from tidewatch.ingest.framing import loads
from tidewatch.ingest.youtube import YouTubeReader
from tidewatch.model import Availability, Bundle, Platform, Post, PostKind

FOLDER = kit.FIXTURES / "youtube_data_api_v3"
ERRORS = sorted(FOLDER.glob("error_*.json"))
DATA = sorted(p for p in FOLDER.glob("*.json") if p not in ERRORS)
VIDEOS = FOLDER / "videos_list_full_parts.json"
THREADS = FOLDER / "commentThreads_list_by_video_page1.json"
REPLIES = FOLDER / "comments_list_replies_page1.json"


def bundle_of(path: Path) -> Bundle:
    [bundle] = list(read_input(path))
    assert isinstance(bundle, Bundle), bundle
    return bundle


def read_value(value: Any) -> Bundle:
    unit = Unit(raw=json.dumps(value).encode(), value=value, where="inline", framing=Framing.JSON)
    return YouTubeReader().read(unit)


def fixture_value(path: Path) -> dict[str, Any]:
    return copy.deepcopy(loads(path.read_bytes()))


def post_with(bundle: Bundle, native_id: str) -> Post:
    return next(p for p in bundle.posts if p.native_id == native_id)


def the_video() -> Post:
    [video] = bundle_of(VIDEOS).posts
    return video


# --- the contract ---------------------------------------------------------------------


def test_every_data_fixture_reads_as_youtube() -> None:
    kit.check_reads_fixtures(YouTubeReader, DATA, min_posts=9)


@pytest.mark.parametrize("path", [*DATA, *ERRORS], ids=lambda p: p.name)
def test_read_input_detects_each_fixture_without_a_format(path: Path) -> None:
    kit.assert_detected(YouTubeReader, path)


@pytest.mark.parametrize(
    "path", [VIDEOS, THREADS, FOLDER / "channels_list.json"], ids=lambda p: p.name
)
def test_random_and_mutated_responses_give_a_bundle_or_a_record_error(path: Path) -> None:
    kit.fuzz_reader(YouTubeReader, kit.first_unit(path))


# --- error bodies -----------------------------------------------------------------------


def test_key_invalid_error_body_is_a_record_error_naming_the_reason() -> None:
    [error] = list(read_input(FOLDER / "error_400_keyInvalid.json"))
    assert isinstance(error, RecordError)
    assert error.message == "YouTube API error 400 (keyInvalid): Bad Request"


def test_permission_error_body_names_its_reason_status_and_messages() -> None:
    [error] = list(read_input(FOLDER / "error_403.json"))
    assert isinstance(error, RecordError)
    assert "403 (SERVICE_UNAVAILABLE, PERMISSION_DENIED)" in error.message
    assert "The caller does not have permission; Permission denied." in error.message


def test_a_response_kind_this_reader_does_not_read_is_a_record_error() -> None:
    with pytest.raises(RecordError, match="youtube#searchListResponse"):
        read_value({"kind": "youtube#searchListResponse", "items": []})


def test_a_malformed_duration_is_refused_naming_the_field() -> None:
    value = fixture_value(VIDEOS)
    value["items"][0]["contentDetails"]["duration"] = "21 minutes"
    with pytest.raises(RecordError, match=r"items\[0\]\.contentDetails\.duration: '21 minutes'"):
        read_value(value)


# --- videos -----------------------------------------------------------------------------


def test_video_statistics_sent_as_strings_become_ints() -> None:
    metrics = the_video().metrics
    assert (metrics.views, metrics.likes, metrics.comments) == (7920, 190, 32)
    assert metrics.extra == {"dislikes": 23, "favorites": 0}


def test_video_duration_in_iso_8601_becomes_milliseconds() -> None:
    [media] = the_video().media
    assert (media.kind, media.duration_ms) == ("video", (21 * 60 + 7) * 1000)  # PT21M7S


def test_video_url_is_the_watch_url_and_its_preview_the_largest_thumbnail() -> None:
    video = the_video()
    assert (video.native_id, video.url) == (
        "D-lhorsDlUQ",
        "https://www.youtube.com/watch?v=D-lhorsDlUQ",
    )
    assert video.media[0].preview_url == "https://i.ytimg.com/vi/D-lhorsDlUQ/maxresdefault.jpg"


def test_video_title_description_and_language_come_from_the_snippet() -> None:
    video = the_video()
    assert video.title == "What are Actions on Google (Assistant on Air)"
    assert video.text.startswith("In the first episode of Assistant on Air, Luke Davis")
    assert video.lang == "en"


def test_video_published_time_is_utc_and_keeps_the_raw_value() -> None:
    created = the_video().created_at
    assert created is not None
    assert created.utc == datetime(2019, 3, 21, 20, 37, 49, tzinfo=UTC)
    assert created.raw == "2019-03-21T20:37:49.000Z"


def test_video_tags_are_its_hashtags() -> None:
    hashtags = the_video().hashtags
    assert hashtags[:3] == ("Google", "developers", "aog")
    assert "Actions on Google" in hashtags and len(hashtags) == 20


def test_video_belongs_to_its_channel() -> None:
    bundle = bundle_of(VIDEOS)
    assert bundle.posts[0].account_id == "UC_x5XG1OV2P6uZZ5FSM9Ttw"
    [channel] = bundle.accounts
    assert (channel.platform, channel.display_name) == (Platform.YOUTUBE, "Google Developers")


def test_video_without_content_details_has_no_duration() -> None:
    [video] = bundle_of(FOLDER / "videos_list_snippet_player.json").posts
    assert video.media[0].duration_ms is None and video.metrics.is_empty()


# --- comments ---------------------------------------------------------------------------


def test_top_level_comments_are_comments_on_the_video() -> None:
    comment = post_with(bundle_of(THREADS), "UgyZ1jqkHKYvi1-ruOZ4AaABAg")
    assert (comment.kind, comment.parent_id) == (PostKind.COMMENT, "F1UP7wRCPH8")
    assert (
        comment.url == "https://www.youtube.com/watch?v=F1UP7wRCPH8&lc=UgyZ1jqkHKYvi1-ruOZ4AaABAg"
    )
    assert comment.account_id == "UCzj-CjKYmGlZ7vTL-vOe57A"


def test_comment_text_is_text_original_not_the_html_display_text() -> None:
    comment = post_with(bundle_of(THREADS), "UgyKv8ziPYFJDGytM_J4AaABAg")
    assert comment.text == (
        "All account on Android store for data show the Google and YouTube video Android computer "
        "system fordata show\n        settings displayed"
    )


def test_anchors_in_the_display_text_become_links() -> None:
    comment = post_with(bundle_of(THREADS), "UgyZ1jqkHKYvi1-ruOZ4AaABAg")
    assert (comment.text, comment.links) == ("Google.com", ("http://google.com/",))


def test_hashtag_search_anchors_are_not_links() -> None:
    comment = post_with(bundle_of(THREADS), "UgwI_ylXVnzPS8Q-oAV4AaABAg")
    assert comment.links == ()
    assert comment.metrics.comments == 2  # totalReplyCount


def test_display_text_is_read_as_plain_text_when_the_original_is_withheld() -> None:
    value = fixture_value(THREADS)
    del value["items"][4]["snippet"]["topLevelComment"]["snippet"]["textOriginal"]
    comment = post_with(read_value(value), "UgwI_ylXVnzPS8Q-oAV4AaABAg")
    assert comment.text.startswith(
        "Lot's of good light coming in from here #ChromeDevSummit the web"
    )


def test_replies_list_items_are_replies_to_their_parent_comment() -> None:
    reply = post_with(bundle_of(REPLIES), "Ugw5zYU6n9pmIgAZWvN4AaABAg.91zT3cYb5B291za6voUoRh")
    assert (reply.kind, reply.parent_id) == (PostKind.REPLY, "Ugw5zYU6n9pmIgAZWvN4AaABAg")
    assert reply.text == "this is the third reply!"
    assert reply.url == ""  # comments.list does not say which video


def test_replies_inside_a_thread_are_replies_with_the_video_url() -> None:
    value = fixture_value(THREADS)
    reply = fixture_value(REPLIES)["items"][0]
    value["items"][4]["replies"] = {"comments": [reply]}
    read = post_with(read_value(value), reply["id"])
    assert (read.kind, read.parent_id) == (PostKind.REPLY, "Ugw5zYU6n9pmIgAZWvN4AaABAg")
    assert read.url == f"https://www.youtube.com/watch?v=F1UP7wRCPH8&lc={reply['id']}"


def test_an_updated_comment_has_an_edit_time() -> None:
    value = fixture_value(THREADS)
    value["items"][0]["snippet"]["topLevelComment"]["snippet"]["updatedAt"] = (
        "2019-11-27T08:00:00.000Z"
    )
    comment = read_value(value).posts[0]
    assert comment.edited_at is not None and comment.edited_at.raw == "2019-11-27T08:00:00.000Z"
    assert post_with(bundle_of(THREADS), comment.native_id).edited_at is None


# --- channels ---------------------------------------------------------------------------


def test_channel_becomes_an_account_with_its_handle_and_bio() -> None:
    bundle = bundle_of(FOLDER / "channels_list.json")
    assert bundle.posts == []
    [channel] = bundle.accounts
    assert (channel.native_id, channel.handle) == ("UC_x5XG1OV2P6uZZ5FSM9Ttw", "googledevelopers")
    assert channel.display_name == "Google Developers"
    assert channel.bio.startswith("The Google Developers channel features talks from events")
    assert (channel.location, channel.url) == (
        "US",
        "https://www.youtube.com/channel/UC_x5XG1OV2P6uZZ5FSM9Ttw",
    )


def test_channel_statistics_become_account_metrics_and_hidden_subscribers_none() -> None:
    value = fixture_value(FOLDER / "channels_list.json")
    statistics = {
        "viewCount": "2500",
        "subscriberCount": "120",
        "videoCount": "7",
        "hiddenSubscriberCount": False,
    }
    value["items"][0]["statistics"] = statistics
    metrics = read_value(value).accounts[0].metrics
    assert (metrics.followers, metrics.posts, metrics.views) == (120, 7, 2500)
    statistics["hiddenSubscriberCount"] = True
    assert read_value(value).accounts[0].metrics.followers is None


# --- sniffing ---------------------------------------------------------------------------

NOT_YOUTUBE = {
    "generic record": {"id": "1", "text": "hello"},
    "graph error": {
        "error": {"message": "x", "type": "OAuthException", "code": 100, "fbtrace_id": "A"}
    },
    "tiktok error": {
        "data": {},
        "error": {"code": "invalid_params", "message": "x", "log_id": "1"},
    },
    "other kind": {"kind": "drive#fileList", "items": []},
}


@pytest.mark.parametrize("path", kit.other_formats_fixtures(FOLDER), ids=kit.fixture_id)
def test_sniff_does_not_claim_another_formats_fixture(path: Path) -> None:
    kit.assert_sniff_rejects(YouTubeReader, path)


@pytest.mark.parametrize("value", NOT_YOUTUBE.values(), ids=NOT_YOUTUBE.keys())
def test_sniff_does_not_claim_look_alike_payloads(value: Any) -> None:
    assert not YouTubeReader.sniff(value, Framing.JSON)


def test_a_private_video_is_marked_private() -> None:
    value = fixture_value(VIDEOS)
    value["items"][0]["status"]["privacyStatus"] = "private"
    assert read_value(value).posts[0].availability is Availability.PRIVATE
    assert the_video().availability is Availability.AVAILABLE
