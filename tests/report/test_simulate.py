"""The programme simulator, at reduced scale, through the real referral code."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tidewatch.referrals.service import dsa_enums
from tidewatch.report.metrics import ACTIONED, report
from tidewatch.report.simulate import (
    _REMOVED_SHARE,
    OUTCOMES,
    Quota,
    monthly_accounts,
    scratch_sqlite,
    simulate,
)
from tidewatch.store import audit, make_engine, migrate
from tidewatch.store import tables as t


def test_the_plan_at_full_scale_is_the_published_figures() -> None:
    plan = monthly_accounts(1.0)
    removed = {
        year: sum(n for m, n in plan.items() if m.year == year) * _REMOVED_SHARE
        for year in range(2021, 2027)
    }
    # Every published statement holds, each within 3%: "about 5,600", "over 8,000", "+40%",
    # "over 16,500 by the end of 2024", "more than 90% actioned".
    assert removed[2023] == pytest.approx(5_600, rel=0.03)
    assert 8_000 <= removed[2024] <= 8_000 * 1.03
    assert removed[2024] / removed[2023] - 1 == pytest.approx(0.40, rel=0.03)
    to_2024 = sum(removed[y] for y in (2021, 2022, 2023, 2024))
    assert 16_500 <= to_2024 <= 16_500 * 1.03
    actioned = sum(share for outcome, share in OUTCOMES if outcome in ACTIONED)
    assert 0.90 < actioned <= 0.90 * 1.03
    # Summer is the season of crossings and of their adverts.
    assert plan[date(2024, 8, 1)] > plan[date(2024, 2, 1)]


def test_a_reduced_programme_has_the_published_shape(engine: Engine) -> None:
    result = simulate(engine, scale=0.01, seed=5, start=date(2023, 1, 1), end=date(2024, 12, 31))
    assert result.referrals > 50
    figures = report(engine, date(2023, 1, 1), date(2024, 12, 31))
    years = {y["year"]: y for y in figures["by_year"]}
    growth = years[2024]["accounts_removed"] / years[2023]["accounts_removed"]
    assert 1.15 < growth < 1.8
    assert figures["totals"]["actioned_rate"] > 0.9
    assert 0.8 < figures["totals"]["removal_rate"] < 0.97
    assert {p["platform"] for p in figures["by_platform"]} == {"meta", "tiktok", "x", "youtube"}
    assert figures["time_to_action"]["p50_hours"] < figures["time_to_action"]["p95_hours"]
    assert figures["reviewer_agreement"]["items"] == result.double_reviewed
    # Routes and re-emergence come from the places and selectors stored with detections.
    routes = {r["route"]: r["referrals"] for r in figures["by_route"]}
    assert sum(n for route, n in routes.items() if route != "unknown") > routes.get("unknown", 0)
    assert figures["reemergence"]["reemerged"] > 0
    with engine.connect() as conn:
        # Every referral went the whole way: approved by someone else, delivered by the outbox.
        rows = conn.execute(select(t.referrals)).all()
        assert all(r.approved_by != r.drafted_by and r.package_sha256 for r in rows)
        assert {r.channel for r in rows} == {
            f"partner_inbox:{p}" for p in ("meta", "tiktok", "x", "youtube")
        }
        delivered = conn.execute(select(t.outbox.c.status)).scalars().all()
        assert set(delivered) == {"delivered"} and len(delivered) == len(rows)
        categories = set(conn.execute(select(t.platform_decisions.c.category)).scalars())
        assert categories - {None} <= set(dsa_enums()["STATEMENT_CATEGORIES"])
        assert audit.verify(conn).ok


def test_the_same_seed_gives_the_same_figures(tmp_path: Path) -> None:
    reports = []
    for name in ("a", "b"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        migrate(engine)
        simulate(engine, scale=0.02, seed=9, start=date(2024, 6, 1), end=date(2024, 7, 31))
        reports.append(report(engine, date(2024, 6, 1), date(2024, 7, 31)))
        engine.dispose()
    assert reports[0]["totals"]["referrals"] > 5
    assert reports[0] == reports[1]


def test_a_scratch_database_does_not_sync_and_others_keep_their_settings(tmp_path: Path) -> None:
    scratch = make_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
    kept = make_engine(f"sqlite:///{tmp_path / 'kept.db'}")
    with scratch.connect() as conn:
        conn.exec_driver_sql("SELECT 1")  # a pooled connection from before
    scratch_sqlite(scratch)
    with scratch.connect() as conn, kept.connect() as other:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 0  # OFF
        assert other.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_quota_draws_keep_to_their_shares_at_every_point() -> None:
    quota = Quota(OUTCOMES)
    counts = dict.fromkeys((name for name, _ in OUTCOMES), 0)
    order = []
    for drawn in range(1, 2001):
        value = quota.next()
        counts[value] += 1
        order.append(value)
        for name, share in OUTCOMES:
            assert abs(counts[name] - share * drawn) < 1.0 + 1e-9, (drawn, name)
    # Not in blocks: the rarer outcomes are spread through the draws.
    first_silences = [i for i, value in enumerate(order) if value == "silence"][:3]
    assert len(first_silences) == 3 and first_silences[2] - first_silences[0] > 60
