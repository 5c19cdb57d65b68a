"""X API v1.1 reader (and Gnip activity streams), against twitterdev/tweet_parser's example
payloads (see tests/fixtures/x_twitter_v1_1/ORIGIN.md)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.ingest import reader_test_kit as kit
from tidewatch.errors import RecordError
from tidewatch.ingest import read_input
from tidewatch.ingest.base import Framing, Unit
from tidewatch.ingest.x_v1 import XV1Reader
from tidewatch.model import Availability, Bundle, Post, PostKind

FOLDER = kit.FIXTURES / "x_twitter_v1_1"
FIXTURES = sorted(FOLDER.glob("*.json"))
MANGLED = "tweet_parser_public_api_js_mangled_id.json"
GNIP = "tweet_parser_gnip_activity_streams_example.json"


def load(name: str) -> dict[str, Any]:
    value = json.loads((FOLDER / name).read_text())
    assert isinstance(value, dict)
    return value


def read_value(value: object) -> Bundle:
    return XV1Reader().read(
        Unit(raw=json.dumps(value).encode(), value=value, where="t", framing=Framing.JSON)
    )


def read_fixture(name: str) -> Bundle:
    (bundle,) = [r for r in read_input(FOLDER / name) if isinstance(r, Bundle)]
    return bundle


def post(name: str, native_id: str) -> Post:
    return next(p for p in read_fixture(name).posts if p.native_id == native_id)


# --- the contract ---------------------------------------------------------------------------


def test_reads_every_fixture() -> None:
    kit.check_reads_fixtures(XV1Reader, FIXTURES)


def test_survives_random_and_mutated_v1_tweets() -> None:
    kit.fuzz_reader(XV1Reader, kit.first_unit(FOLDER / "tweet_parser_v1_1_retweet.json"))


def test_survives_random_and_mutated_gnip_activities() -> None:
    kit.fuzz_reader(XV1Reader, kit.first_unit(FOLDER / GNIP))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_read_input_detects_each_fixture_without_a_format(path: Path) -> None:
    kit.assert_read_as(XV1Reader, path)


@pytest.mark.parametrize("path", kit.other_formats_fixtures(FOLDER), ids=kit.fixture_id)
def test_does_not_claim_other_formats_fixtures(path: Path) -> None:
    kit.assert_sniff_rejects(XV1Reader, path)


# --- ids ------------------------------------------------------------------------------------


def test_ids_come_from_id_str_never_from_the_js_mangled_number() -> None:
    raw = load(MANGLED)
    assert str(raw["id"]) == "872836479608733700"  # what JavaScript made of the id
    bundle = read_fixture(MANGLED)
    quote = next(p for p in bundle.posts if p.kind is PostKind.QUOTE)
    assert quote.native_id == "872836479608733696"
    assert quote.quoted_id == "872836379595620353"
    assert quote.account_id == "815279070241955840"
    assert [a.native_id for a in bundle.accounts] == ["815279070241955840"]


def test_a_tweet_without_id_str_is_refused_rather_than_trusting_the_number() -> None:
    tweet = load(MANGLED)
    del tweet["id_str"]
    with pytest.raises(RecordError, match=r"tweet\.id_str: required field is missing"):
        read_value(tweet)


# --- text, times, references ----------------------------------------------------------------


def test_extended_tweet_full_text_replaces_the_truncated_text() -> None:
    raw = load("tweet_parser_v1_1_extended_reply_with_media.json")
    reply = post("tweet_parser_v1_1_extended_reply_with_media.json", "867473446648676352")
    assert reply.text == raw["extended_tweet"]["full_text"]
    assert reply.text != raw["text"]
    assert reply.text.endswith("🐇🐈 https://t.co/eAQvI8SV57")


def test_in_reply_to_status_id_str_makes_a_reply() -> None:
    reply = post("tweet_parser_v1_1_extended_reply_with_media.json", "867473446648676352")
    assert reply.kind is PostKind.REPLY
    assert reply.parent_id == "863566329168711681"
    assert reply.mentions == ("notFromShrek", "ericmbudd")


def test_created_at_is_utc_and_keeps_the_raw_value() -> None:
    quote = post(MANGLED, "872836479608733696")
    assert quote.created_at is not None
    assert quote.created_at.raw == "Thu Jun 08 15:23:27 +0000 2017"
    assert quote.created_at.utc.isoformat() == "2017-06-08T15:23:27+00:00"


def test_retweet_is_a_repost_and_the_original_is_its_own_post() -> None:
    bundle = read_fixture("tweet_parser_v1_1_retweet.json")
    posts = {p.native_id: p for p in bundle.posts}
    retweet, original = posts["867478524235366400"], posts["861651727614746624"]
    assert retweet.kind is PostKind.REPOST
    assert retweet.quoted_id == "861651727614746624"
    assert original.account_id == "2382763597"
    assert original.text.startswith("Since I feel like I shouldn't be someone who is condescending")
    assert {a.handle for a in bundle.accounts} == {"RobotPrincessFi", "notFromShrek"}


def test_quoted_status_is_emitted_as_its_own_post() -> None:
    quoted = post(MANGLED, "872836379595620353")
    assert quoted.kind is PostKind.POST
    assert quoted.text == "L) This is a #Tweet with a #hashtag"
    assert quoted.hashtags == ("Tweet", "hashtag")


def test_expanded_url_is_the_link() -> None:
    original = post("tweet_parser_v1_1_retweet.json", "861651727614746624")
    assert original.links == (
        "https://github.com/fionapigott/character-encoding/blob/master/character_encoding.pdf",
    )


# --- media, accounts, counts ----------------------------------------------------------------


def test_photo_comes_from_extended_entities() -> None:
    (photo,) = post("tweet_parser_v1_1_photo_tweet.json", "867834809732677634").media
    assert photo.kind == "photo"
    assert photo.native_id == "867834752379826177"
    assert photo.url == "https://pbs.twimg.com/media/DAsrG_tWsAEzeEy.jpg"
    assert (photo.width, photo.height) == (355, 236)


def test_animated_gif_url_is_its_mp4_and_the_thumbnail_its_preview() -> None:
    (gif,) = post("tweet_parser_v1_1_extended_reply_with_media.json", "867473446648676352").media
    assert gif.kind == "animated_gif"
    assert gif.url == "https://video.twimg.com/tweet_video/DAnifgeWAAAHTea.mp4"
    assert gif.preview_url == "https://pbs.twimg.com/tweet_video_thumb/DAnifgeWAAAHTea.jpg"


def test_user_becomes_an_account_with_int_counts_and_expanded_bio_links() -> None:
    bundle = read_fixture("tweet_parser_v1_1_retweet.json")
    fiona = next(a for a in bundle.accounts if a.native_id == "2382763597")
    assert (fiona.handle, fiona.display_name) == ("notFromShrek", "👸🏼🙄 Fiona")
    assert (fiona.metrics.followers, fiona.metrics.following, fiona.metrics.posts) == (
        401,
        283,
        1521,
    )
    assert fiona.location == "Boulder, CO"
    assert fiona.url == "https://x.com/notFromShrek"
    mangled_user = read_fixture(MANGLED).accounts[0]
    assert mangled_user.links == ("https://github.com/fionapigott/fiona-bot",)


def test_tweet_counts_are_ints() -> None:
    original = post("tweet_parser_v1_1_retweet.json", "861651727614746624")
    assert (original.metrics.likes, original.metrics.shares, original.metrics.comments) == (2, 1, 1)


def test_withheld_tweet_is_marked_withheld() -> None:
    tweet = load("tweet_parser_v1_1_photo_tweet.json")
    tweet["withheld_in_countries"] = ["DE"]
    (only,) = read_value(tweet).posts
    assert only.availability is Availability.WITHHELD


# --- framings -------------------------------------------------------------------------------


def test_json_lines_of_tweets_give_one_bundle_per_line(tmp_path: Path) -> None:
    path = tmp_path / "tweets.jsonl"
    names = ("tweet_parser_v1_1_photo_tweet.json", "tweet_parser_v1_1_geo_point_tweet.json")
    path.write_text("".join(json.dumps(load(n)) + "\n" for n in names))
    results = [r for r in read_input(path) if isinstance(r, Bundle)]
    assert [r.source.format for r in results] == ["x_v1", "x_v1"]
    assert [r.posts[0].native_id for r in results] == ["867834809732677634", "887453193294282752"]


def test_a_search_response_reads_every_status() -> None:
    statuses = [load("tweet_parser_v1_1_photo_tweet.json"), load(MANGLED)]
    response = {"statuses": statuses, "search_metadata": {"count": 2}}
    assert XV1Reader.sniff(response, Framing.JSON)
    ids = {p.native_id for p in read_value(response).posts}
    assert ids == {"867834809732677634", "872836479608733696", "872836379595620353"}


def test_an_id_str_that_is_not_a_number_is_refused() -> None:
    tweet = load("tweet_parser_v1_1_photo_tweet.json")
    tweet["id_str"] = "not-an-id"
    with pytest.raises(RecordError, match=r"tweet\.id_str"):
        read_value(tweet)


# --- Gnip activity streams ------------------------------------------------------------------


def test_gnip_activity_reads_as_the_same_tweet_as_its_v1_twin() -> None:
    gnip = post(GNIP, "887453193294282752")
    v1 = post("tweet_parser_v1_1_geo_point_tweet.json", "887453193294282752")
    assert gnip.account_id == v1.account_id == "815279070241955840"
    assert (
        gnip.text == v1.text == "N) A Tweet with explicit geo coordinates https://t.co/XkcFAgHhsj"
    )
    assert gnip.created_at is not None and gnip.created_at.raw == "2017-07-18T23:25:04.000Z"
    assert gnip.media == v1.media
    assert gnip.url == "https://x.com/RobotPrincessFi/status/887453193294282752"


def test_gnip_actor_becomes_an_account() -> None:
    (actor,) = read_fixture(GNIP).accounts
    assert (actor.native_id, actor.handle, actor.display_name) == (
        "815279070241955840",
        "RobotPrincessFi",
        "jk no",
    )
    assert (actor.metrics.followers, actor.metrics.following, actor.metrics.posts) == (1, 2, 68)


def test_gnip_share_is_a_repost_of_the_object_activity() -> None:
    original = load(GNIP)
    share = copy.deepcopy(original)
    share.update(verb="share", id="tag:search.twitter.com,2005:887453193294282999", object=original)
    posts = {p.native_id: p for p in read_value(share).posts}
    assert posts["887453193294282999"].kind is PostKind.REPOST
    assert posts["887453193294282999"].quoted_id == "887453193294282752"
    assert posts["887453193294282752"].kind is PostKind.POST


def test_gnip_id_without_a_numeric_tail_is_refused() -> None:
    activity = load(GNIP)
    activity["id"] = "tag:search.twitter.com,2005:"
    with pytest.raises(RecordError, match=r"tweet\.id"):
        read_value(activity)
