"""Meta Content Library reader. No real MCL payload is public, so the fixtures are written from
Meta's data dictionary (see tests/fixtures/meta_content_library/ORIGIN.md)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.ingest import reader_test_kit as kit
from tidewatch.errors import RecordError
from tidewatch.ingest import read_input
from tidewatch.ingest.base import Framing, ReadContext, Unit
from tidewatch.ingest.meta_content_library import MetaContentLibraryReader
from tidewatch.model import Bundle, Platform, Post, PostKind

FOLDER = kit.FIXTURES / "meta_content_library"
CSV_FILE = FOLDER / "mcl_facebook_posts_WRITTEN.csv"
JSONL_FILE = FOLDER / "mcl_instagram_posts_comments_WRITTEN.jsonl"
FIXTURES = [CSV_FILE, JSONL_FILE]


def read_bundles(path: Path) -> list[Bundle]:
    results = list(read_input(path))
    assert all(isinstance(r, Bundle) for r in results), results
    return [r for r in results if isinstance(r, Bundle)]


def post(path: Path, native_id: str) -> Post:
    return next(p for b in read_bundles(path) for p in b.posts if p.native_id == native_id)


def csv_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(CSV_FILE.read_text(encoding="utf-8"))))


def jsonl_items() -> list[dict[str, Any]]:
    return [json.loads(line) for line in JSONL_FILE.read_text(encoding="utf-8").splitlines()]


def read_value(value: object, framing: Framing = Framing.JSONL, **options: str) -> Bundle:
    unit = Unit(raw=json.dumps(value).encode(), value=value, where="t", framing=framing)
    return MetaContentLibraryReader().read(unit, ReadContext(options=options))


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


# --- the contract ---------------------------------------------------------------------------


def test_reads_the_json_lines_fixture() -> None:
    kit.check_reads_fixtures(MetaContentLibraryReader, [JSONL_FILE])


def test_reads_the_csv_fixture_with_the_kit() -> None:
    kit.check_reads_fixtures(MetaContentLibraryReader, [CSV_FILE])


def test_survives_random_and_mutated_json_items() -> None:
    kit.fuzz_reader(MetaContentLibraryReader, kit.first_unit(JSONL_FILE))


def test_survives_random_and_mutated_csv_rows() -> None:
    row = csv_rows()[1]
    sample = Unit(raw=b"", value=row, where="fuzz", framing=Framing.CSV)
    kit.fuzz_reader(MetaContentLibraryReader, sample)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_read_input_detects_each_fixture_without_a_format(path: Path) -> None:
    kit.assert_read_as(MetaContentLibraryReader, path)


@pytest.mark.parametrize("path", kit.other_formats_fixtures(FOLDER), ids=kit.fixture_id)
def test_does_not_claim_other_formats_fixtures(path: Path) -> None:
    kit.assert_sniff_rejects(MetaContentLibraryReader, path)


# --- CSV ------------------------------------------------------------------------------------


def test_dot_notation_columns_become_the_owner_and_int_statistics() -> None:
    first = read_bundles(CSV_FILE)[0]
    (page_post,) = first.posts
    (page,) = first.accounts
    assert (page.native_id, page.handle, page.display_name) == (
        "881100000000001",
        "example.page",
        "Example Page",
    )
    assert page.platform is Platform.FACEBOOK
    assert page_post.account_id == "881100000000001"
    assert (page_post.metrics.likes, page_post.metrics.comments, page_post.metrics.shares) == (
        25,
        4,
        1,
    )
    assert page_post.metrics.extra == {"love": 3, "reaction": 30}


def test_quoted_multiline_arabic_text_is_one_row() -> None:
    arabic = post(CSV_FILE, "991100000000002")
    assert arabic.text.splitlines() == [
        "رحلة من الساحل إلى الضفة الأخرى",
        "المغادرة كل يوم جمعة، المقاعد محدودة",
        "للتواصل: واتساب فقط",
    ]
    assert arabic.lang == "ar"
    assert read_bundles(CSV_FILE)[1].source.origin.endswith("mcl_facebook_posts_WRITTEN.csv:3")


def test_mcl_ids_are_kept_as_native_ids_but_no_url_is_built_from_them() -> None:
    page_post = post(CSV_FILE, "991100000000001")
    assert page_post.native_id == "991100000000001"
    assert page_post.url == ""


def test_a_url_column_is_used_when_the_export_has_one(tmp_path: Path) -> None:
    row = csv_rows()[0] | {"url": "https://www.facebook.com/examplepage/posts/123"}
    (bundle,) = read_bundles(write_csv(tmp_path / "with_url.csv", [row]))
    assert bundle.posts[0].url == "https://www.facebook.com/examplepage/posts/123"


def test_a_link_attachment_wrapped_in_a_facebook_shim_is_unwrapped() -> None:
    assert post(CSV_FILE, "991100000000001").links == ("https://example.org/schedule",)


def test_modified_time_is_the_edit_time_only_when_it_differs() -> None:
    unedited = post(CSV_FILE, "991100000000001")
    edited = post(CSV_FILE, "991100000000002")
    assert unedited.edited_at is None
    assert edited.edited_at is not None and edited.edited_at.raw == "2024-03-04T06:00:00+0000"
    assert edited.created_at is not None
    assert edited.created_at.utc.isoformat() == "2024-03-03T19:45:10+00:00"


def test_dot_notation_multimedia_columns_are_one_media_item() -> None:
    (photo,) = post(CSV_FILE, "991100000000002").media
    assert (photo.kind, photo.native_id) == ("photo", "661100000000009")
    assert photo.url == "https://scontent.xx.fbcdn.net/example/photo9.jpg"


def test_a_share_without_text_is_a_repost_of_the_shared_post() -> None:
    share = post(CSV_FILE, "991100000000003")
    assert share.kind is PostKind.REPOST
    assert share.quoted_id == "991100000000002"
    (account,) = read_bundles(CSV_FILE)[2].accounts
    assert account.verified is True


def test_a_multimedia_cell_holding_a_json_array_is_read(tmp_path: Path) -> None:
    media = [{"type": "Video", "id": "5", "url": "https://example.org/v.mp4", "duration": "3.25"}]
    row = csv_rows()[0] | {"multimedia.type": "", "multimedia.id": "", "multimedia.url": ""}
    row = {k: v for k, v in row.items() if not k.startswith("multimedia.")}
    row["multimedia"] = json.dumps(media)
    unit = Unit(raw=b"", value=row, where="t", framing=Framing.CSV)
    (video,) = MetaContentLibraryReader().read(unit).posts[0].media
    assert (video.kind, video.duration_ms) == ("video", 3250)


def test_a_cell_with_an_escaped_quote_is_read(tmp_path: Path) -> None:
    row = csv_rows()[0] | {"text": 'He said "call me" twice'}
    results = list(read_input(write_csv(tmp_path / "quote.csv", [row])))
    assert isinstance(results[0], Bundle)
    assert results[0].posts[0].text == 'He said "call me" twice'


# --- Instagram JSON lines -------------------------------------------------------------------


def test_instagram_post_owner_type_gives_the_platform() -> None:
    ig_post = post(JSONL_FILE, "778800000000001")
    assert ig_post.platform is Platform.INSTAGRAM
    assert ig_post.account_id == "661100000000001"
    assert ig_post.text == "رحلات بحرية أسبوعية\nالمقاعد محدودة #سفر"


def test_hashtags_drop_the_hash_and_video_duration_becomes_milliseconds() -> None:
    ig_post = post(JSONL_FILE, "778800000000001")
    assert ig_post.hashtags == ("سفر",)
    (video,) = ig_post.media
    assert (video.kind, video.native_id, video.duration_ms) == ("video", "552200000000001", 12500)
    assert ig_post.metrics.views == 2300


def test_a_comment_points_at_its_post() -> None:
    comment = post(JSONL_FILE, "778800000000002")
    assert comment.kind is PostKind.COMMENT
    assert comment.parent_id == comment.conversation_id == "778800000000001"
    assert comment.metrics.extra == {"top_level_reply": 1}


def test_a_reply_points_at_the_comment_and_its_shimmed_link_is_unwrapped() -> None:
    reply = post(JSONL_FILE, "778800000000003")
    assert reply.kind is PostKind.REPLY
    assert reply.parent_id == "778800000000002"
    assert reply.conversation_id == "778800000000001"
    assert reply.links == ("https://example.org/book",)


def test_a_response_page_with_data_reads_every_item() -> None:
    page = {"data": jsonl_items(), "paging": {"cursors": {"after": "x"}}}
    assert MetaContentLibraryReader.sniff(page, Framing.JSON)
    bundle = read_value(page, Framing.JSON)
    assert [p.native_id for p in bundle.posts] == [
        "778800000000001",
        "778800000000002",
        "778800000000003",
    ]
    assert [a.native_id for a in bundle.accounts] == ["661100000000001", "661100000000002"]


# --- refusals -------------------------------------------------------------------------------


def test_a_time_without_a_zone_is_refused_naming_the_field() -> None:
    item = jsonl_items()[0] | {"creation_time": "2024-02-11 09:30:00"}
    with pytest.raises(RecordError, match=r"record\.creation_time: .* has no time zone"):
        read_value(item)


def test_an_item_whose_platform_cannot_be_told_is_refused() -> None:
    item = {"id": "1", "text": "x", "creation_time": "2024-02-11T09:30:00Z", "statistics": {}}
    with pytest.raises(RecordError, match="cannot tell whether this is a Facebook or an Instagram"):
        read_value(item)


def test_the_platform_option_settles_an_item_that_does_not_say() -> None:
    item = {"id": "1", "text": "x", "creation_time": "2024-02-11T09:30:00Z", "statistics": {}}
    assert read_value(item, platform="instagram").posts[0].platform is Platform.INSTAGRAM


def test_a_text_count_is_an_error_naming_the_statistic() -> None:
    item = jsonl_items()[0]
    item["statistics"]["like_count"] = "lots"
    with pytest.raises(RecordError, match=r"statistics\.like_count"):
        read_value(item)
