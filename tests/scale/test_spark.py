"""The Spark jobs in local mode give what the single-machine commands give.

One SparkSession for the module (starting one costs seconds); inputs are the bundled demo
data (eight files in six formats) and a small generated linking scenario. Skipped only when
PySpark is not installed and TIDEWATCH_REQUIRE_SPARK is not 1 (CI sets it).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tidewatch.cli import app, demo_files, ingest_paths
from tidewatch.detect.detector import Detector
from tidewatch.link import scenario
from tidewatch.link.networks import build_networks
from tidewatch.pipeline import link_facts
from tidewatch.store import make_engine, migrate
from tidewatch.store.networks import latest_link_run

pytestmark = pytest.mark.slow

try:
    import pyspark  # noqa: F401
except ImportError:
    if os.environ.get("TIDEWATCH_REQUIRE_SPARK") == "1":
        raise
    pytest.skip("PySpark is not installed (pip install '.[scale]')", allow_module_level=True)

from tidewatch.scale.home import read_networks  # noqa: E402
from tidewatch.scale.link import run_link  # noqa: E402
from tidewatch.scale.scan import read_dataset, run_scan  # noqa: E402
from tidewatch.scale.session import spark_session  # noqa: E402


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = spark_session("local[2]", "tidewatch-tests", {"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The demo files, a generated scenario as generic JSON lines, and a file with a bad line."""
    folder = tmp_path_factory.mktemp("inputs")
    world = scenario.generate(networks=6, benign=20, posts_per_account=3, seed=5)
    with (folder / "scenario.jsonl").open("w", encoding="utf-8") as out:
        for post in world.posts:
            record = {
                "id": post.key[1],
                "platform": post.key[0],
                "author": post.account[1],
                "text": post.text,
                "created_at": post.created_at.isoformat() if post.created_at else None,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    (folder / "broken.jsonl").write_text(
        '{"id": "b1", "text": "Boat to UK tonight, call +44 7700 900123"}\n'
        '{"id": "b2", "text": "cut off\n'
        "\n"
        '{"id": "b3", "text": "Weather in Calais is fine"}\n',
        encoding="utf-8",
    )
    return [str(path) for path in demo_files()] + [
        str(folder / "scenario.jsonl"),
        str(folder / "broken.jsonl"),
    ]


@pytest.fixture(scope="module")
def scan_out(spark: Any, inputs: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scan") / "out"
    run_scan(spark, inputs, str(out))
    return out


def _contract(record: dict[str, Any]) -> tuple[Any, ...]:
    reasons = tuple(
        (r["signal"], r["evidence"], r["weight"], r["start"], r["end"]) for r in record["reasons"]
    )
    return (
        record["platform"],
        record["id"],
        record["account"],
        record["score"],
        record["label"],
        record["lang"],
        tuple(record["categories"]),
        reasons,
    )


def test_spark_scan_gives_the_labels_and_scores_of_tidewatch_scan(
    spark: Any, inputs: list[str], scan_out: Path
) -> None:
    result = CliRunner().invoke(app, ["scan", *inputs])
    assert result.exit_code == 1  # the broken line
    expected = collections.Counter(
        _contract(json.loads(line)) for line in result.stdout.splitlines() if line.startswith("{")
    )
    rows = read_dataset(spark, str(scan_out), "detections").collect()
    got = collections.Counter(_contract(row.asDict(recursive=True)) for row in rows)
    assert len(expected) > 300
    assert sum(1 for c in expected if c[4] == "advert") > 50
    assert got == expected


def test_a_bad_line_is_an_error_row_naming_its_line_and_the_lines_around_it_are_scanned(
    spark: Any, inputs: list[str], scan_out: Path
) -> None:
    errors = read_dataset(spark, str(scan_out), "errors").collect()
    assert [row.origin for row in errors] == [f"{inputs[-1]}:2"]
    assert "truncated JSON" in errors[0].message
    ids = {row.id for row in read_dataset(spark, str(scan_out), "detections").collect()}
    assert {"b1", "b3"} <= ids


def test_detections_are_partitioned_by_date_and_platform(scan_out: Path) -> None:
    folders = {p.relative_to(scan_out / "detections") for p in scan_out.glob("detections/*/*")}
    assert folders
    assert all(
        part.parts[0].startswith("date=") and part.parts[1].startswith("platform=")
        for part in folders
    )
    assert Path("date=unknown/platform=other") in folders  # the broken file: no time, no platform
    assert (scan_out / "sources").is_dir() and (scan_out / "accounts").is_dir()


def test_parquet_rows_scan_as_the_same_posts_as_json_lines(
    spark: Any, inputs: list[str], tmp_path: Path
) -> None:
    from pyspark.sql import functions as F

    scenario_file = inputs[-2]
    table = tmp_path / "posts.parquet"
    frame = spark.read.json(scenario_file).withColumn("created_at", F.to_timestamp("created_at"))
    frame.coalesce(1).write.parquet(str(table))
    as_rows = tmp_path / "rows"
    as_lines = tmp_path / "lines"
    run_scan(spark, [str(table)], str(as_rows), second_stage=False)
    run_scan(spark, [scenario_file], str(as_lines), second_stage=False)

    def contracts(out: Path) -> collections.Counter[tuple[Any, ...]]:
        rows = read_dataset(spark, str(out), "detections").collect()
        return collections.Counter(_contract(row.asDict(recursive=True)) for row in rows)

    assert contracts(as_rows) == contracts(as_lines)
    created = read_dataset(spark, str(as_rows), "detections").select("created_at").collect()
    assert all(row.created_at is not None for row in created)


def _reference_networks(inputs: list[str], tmp_path: Path) -> list[dict[str, Any]]:
    """`tidewatch link`'s networks: ingest with detection, then the link stage on the
    database's posts in key order (the order the Spark job takes "first" posts in)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    migrate(engine)
    detector = Detector.load()
    ingest_paths(engine, inputs, format=None, collector="", batch_size=500, detector=detector)
    accounts, posts = link_facts(engine, detector.version)
    result = build_networks(accounts, sorted(posts, key=lambda p: p.key))
    return [network.to_json() for network in result.networks]


def _comparable(network: dict[str, Any]) -> dict[str, Any]:
    """A network with its times in UTC and its links in one orientation (networkx reports
    an edge from either end)."""
    from datetime import datetime

    def moment(value: str | None) -> datetime | None:
        if value is None:
            return None
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    links = sorted(
        (
            {**link, "a": min(link["a"], link["b"]), "b": max(link["a"], link["b"])}
            for link in network["links"]
        ),
        key=lambda link: (link["a"], link["b"]),
    )
    return {
        **network,
        "first_seen": moment(network["first_seen"]),
        "last_seen": moment(network["last_seen"]),
        "links": links,
    }


@pytest.fixture(scope="module")
def link_out(spark: Any, scan_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("link") / "out"
    summary = run_link(spark, str(scan_out), str(out))
    assert summary.networks > 0
    return out


def test_spark_link_gives_the_networks_of_tidewatch_link(
    spark: Any, inputs: list[str], link_out: Path, tmp_path: Path
) -> None:
    expected = [_comparable(n) for n in _reference_networks(inputs, tmp_path)]
    networks, versions = read_networks(link_out)
    got = [_comparable(n) for n in networks]
    assert len(versions) == 1
    assert len(expected) >= 5
    assert any(e["kind"] == "template" for n in expected for k in n["links"] for e in k["evidence"])
    assert [n["id"] for n in got] == [n["id"] for n in expected]
    assert got == expected
    members = spark.read.parquet(str(link_out / "membership")).count()
    assert members == sum(n["size"] for n in expected)
    # A network's links are rows of their own, not part of its one-row document.
    documents = [
        json.loads(r.document) for r in spark.read.parquet(str(link_out / "networks")).collect()
    ]
    assert all(d["links"] == [] for d in documents)
    link_rows = spark.read.parquet(str(link_out / "links")).collect()
    assert len(link_rows) == sum(len(n["links"]) for n in expected)
    assert {r.network_id for r in link_rows} == {n["id"] for n in expected if n["links"]}


def test_ingest_detections_loads_the_scan_and_the_networks_for_the_console(
    scan_out: Path, link_out: Path, tmp_path: Path, spark: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'home.db'}"
    runner = CliRunner()
    first = runner.invoke(
        app, ["ingest", "--detections", str(scan_out), str(link_out), "--database-url", url]
    )
    assert first.exit_code == 0, first.output
    loaded = json.loads(first.stdout.strip().splitlines()[-1])
    posts = read_dataset(spark, str(scan_out), "detections").count()
    assert loaded["detections"] == posts and loaded["detections_new"] > 0
    assert len(loaded["link_runs"]) == 1
    engine = make_engine(url)
    with engine.connect() as conn:
        from sqlalchemy import func, select

        from tidewatch.store import tables as t

        stored = conn.execute(select(func.count()).select_from(t.detections)).scalar_one()
        adverts = conn.execute(
            select(func.count()).select_from(t.detections).where(t.detections.c.label == "advert")
        ).scalar_one()
    assert stored == loaded["detections_new"]
    assert adverts > 50
    document = latest_link_run(engine)
    assert document is not None
    written = spark.read.parquet(str(link_out / "networks")).count()
    assert len(document["networks"]) == written
    again = runner.invoke(app, ["ingest", "--detections", str(scan_out), "--database-url", url])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout.strip().splitlines()[-1])["detections_new"] == 0


def test_tidewatch_scale_scan_runs_from_the_command_line(tmp_path: Path) -> None:
    source = tmp_path / "posts.jsonl"
    source.write_text(
        '{"id": "1", "platform": "x", "text": "Boat to Italy tonight, 100% safe, DM on WhatsApp"}\n'
        '{"id": "2", "platform": "x", "text": "Lovely weather at the beach"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tidewatch.cli",
            "scale",
            "scan",
            "--master",
            "local[1]",
            "--first-stage-only",
            str(source),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["posts"] == 2 and summary["adverts"] == 1 and summary["errors"] == 0
    assert (out / "detections" / "date=unknown" / "platform=x").is_dir()
