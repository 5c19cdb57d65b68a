"""CrowdTangle reader, against the posts response from move-coop/parsons' tests and Instagram
posts written from the CrowdTangle API docs (see tests/fixtures/meta_crowdtangle/ORIGIN.md)."""

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
from tidewatch.ingest.crowdtangle import CrowdTangleReader
from tidewatch.model import Bundle, Platform, Post

FOLDER = kit.FIXTURES / "meta_crowdtangle"
FIXTURES = sorted(p for p in FOLDER.iterdir() if p.suffix in {".json", ".jsonl"})
RESPONSE = FOLDER / "crowdtangle_posts_response_TRIMMED.json"
INSTAGRAM = FOLDER / "crowdtangle_instagram_posts_WRITTEN.jsonl"


def response() -> dict[str, Any]:
    value = json.loads(RESPONSE.read_text())
    assert isinstance(value, dict)
    return value


def read_value(value: object) -> Bundle:
    return CrowdTangleReader().read(
        Unit(raw=json.dumps(value).encode(), value=value, where="t", framing=Framing.JSON)
    )


def read_bundles(path: Path) -> list[Bundle]:
    return [r for r in read_input(path) if isinstance(r, Bundle)]


def newshour_post() -> Post:
    (bundle,) = read_bundles(RESPONSE)
    (only,) = bundle.posts
    return only


# --- the contract ---------------------------------------------------------------------------


def test_reads_every_fixture() -> None:
    kit.check_reads_fixtures(CrowdTangleReader, FIXTURES)


def test_survives_random_and_mutated_responses() -> None:
    kit.fuzz_reader(CrowdTangleReader, kit.first_unit(RESPONSE))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_read_input_detects_each_fixture_without_a_format(path: Path) -> None:
    kit.assert_read_as(CrowdTangleReader, path)


@pytest.mark.parametrize("path", kit.other_formats_fixtures(FOLDER), ids=kit.fixture_id)
def test_does_not_claim_other_formats_fixtures(path: Path) -> None:
    kit.assert_sniff_rejects(CrowdTangleReader, path)


# --- posts ----------------------------------------------------------------------------------


def test_platform_id_is_the_native_id_not_crowdtangles_own_id() -> None:
    post = newshour_post()
    assert post.native_id == "6491828674_10157706657658675"
    assert post.platform is Platform.FACEBOOK


def test_a_numeric_platform_id_becomes_a_string() -> None:
    value = response()
    value["result"]["posts"][0]["platformId"] = 10157706657658675
    (post,) = read_value(value).posts
    assert post.native_id == "10157706657658675"


def test_date_without_a_zone_is_read_as_utc_and_kept_raw() -> None:
    created = newshour_post().created_at
    assert created is not None
    assert created.raw == "2019-09-07 19:04:03"
    assert created.utc.isoformat() == "2019-09-07T19:04:03+00:00"


def test_message_is_the_text_and_title_the_link_title() -> None:
    post = newshour_post()
    assert post.text.startswith("Former top officials of the National Oceanic and Atmospheric")
    assert post.title == "NOAA assailed for defending Trump's Hurricane Dorian claim"
    assert post.url == "https://www.facebook.com/newshour/posts/10157706657658675"


def test_expanded_links_are_the_links() -> None:
    assert newshour_post().links == (
        "https://www.pbs.org/newshour/politics/noaa-assailed-for-defending-trumps-hurricane-dorian-claim",
    )


def test_facebook_redirect_shims_in_expanded_links_are_undone() -> None:
    value = response()
    wrapped = "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.org%2Fboat&h=AT0"
    value["result"]["posts"][0]["expandedLinks"] = [{"original": wrapped, "expanded": wrapped}]
    del value["result"]["posts"][0]["link"]
    (post,) = read_value(value).posts
    assert post.links == ("https://example.org/boat",)


def test_actual_statistics_are_int_metrics_and_expected_is_ignored() -> None:
    metrics = newshour_post().metrics
    assert (metrics.likes, metrics.shares, metrics.comments) == (3056, 1745, 1021)
    assert metrics.extra["love"] == 63
    assert metrics.extra["angry"] == 1302
    assert all(type(v) is int for v in metrics.extra.values())


def test_full_image_is_the_media_url_and_the_resized_copy_its_preview() -> None:
    (photo,) = newshour_post().media
    assert photo.kind == "photo"
    assert photo.url.startswith("https://external.xx.fbcdn.net/safe_image.php?d=AQAsEhaTWfH-MVd9")
    assert photo.preview_url.startswith(
        "https://external.xx.fbcdn.net/safe_image.php?d=AQAQChtFBtJknmoi"
    )


# --- accounts -------------------------------------------------------------------------------


def test_account_uses_the_platform_page_id_and_subscribers_as_followers() -> None:
    (bundle,) = read_bundles(RESPONSE)
    (account,) = bundle.accounts
    assert account.native_id == "6491828674"
    assert (account.handle, account.display_name) == ("newshour", "PBS NewsHour")
    assert account.url == "https://www.facebook.com/6491828674"
    assert account.metrics.followers == 1417219
    assert account.verified is True
    assert bundle.posts[0].account_id == "6491828674"


def test_account_without_platform_id_falls_back_to_the_crowdtangle_id() -> None:
    value = response()
    del value["result"]["posts"][0]["account"]["platformId"]
    (account,) = read_value(value).accounts
    assert account.native_id == "7777"


# --- Instagram and saved posts --------------------------------------------------------------


def test_instagram_caption_comes_from_description_and_favorites_are_likes() -> None:
    first, second = read_bundles(INSTAGRAM)
    (photo_post,) = first.posts
    assert photo_post.platform is Platform.INSTAGRAM
    assert photo_post.text.startswith("Synthetic Instagram caption")
    assert photo_post.metrics.likes == 321
    assert second.posts[0].metrics.likes == 45  # sent as the string "45"


def test_a_json_array_of_saved_posts_is_read(tmp_path: Path) -> None:
    posts = [json.loads(line) for line in INSTAGRAM.read_text().splitlines()]
    path = tmp_path / "posts.json"
    path.write_text(json.dumps(posts))
    (bundle,) = read_bundles(path)
    assert bundle.source.format == "crowdtangle"
    assert len(bundle.posts) == 2
    assert [a.native_id for a in bundle.accounts] == ["5500000001"]


# --- bad input ------------------------------------------------------------------------------


def test_a_post_without_platform_id_is_an_error_naming_the_field() -> None:
    value = response()
    del value["result"]["posts"][0]["platformId"]
    with pytest.raises(RecordError, match=r"result\.posts\[0\]\.platformId"):
        read_value(value)


def test_a_float_platform_id_is_refused() -> None:
    value = copy.deepcopy(response())
    value["result"]["posts"][0]["platformId"] = 1.0157706657658675e16
    with pytest.raises(RecordError, match="lost precision"):
        read_value(value)


def test_a_text_count_is_an_error_naming_the_statistic() -> None:
    value = response()
    value["result"]["posts"][0]["statistics"]["actual"]["likeCount"] = "many"
    with pytest.raises(RecordError, match=r"statistics\.actual\.likeCount"):
        read_value(value)
