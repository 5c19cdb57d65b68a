"""Meta Graph API reader, on responses recorded by python-facebook (fixtures/meta_graph_api/ORIGIN.md)."""

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
from tidewatch.ingest.meta_graph import MetaGraphReader
from tidewatch.model import Bundle, Platform, Post, PostKind

FOLDER = kit.FIXTURES / "meta_graph_api"
ERROR_BODY = FOLDER / "graph_api_error_oauth100.json"
DATA = sorted(p for p in FOLDER.glob("*.json") if p != ERROR_BODY)
MULTI = FOLDER / "fb_posts_multi_with_attachments_from.json"
SHARE_POST = "19292868552_10158347294088553"
PHOTO_POST = "19292868552_10158345715593553"


def bundle_of(path: Path) -> Bundle:
    [bundle] = list(read_input(path))
    assert isinstance(bundle, Bundle), bundle
    return bundle


def read_value(value: Any) -> Bundle:
    unit = Unit(raw=json.dumps(value).encode(), value=value, where="inline", framing=Framing.JSON)
    return MetaGraphReader().read(unit)


def post_with(bundle: Bundle, native_id: str) -> Post:
    return next(p for p in bundle.posts if p.native_id == native_id)


def multi_value() -> dict[str, Any]:
    return copy.deepcopy(loads(MULTI.read_bytes()))


# --- the contract ---------------------------------------------------------------------


def test_every_data_fixture_reads_as_meta_graph() -> None:
    kit.check_reads_fixtures(MetaGraphReader, DATA, min_posts=30)


@pytest.mark.parametrize("path", [*DATA, ERROR_BODY], ids=lambda p: p.name)
def test_read_input_detects_each_fixture_without_a_format(path: Path) -> None:
    kit.assert_detected(MetaGraphReader, path)


@pytest.mark.parametrize(
    "name", [MULTI.name, "fb_post_comments_page1.json", "ig_media_carousel.json"]
)
def test_random_and_mutated_responses_give_a_bundle_or_a_record_error(name: str) -> None:
    kit.fuzz_reader(MetaGraphReader, kit.first_unit(FOLDER / name))


# --- error bodies -----------------------------------------------------------------------


def test_error_body_is_a_record_error_with_its_code_type_and_message() -> None:
    [error] = list(read_input(ERROR_BODY))
    assert isinstance(error, RecordError)
    assert "Graph API error 100 (OAuthException)" in error.message
    assert "(#100) Object does not exist" in error.message


def test_a_malformed_field_is_named_with_its_path() -> None:
    value = multi_value()
    value[SHARE_POST]["comments"]["data"][1]["from"] = ["not", "an", "object"]
    with pytest.raises(
        RecordError, match=rf"{SHARE_POST}\.comments\.data\[1\]\.from: expected an object"
    ):
        read_value(value)


def test_a_time_without_a_zone_is_refused_naming_the_field() -> None:
    value = multi_value()
    value[SHARE_POST]["created_time"] = "2021-07-08 15:30:19"
    with pytest.raises(RecordError, match=r"created_time: .* has no time zone"):
        read_value(value)


# --- posts ------------------------------------------------------------------------------


def test_feed_page_posts_are_facebook_posts_with_string_ids_and_no_guessed_author() -> None:
    bundle = bundle_of(FOLDER / "fb_page_posts_feed_page1.json")
    assert [p.native_id for p in bundle.posts][:2] == ["4_10113477241177441", "4_10113449068715281"]
    first = bundle.posts[0]
    assert (first.platform, first.kind, first.text) == (
        Platform.FACEBOOK,
        PostKind.POST,
        "Happy July 4th! 🇺🇸",
    )
    # The id's prefix is the wall the post is on, not necessarily its author.
    assert first.account_id == "" and bundle.accounts == []


def test_created_time_becomes_utc_and_keeps_the_raw_value() -> None:
    share = post_with(bundle_of(MULTI), SHARE_POST)
    assert share.created_at is not None
    assert share.created_at.utc == datetime(2021, 7, 8, 15, 30, 19, tzinfo=UTC)
    assert share.created_at.raw == "2021-07-08T15:30:19+0000"


def test_post_url_is_its_permalink() -> None:
    share = post_with(bundle_of(MULTI), SHARE_POST)
    assert share.url == "https://www.facebook.com/19292868552/posts/10158347294088553/"


def test_share_attachment_link_is_unwrapped_from_the_l_facebook_com_shim() -> None:
    share = post_with(bundle_of(MULTI), SHARE_POST)
    destination = (
        "https://engineering.fb.com/2021/05/20/networking-traffic/peering-automation/"
        "?utm_source=social-facebook&utm_medium=fb4d&utm_campaign=organic&utm_content=post-url"
        "&utm_offering=engineering&utm_product=Peering-automation-at-Facebook_07082021"
        "&eventSource=OrganicSocialFB4D&content_id=Py4ExKngmEFlnJN"
    )
    assert share.links == (destination,)
    [card] = share.media
    assert (card.kind, card.url) == ("link_preview", destination)
    assert "l.facebook.com" not in card.url


def test_share_attachment_keeps_its_image_and_card_words() -> None:
    [card] = post_with(bundle_of(MULTI), SHARE_POST).media
    assert card.preview_url.startswith(
        "https://external-ssn1-1.xx.fbcdn.net/safe_image.php?d=AQGoi3pdWIpfHcAn"
    )
    assert (card.width, card.height) == (720, 720)
    assert card.alt_text.startswith("Peering automation at Facebook - Facebook Engineering\n")


def test_photo_attachment_becomes_photo_media_with_the_image_src() -> None:
    photo_post = post_with(bundle_of(MULTI), PHOTO_POST)
    [photo] = photo_post.media
    assert (photo.kind, photo.native_id) == ("photo", "10158345714153553")
    assert photo.url.startswith("https://scontent-ssn1-1.xx.fbcdn.net/v/t1.6435-9/212642451_")
    assert photo_post.links == ()  # the photo's page is on Facebook, not an outbound link


def test_tagged_pages_are_mentions_by_id() -> None:
    assert post_with(bundle_of(MULTI), PHOTO_POST).mentions == (
        "602814669838217",
        "367152833370567",
    )


def test_reaction_summaries_become_likes_and_extra_counts() -> None:
    metrics = post_with(bundle_of(MULTI), SHARE_POST).metrics
    assert (metrics.likes, metrics.shares, metrics.comments) == (78, 5, 12)
    assert metrics.extra["reactions"] == 82
    assert metrics.extra["reaction:love"] == 3
    assert metrics.extra["reaction:sad"] == 1


def test_single_post_object_reads_its_reactions() -> None:
    [post] = bundle_of(FOLDER / "fb_post_single_reactions.json").posts
    assert post.native_id == "175154750010052_424924701699721"
    assert post.text == "我测试一下 MyLife"
    assert (post.metrics.likes, post.metrics.comments, post.metrics.extra["reaction:haha"]) == (
        0,
        0,
        1,
    )


def test_a_post_with_a_parent_id_is_a_repost_of_that_post() -> None:
    bundle = read_value(
        {
            "id": "1_2",
            "created_time": "2021-07-08T15:30:19+0000",
            "message": "look",
            "parent_id": "3_4",
        }
    )
    [post] = bundle.posts
    assert (post.kind, post.quoted_id) == (PostKind.REPOST, "3_4")


# --- comments ---------------------------------------------------------------------------


def test_inline_comments_are_comments_on_their_post() -> None:
    comment = post_with(bundle_of(MULTI), "19292868552_10158347294088553_10158348537573553")
    assert (comment.kind, comment.parent_id) == (PostKind.COMMENT, SHARE_POST)
    assert comment.text == "Inbox me for help regarding your account, quick recovery is assured"


def test_comment_author_comes_from_from() -> None:
    bundle = bundle_of(MULTI)
    comment = post_with(bundle, "19292868552_10158347294088553_10158348537573553")
    assert comment.account_id == "100070073499229"
    [author] = [a for a in bundle.accounts if a.native_id == "100070073499229"]
    assert (author.platform, author.display_name) == (Platform.FACEBOOK, "Vivian Smith")


def test_comments_page_without_ids_gets_the_graph_id_from_the_permalink() -> None:
    bundle = bundle_of(FOLDER / "fb_post_comments_page1.json")
    comment = post_with(bundle, "10158407654328553_10158407835073553")
    assert (comment.kind, comment.parent_id) == (PostKind.COMMENT, "19292868552_10158407654328553")
    assert comment.metrics.comments == 1  # comment_count: its replies


def test_reply_comment_id_in_the_permalink_makes_a_reply_to_that_comment() -> None:
    bundle = bundle_of(FOLDER / "fb_post_comments_page1.json")
    reply = post_with(bundle, "10158407654328553_10158409983033553")
    assert (reply.kind, reply.parent_id) == (PostKind.REPLY, "10158407654328553_10158407903973553")
    assert reply.url.endswith("comment_id=10158407903973553&reply_comment_id=10158409983033553")


def test_comment_with_a_parent_field_is_a_reply_to_that_comment() -> None:
    page = {
        "data": [
            {
                "id": "111_333",
                "created_time": "2021-08-11T23:22:14+0000",
                "message": "answer",
                "parent": {"id": "111_222"},
            }
        ],
        "paging": {"next": "https://graph.facebook.com/v19.0/9_111/comments?after=x"},
    }
    [reply] = read_value(page).posts
    assert (reply.kind, reply.parent_id) == (PostKind.REPLY, "111_222")


def test_comment_without_id_or_permalink_is_refused() -> None:
    page = {
        "data": [{"created_time": "2021-08-11T23:22:14+0000", "message": "x", "comment_count": 0}]
    }
    with pytest.raises(RecordError, match=r"data\[0\]\.id: required field is missing"):
        read_value(page)


# --- Instagram --------------------------------------------------------------------------


def test_instagram_carousel_is_an_instagram_post() -> None:
    [post] = bundle_of(FOLDER / "ig_media_carousel.json").posts
    assert (post.platform, post.native_id, post.text) == (
        Platform.INSTAGRAM,
        "17896129349106152",
        "ALBUM",
    )
    assert post.url == "https://www.instagram.com/p/CRyZpmrjYC4/"
    assert post.created_at is not None and post.created_at.utc == datetime(
        2021, 7, 26, 10, 45, 20, tzinfo=UTC
    )
    assert (post.metrics.likes, post.metrics.comments) == (1, 0)


def test_instagram_carousel_children_become_one_media_each() -> None:
    [post] = bundle_of(FOLDER / "ig_media_carousel.json").posts
    assert [(m.kind, m.native_id) for m in post.media] == [
        ("photo", "17889214265226770"),
        ("photo", "17886719108286032"),
        ("video", "17904922598025487"),
    ]
    assert post.media[2].preview_url.startswith(
        "https://scontent-gmp1-1.cdninstagram.com/v/t51.29350-15/225731613_"
    )


def test_instagram_comments_nested_under_media_are_instagram_comments() -> None:
    media = {
        "id": "17896129349106152",
        "media_type": "IMAGE",
        "timestamp": "2021-07-26T10:45:20+0000",
        "comments": {
            "data": [
                {
                    "id": "17900000000000001",
                    "text": "price?",
                    "timestamp": "2021-07-26T11:00:00+0000",
                    "replies": {
                        "data": [
                            {
                                "id": "17900000000000002",
                                "text": "dm",
                                "timestamp": "2021-07-26T11:05:00+0000",
                            }
                        ]
                    },
                }
            ]
        },
    }
    _, comment, reply = read_value(media).posts
    assert (comment.platform, comment.kind, comment.parent_id) == (
        Platform.INSTAGRAM,
        PostKind.COMMENT,
        "17896129349106152",
    )
    assert (reply.kind, reply.parent_id) == (PostKind.REPLY, "17900000000000001")


# --- sniffing ---------------------------------------------------------------------------

NOT_GRAPH = {
    "generic record": {"id": "1", "text": "hello", "created_at": "2021-07-04T19:50:58Z"},
    "generic array": [{"id": "1", "text": "hello"}],
    "x v2 page": {
        "data": [{"id": "1", "text": "hi", "created_at": "2021-07-04T19:50:58.000Z"}],
        "meta": {},
    },
    "crowdtangle post": {
        "id": 1,
        "platformId": "1_2",
        "message": "hi",
        "date": "2019-09-07 19:04:03",
    },
    "google error": {
        "error": {"code": 400, "message": "Bad Request", "errors": [{"reason": "keyInvalid"}]}
    },
    "tiktok error": {
        "data": {},
        "error": {"code": "invalid_params", "message": "x", "log_id": "1"},
    },
}


@pytest.mark.parametrize("path", kit.other_formats_fixtures(FOLDER), ids=kit.fixture_id)
def test_sniff_does_not_claim_another_formats_fixture(path: Path) -> None:
    kit.assert_sniff_rejects(MetaGraphReader, path)


@pytest.mark.parametrize("value", NOT_GRAPH.values(), ids=NOT_GRAPH.keys())
def test_sniff_does_not_claim_look_alike_payloads(value: Any) -> None:
    assert not MetaGraphReader.sniff(value, Framing.JSONL)


def test_sniff_of_an_odd_media_type_answers_no_instead_of_raising() -> None:
    assert not MetaGraphReader.sniff({"id": "1", "media_type": ["IMAGE"]}, Framing.JSON)
    assert not MetaGraphReader.sniff({"data": [{"media_type": {"a": 1}}]}, Framing.JSON)


def test_a_mangled_paging_url_is_ignored_as_a_hint() -> None:
    page = {
        "data": [{"id": "10_20", "created_time": "2021-07-04T19:50:58+0000", "message": "hi"}],
        "paging": {"next": "http://[not-a-host/v11.0/1_2/comments"},
    }
    [post] = read_value(page).posts
    assert (post.native_id, post.kind) == ("10_20", PostKind.POST)
