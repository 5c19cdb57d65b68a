"""X API v2 reader, against twarc2 pages from DocNow/twarc-csv and a response written from the
X API v2 OpenAPI schema (see tests/fixtures/x_twitter_v2/ORIGIN.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ingest import reader_test_kit as kit
from tidewatch.errors import RecordError
from tidewatch.ingest import read_input
from tidewatch.ingest.base import Framing, Unit
from tidewatch.ingest.x_v2 import XV2Reader
from tidewatch.model import ApiError, Availability, Bundle, Post, PostKind

FOLDER = kit.FIXTURES / "x_twitter_v2"
FIXTURES = sorted(p for p in FOLDER.iterdir() if p.suffix in {".json", ".jsonl"})


def bundles(name: str) -> list[Bundle]:
    results = list(read_input(FOLDER / name))
    assert all(isinstance(r, Bundle) for r in results), results
    return [r for r in results if isinstance(r, Bundle)]


def post(name: str, version_id: str) -> Post:
    return next(p for b in bundles(name) for p in b.posts if p.version_id == version_id)


def read_value(value: object, framing: Framing = Framing.JSONL) -> Bundle:
    return XV2Reader().read(
        Unit(raw=json.dumps(value).encode(), value=value, where="t", framing=framing)
    )


# --- the contract ---------------------------------------------------------------------------


def test_reads_every_fixture() -> None:
    kit.check_reads_fixtures(XV2Reader, FIXTURES)


def test_survives_random_and_mutated_twarc_pages() -> None:
    kit.fuzz_reader(XV2Reader, kit.first_unit(FOLDER / "twarc2_quoted_edit.jsonl"))


def test_survives_random_and_mutated_error_pages() -> None:
    kit.fuzz_reader(
        XV2Reader, kit.first_unit(FOLDER / "twarc2_errors_user_suspended_TRIMMED.jsonl")
    )


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_read_input_detects_each_fixture_without_a_format(path: Path) -> None:
    kit.assert_read_as(XV2Reader, path)


@pytest.mark.parametrize("path", kit.other_formats_fixtures(FOLDER), ids=kit.fixture_id)
def test_does_not_claim_other_formats_fixtures(path: Path) -> None:
    kit.assert_sniff_rejects(XV2Reader, path)


def test_does_not_claim_a_generic_id_and_text_record() -> None:
    assert not XV2Reader.sniff({"id": "1", "text": "hello"}, Framing.JSONL)


# --- envelope, edits, text ------------------------------------------------------------------


def test_twarc_retrieved_at_is_the_source_records_retrieval_time() -> None:
    (bundle,) = bundles("twarc2_edited.jsonl")
    assert bundle.source.retrieved_at is not None
    assert bundle.source.retrieved_at.raw == "2022-10-03T18:00:12+00:00"


def test_a_later_edit_keeps_the_first_id_as_native_id_and_its_own_as_version() -> None:
    edited = post("twarc2_edited.jsonl", "1576994789110992896")
    assert edited.native_id == "1576994746135764992"
    assert edited.text == "hey :) https://t.co/rnwEIoNuqd"
    assert edited.edited_at is not None and edited.edited_at.raw == "2022-10-03T17:57:11.000Z"


def test_the_first_version_of_an_edited_tweet_has_no_edit_time() -> None:
    original = post("twarc2_edited.jsonl", "1576994746135764992")
    assert original.native_id == "1576994746135764992"
    assert original.edited_at is None
    assert original.text.startswith("i miss y’all so much haha")


def test_note_tweet_text_replaces_the_truncated_text() -> None:
    long_post = post("api_tweets_lookup_note_tweet_errors_WRITTEN.json", "1700000000000000001")
    assert long_post.text.endswith("#NoteTweetTest details at https://t.co/NoteLink01")
    assert len(long_post.text) == 401
    assert long_post.hashtags == ("NoteTweetTest",)


def test_unwound_url_is_the_link_rather_than_the_shortener() -> None:
    long_post = post("api_tweets_lookup_note_tweet_errors_WRITTEN.json", "1700000000000000001")
    assert long_post.links == ("https://example.org/tidewatch/landing-page",)


def test_profile_website_is_expanded_from_tco() -> None:
    (bundle,) = bundles("twarc2_edited.jsonl")
    (jane,) = bundle.accounts
    assert jane.links == ("https://instagram.com/wongmjane",)
    assert jane.url == "https://x.com/wongmjane"


def test_media_link_entities_are_not_counted_as_outbound_links() -> None:
    original = post("twarc2_edited.jsonl", "1576994746135764992")
    assert original.links == ("https://twitter.com/i/web/status/1576994746135764992",)


# --- references -----------------------------------------------------------------------------


def test_retweet_is_a_repost_of_the_included_original() -> None:
    retweet = post("twarc2_two_tweets.jsonl", "1394735776701816833")
    original = post("twarc2_two_tweets.jsonl", "1391677057810288641")
    assert retweet.kind is PostKind.REPOST
    assert retweet.quoted_id == "1391677057810288641"
    assert retweet.mentions == ("bibaigna96",)
    assert original.kind is PostKind.POST
    assert original.hashtags == ("POIUYTREWQ",)
    assert original.url == "https://x.com/bibaigna96/status/1391677057810288641"


def test_a_reply_that_quotes_keeps_both_parent_and_quoted_ids() -> None:
    reply = post("twarc2_quoted_edit.jsonl", "1576995594388000768")
    assert reply.kind is PostKind.REPLY
    assert reply.parent_id == "1576994789110992896"
    assert reply.quoted_id == "1576994746135764992"
    assert reply.conversation_id == "1576994789110992896"


def test_filtered_stream_data_object_is_one_quote_tweet() -> None:
    quote = post("twarc2_filtered_stream_line1.jsonl", "1377650090978992134")
    assert quote.kind is PostKind.QUOTE
    assert quote.quoted_id == "1377640162566496258"
    assert quote.url == "https://x.com/blackheart_265/status/1377650090978992134"


def test_post_url_falls_back_to_i_status_when_the_author_is_not_included() -> None:
    page = {"data": {"id": "1377650090978992134", "text": "Fury", "author_id": "4602771083"}}
    (only,) = read_value(page).posts
    assert only.url == "https://x.com/i/status/1377650090978992134"


# --- media and counts -----------------------------------------------------------------------


def test_video_is_attached_with_its_highest_bitrate_mp4() -> None:
    (video,) = post("twarc2_media_tweet.jsonl", "1558553189766631429").media
    assert video.kind == "video"
    assert video.native_id == "7_1558552952549277696"
    assert video.url.endswith("/vid/1280x720/WiZrNZKT2lMzK5zA.mp4?tag=12")
    assert video.preview_url.endswith("/img/7VaQu-AvReI8RHkv.jpg")
    assert (video.duration_ms, video.width, video.height) == (71292, 1280, 720)


def test_photo_alt_text_is_kept() -> None:
    (photo,) = post("api_tweets_lookup_note_tweet_errors_WRITTEN.json", "1700000000000000001").media
    assert photo.url == "https://pbs.twimg.com/media/ExampleOnly01.jpg"
    assert photo.alt_text == "Synthetic alt text: a timetable printed on a poster"


def test_impression_count_is_views_and_counts_are_ints() -> None:
    metrics = post("twarc2_verified_type.jsonl", "1603823063690199040").metrics
    assert (metrics.likes, metrics.shares, metrics.comments, metrics.quotes) == (745, 104, 37, 24)
    assert metrics.views == 139075
    assert all(type(v) is int for v in (metrics.likes, metrics.views))


def test_user_public_metrics_and_profile_fields() -> None:
    (bundle,) = bundles("twarc2_verified_type.jsonl")
    (dev,) = bundle.accounts
    assert (dev.native_id, dev.handle, dev.display_name) == (
        "2244994945",
        "TwitterDev",
        "Twitter Dev",
    )
    assert dev.metrics.followers == 556601
    assert dev.metrics.following == 1961
    assert dev.metrics.posts == 4053
    assert dev.metrics.extra == {"listed": 2108}
    assert dev.verified is True
    assert dev.created_at is not None and dev.created_at.raw == "2013-12-14T04:35:55.000Z"
    assert dev.links == ("https://developer.twitter.com/en/community",)


def test_a_user_lookup_page_gives_accounts_and_no_posts() -> None:
    page = json.loads((FOLDER / "twarc2_edited.jsonl").read_text())
    lookup = {"data": page["includes"]["users"]}
    assert XV2Reader.sniff(lookup, Framing.JSON)
    bundle = read_value(lookup, Framing.JSON)
    assert bundle.posts == []
    assert [a.handle for a in bundle.accounts] == ["wongmjane"]


# --- availability and errors ----------------------------------------------------------------


def test_suspended_users_named_in_errors_become_api_errors() -> None:
    (bundle,) = bundles("twarc2_errors_user_suspended_TRIMMED.jsonl")
    assert bundle.source.errors[0] == ApiError(
        kind=Availability.SUSPENDED,
        resource_type="user",
        resource_id="RSS4India",
        title="Forbidden",
        detail="User has been suspended: [RSS4India].",
    )
    assert [e.resource_id for e in bundle.source.errors] == ["RSS4India", "Anoop455"]


def test_withheld_tweet_and_user_are_marked_withheld() -> None:
    (bundle,) = bundles("twarc2_errors_user_suspended_TRIMMED.jsonl")
    (tweet,) = bundle.posts
    (user,) = bundle.accounts
    assert tweet.availability is Availability.WITHHELD
    assert user.handle == "ChandiaJamil"
    assert user.availability is Availability.WITHHELD


def test_missing_referenced_tweet_is_a_not_found_error_and_the_reply_keeps_its_parent() -> None:
    (bundle,) = bundles("twarc2_errors_referenced_tweet_not_found_TRIMMED.jsonl")
    (error,) = bundle.source.errors
    assert (error.kind, error.resource_type, error.resource_id) == (
        Availability.NOT_FOUND,
        "tweet",
        "506694458445152256",
    )
    (reply,) = bundle.posts
    assert reply.kind is PostKind.REPLY
    assert reply.parent_id == "506694458445152256"


def test_protected_tweet_authorization_error_is_private() -> None:
    (bundle,) = bundles("api_tweets_lookup_note_tweet_errors_WRITTEN.json")
    kinds = {e.resource_id: e.kind for e in bundle.source.errors}
    assert kinds == {
        "1700000000000000003": Availability.PRIVATE,
        "1700000000000000004": Availability.NOT_FOUND,
    }


def test_protected_user_is_private() -> None:
    (bundle,) = bundles("api_tweets_lookup_note_tweet_errors_WRITTEN.json")
    availability = {a.handle: a.availability for a in bundle.accounts}
    assert availability["withheld_example"] is Availability.PRIVATE
    assert availability["tidewatch_example"] is Availability.AVAILABLE


def test_an_error_only_stream_line_is_a_record_with_errors_and_no_posts() -> None:
    line = {
        "errors": [
            {
                "title": "operational-disconnect",
                "disconnect_type": "OperationalDisconnect",
                "detail": "This stream has been disconnected for operational reasons.",
                "type": "https://api.twitter.com/2/problems/operational-disconnect",
            }
        ]
    }
    assert XV2Reader.sniff(line, Framing.JSONL)
    bundle = read_value(line)
    assert bundle.posts == []
    assert bundle.source.errors[0].kind is Availability.UNKNOWN


# --- compliance -----------------------------------------------------------------------------


def test_a_compliance_line_is_an_api_error_and_no_post() -> None:
    first, second = bundles("twarc2_tweets_compliance.jsonl")
    assert first.posts == [] and first.accounts == []
    assert first.source.errors == (
        ApiError(
            kind=Availability.PRIVATE,
            resource_id="1170025343920402432",
            title="compliance: delete",
            detail="reason: protected; event at 2019-09-06T17:25:54.667Z",
        ),
    )
    (deactivated,) = second.source.errors
    assert deactivated.kind is Availability.DELETED
    assert deactivated.detail.endswith("redacted at 2021-08-17T17:26:15.788Z")


def test_a_compliance_line_with_a_bad_time_is_an_error_naming_the_field() -> None:
    with pytest.raises(RecordError, match="created_at"):
        read_value({"id": "1", "action": "delete", "created_at": "yesterday", "reason": "deleted"})


# --- framings and bad input -----------------------------------------------------------------


def test_a_json_array_of_responses_is_one_record_with_every_page(tmp_path: Path) -> None:
    pages = [
        json.loads((FOLDER / name).read_text().splitlines()[0])
        for name in ("twarc2_two_tweets.jsonl", "twarc2_media_tweet.jsonl")
    ]
    path = tmp_path / "pages.json"
    path.write_text(json.dumps(pages, indent=1))
    (bundle,) = [r for r in read_input(path) if isinstance(r, Bundle)]
    assert bundle.source.format == "x_v2"
    assert {p.version_id for p in bundle.posts} >= {"1394735776701816833", "1558553189766631429"}


def test_a_float_tweet_id_is_refused_because_it_has_lost_digits() -> None:
    with pytest.raises(RecordError, match=r"data\[0\]\.id"):
        read_value({"data": [{"id": 1.5769947891109929e18, "text": "x"}]})


def test_a_malformed_referenced_tweets_field_is_named_in_the_error() -> None:
    with pytest.raises(RecordError, match="referenced_tweets"):
        read_value({"data": [{"id": "1", "text": "x", "referenced_tweets": "retweeted"}]})


def test_an_object_without_data_includes_or_errors_is_refused() -> None:
    with pytest.raises(RecordError, match="no data, includes or errors"):
        read_value({"meta": {"result_count": 0}})


# --- models built without re-validation -----------------------------------------------------


def test_models_built_from_checked_values_equal_validated_ones() -> None:
    """The reader skips pydantic's second validation (tidewatch.trusted); validating what it
    built must change nothing, so it is as if the models had been validated."""
    built = [m for path in FIXTURES for b in bundles(path.name) for m in (*b.accounts, *b.posts)]
    assert len(built) >= 30
    for model in built:
        validated = type(model).model_validate(model.model_dump())
        assert validated == model
        assert validated.model_dump() == model.model_dump()


def test_a_wrong_field_in_an_unvalidated_tweet_is_still_an_error_naming_it() -> None:
    page = {"data": [{"id": "1", "text": "hi", "public_metrics": {"like_count": -3}}]}
    with pytest.raises(RecordError, match=r"data\[0\]\.public_metrics\.like_count"):
        read_value(page)
