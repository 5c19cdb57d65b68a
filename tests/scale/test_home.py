"""Reading a link job's output back: documents joined to their links, which the job writes as
rows of their own. Plain pyarrow, no Spark: the database's machine may not have it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow", reason="pyarrow comes with the scale extra")
pq = pytest.importorskip("pyarrow.parquet")

from tidewatch.errors import FormatError  # noqa: E402
from tidewatch.scale.home import read_networks  # noqa: E402


def _document(network_id: str, accounts: list[str]) -> str:
    return json.dumps(
        {"id": network_id, "accounts": accounts, "size": len(accounts), "links": []},
        ensure_ascii=False,
    )


def _link(a: str, b: str, weight: float) -> str:
    return json.dumps({"a": a, "b": b, "weight": weight, "evidence": []})


def _write(out: Path, networks: list[tuple[str, list[str]]], links: list[tuple[str, str]]) -> None:
    (out / "networks").mkdir(parents=True)
    (out / "links").mkdir()
    pq.write_table(
        pa.table(
            {
                "id": [n for n, _ in networks],
                "size": [len(a) for _, a in networks],
                "document": [_document(n, a) for n, a in networks],
                "model_version": ["m1"] * len(networks),
            }
        ),
        out / "networks" / "part-0.parquet",
    )
    pq.write_table(
        pa.table({"network_id": [n for n, _ in links], "link": [k for _, k in links]}),
        out / "links" / "part-0.parquet",
    )


def test_each_network_gets_its_own_links_sorted_and_the_largest_comes_first(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        [("net-small", ["x:1", "x:2"]), ("net-large", ["x:3", "x:4", "x:5"])],
        [
            ("net-large", _link("x:4", "x:5", 1.5)),
            ("net-small", _link("x:1", "x:2", 2.0)),
            ("net-large", _link("x:3", "x:4", 3.0)),
        ],
    )
    networks, versions = read_networks(tmp_path)
    assert versions == {"m1"}
    assert [n["id"] for n in networks] == ["net-large", "net-small"]
    assert [(k["a"], k["b"]) for k in networks[0]["links"]] == [("x:3", "x:4"), ("x:4", "x:5")]
    assert [k["weight"] for k in networks[1]["links"]] == [2.0]


def test_a_link_of_a_network_that_is_not_there_is_an_error_naming_it(tmp_path: Path) -> None:
    _write(tmp_path, [("net-a", ["x:1", "x:2"])], [("net-gone", _link("x:1", "x:2", 1.0))])
    with pytest.raises(FormatError, match="'net-gone'"):
        read_networks(tmp_path)
