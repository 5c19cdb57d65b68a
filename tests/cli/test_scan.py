"""`tidewatch scan`, `evaluate` and `ingest --detect` as DESIGN.md specifies them."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from tests.cli.test_cli import tidewatch
from tests.conftest import FIXTURES
from tidewatch.store import make_engine
from tidewatch.store import tables as t

CONTRACT_KEYS = {"id", "platform", "account", "score", "label", "lang", "categories", "reasons"}


def lines(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_scan_writes_one_contract_object_per_post_in_input_order(tmp_path: Path) -> None:
    source = tmp_path / "posts.jsonl"
    posts = [
        {
            "id": "b",
            "text": "Boat to Italy from Zuwara tomorrow, 100% safe, 3000 dinar per person, contact WhatsApp",
        },
        {
            "id": "a",
            "text": "The coastguard rescued 45 people from a dinghy off Lampedusa on Sunday.",
        },
        {"id": "c", "text": "Ferry tickets Dover to Calais from £45, book online with P&O."},
    ]
    source.write_text("".join(json.dumps(p) + "\n" for p in posts))
    result = tidewatch("scan", str(source), "--first-stage-only")
    assert result.returncode == 0, result.stderr
    output = lines(result.stdout)
    assert [o["id"] for o in output] == ["b", "a", "c"]
    assert all(set(o) >= CONTRACT_KEYS for o in output)
    assert output[0]["label"] == "advert" and output[1]["label"] == "not_advert"
    assert all(0.0 <= o["score"] <= 1.0 for o in output)
    for reason in output[0]["reasons"]:
        assert set(reason) >= {"signal", "evidence", "weight"}
        assert posts[0]["text"][reason["start"] : reason["end"]] == reason["evidence"]


def test_a_malformed_line_is_named_on_stderr_skipped_and_flagged_in_the_exit_code(
    tmp_path: Path,
) -> None:
    source = tmp_path / "posts.jsonl"
    source.write_text(
        '{"id": "1", "text": "hello"}\n{"id": "2", "text": \n{"id": "3", "text": "world"}\n'
    )
    result = tidewatch("scan", str(source), "--first-stage-only")
    assert result.returncode == 1
    assert [o["id"] for o in lines(result.stdout)] == ["1", "3"]
    assert f"{source}:2" in result.stderr


def test_scan_reads_standard_input_and_real_platform_formats(tmp_path: Path) -> None:
    piped = tidewatch(
        "scan", "-", "--first-stage-only", stdin=b'{"id": "9", "text": "game tonight, DM"}\n'
    )
    assert piped.returncode == 0 and lines(piped.stdout)[0]["id"] == "9"
    fixture = FIXTURES / "x_twitter_v2" / "twarc2_two_tweets.jsonl"
    real = tidewatch("scan", str(fixture), "--first-stage-only")
    assert real.returncode == 0
    assert {o["platform"] for o in lines(real.stdout)} == {"x"}


def test_scan_store_keeps_posts_and_detections_and_a_second_run_adds_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    source = tmp_path / "posts.csv"
    source.write_text(
        'id,text\n1,"Trip to UK by lorry, second driver, £4000, inbox"\n2,Lovely weather in Calais today\n'
    )
    for _ in range(2):
        result = tidewatch(
            "scan", str(source), "--store", "--first-stage-only", "--database-url", url
        )
        assert result.returncode == 0, result.stderr
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.posts)).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(t.detections)).scalar_one() == 2
    engine.dispose()


def test_ingest_detect_stores_a_detection_for_every_post(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    fixture = FIXTURES / "meta_graph_api" / "fb_page_posts_feed_page1.json"
    result = tidewatch(
        "ingest", str(fixture), "--detect", "--first-stage-only", "--database-url", url
    )
    assert result.returncode == 0, result.stderr
    engine = make_engine(url)
    with engine.connect() as conn:
        posts = conn.execute(select(func.count()).select_from(t.posts)).scalar_one()
        detections = conn.execute(select(func.count()).select_from(t.detections)).scalar_one()
    engine.dispose()
    assert posts > 0 and detections == posts


def test_evaluate_prints_figures_per_language_and_category_as_json(tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "text": "Boat to UK tonight 100% safe DM me",
                    "label": "advert",
                    "lang": "en",
                    "category": "crossing_offer",
                },
                {
                    "text": "Police warn against smugglers selling boat trips",
                    "label": "not_advert",
                    "lang": "en",
                    "category": "news",
                },
                {
                    "text": "رحلة الى ايطاليا من زوارة تواصل خاص",
                    "label": "advert",
                    "lang": "ar",
                    "category": "crossing_offer",
                },
            ]
        )
    )
    result = tidewatch("evaluate", str(labelled), "--json", "--first-stage-only")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["overall"]["n"] == 3
    assert set(report["by_language"]) == {"en", "ar"}
    assert set(report["by_category"]) == {"crossing_offer", "news"}
    assert {"precision", "recall", "f1", "pr_auc"} <= set(report["overall"])


def test_evaluate_names_a_bad_line(tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text('{"text": "x", "label": "advert"}\n{"text": "y", "label": "maybe"}\n')
    result = tidewatch("evaluate", str(labelled))
    assert result.returncode == 2
    assert "labelled.jsonl:2" in result.stderr
