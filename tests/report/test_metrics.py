"""Metric definitions on small hand-built histories: every number here is counted by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tidewatch.detect.signals import SIGNAL_NAMES
from tidewatch.model import ENTITY_SIGNALS
from tidewatch.report.metrics import (
    PLACE_SIGNALS,
    SELECTOR_SIGNALS,
    AccountEvent,
    Facts,
    ReferralRow,
    build_report,
    cohen_kappa,
    definitions,
    figures,
    percentile,
    reemergence,
    route_of,
    selector_of,
    time_to_action,
)


def at(year: int, month: int = 1, day: int = 1, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def row(
    id: int,
    sent: datetime,
    decided: datetime | None,
    status: str,
    accounts: int,
    removed: int,
    *,
    items: int | None = None,
    items_removed: int | None = None,
    platform: str = "meta",
    lang: str = "en",
    route: str = "channel",
) -> ReferralRow:
    return ReferralRow(
        id=id,
        platform=platform,
        sent_at=sent,
        decided_at=decided,
        status=status,
        accounts=accounts,
        accounts_removed=removed,
        items=accounts if items is None else items,
        items_removed=removed if items_removed is None else items_removed,
        lang=lang,
        route=route,
    )


HISTORY = [
    # 2022: 3 accounts referred, 2 removed.
    row(1, at(2022, 3, 1), at(2022, 3, 2), "removed", 2, 2, items=5, items_removed=5),
    row(2, at(2022, 6, 1), at(2022, 6, 20), "no_violation", 1, 0, platform="x"),
    # Delivered in 2022, removed in 2023: referred in 2022, removed in 2023.
    row(3, at(2022, 12, 30), at(2023, 1, 3), "removed", 1, 1, platform="x", lang="ar"),
    # 2023: 4 accounts referred; 3 removed (one referral removed 2 of its 3 accounts).
    row(4, at(2023, 5, 1), at(2023, 5, 1, 12), "removed", 3, 2, platform="tiktok", lang="ar"),
    row(5, at(2023, 8, 1), at(2023, 8, 8), "restricted", 1, 0, route="central_mediterranean"),
    # 2023: still waiting for an answer.
    row(6, at(2023, 12, 1), None, "sent", 2, 0),
]


def test_the_definitions_file_has_a_version_and_tells_accounts_from_items() -> None:
    defs = definitions()
    units = {m.name: m.unit for m in defs.metrics}
    assert defs.version
    assert units["accounts_removed"] == "accounts"
    assert units["items_removed"] == "posts, pages or accounts"
    assert {"reemergence_rate", "reviewer_agreement", "time_to_action"} <= set(units)


def test_referrals_count_by_delivery_and_removals_by_decision() -> None:
    y2022 = figures(HISTORY, at(2022), at(2023))
    assert (y2022.referrals, y2022.accounts_referred, y2022.items_referred) == (3, 4, 7)
    assert (y2022.accounts_removed, y2022.items_removed) == (2, 5)
    y2023 = figures(HISTORY, at(2023), at(2024))
    assert (y2023.referrals, y2023.accounts_referred) == (3, 6)
    assert y2023.accounts_removed == 3  # 1 from referral 3 (sent 2022) + 2 from referral 4


def test_rates_follow_the_referrals_delivered_in_the_period() -> None:
    y2022 = figures(HISTORY, at(2022), at(2023))
    # Referrals 1, 2, 3: accounts 2+1+1, removed 2+0+1 (referral 3's removal came in 2023).
    assert y2022.removal_rate == pytest.approx(3 / 4)
    assert y2022.actioned_rate == pytest.approx(2 / 3)
    y2023 = figures(HISTORY, at(2023), at(2024))
    # Referral 5 was restricted (actioned, not a removal); referral 6 awaits an answer.
    assert y2023.removal_rate == pytest.approx(2 / 6)
    assert y2023.actioned_rate == pytest.approx(2 / 3)


def test_an_empty_period_has_no_rates_rather_than_zero() -> None:
    empty = figures(HISTORY, at(2030), at(2031))
    assert empty.referrals == 0
    assert empty.removal_rate is None and empty.actioned_rate is None


def test_percentiles_are_nearest_rank() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert percentile(values, 50) == 5.0
    assert percentile(values, 90) == 9.0
    assert percentile(values, 95) == 10.0
    assert percentile([], 50) is None


def test_time_to_action_counts_actioned_referrals_by_decision_date() -> None:
    tta = time_to_action(HISTORY, at(2022), at(2024))
    # Actioned: 1 (24 h), 3 (96 h, decided 2023), 4 (12 h), 5 (168 h). No-violation is not.
    assert tta["count"] == 4
    assert tta["mean_hours"] == pytest.approx((24 + 96 + 12 + 168) / 4)
    assert tta["p50_hours"] == 24.0
    assert tta["p90_hours"] == 168.0
    bins = {b["bin"]: b["count"] for b in tta["histogram"]}
    assert bins == {
        "< 6 h": 0,
        "6-24 h": 1,
        "1-2 days": 1,
        "2-4 days": 0,
        "4-7 days": 1,
        "7-14 days": 1,
        "> 14 days": 0,
    }


def test_cohen_kappa_matches_a_worked_example() -> None:
    # 50 items: both say advert 20, both not_advert 15, a/n 5, n/a 10.
    pairs = (
        [("advert", "advert")] * 20
        + [("not_advert", "not_advert")] * 15
        + [("advert", "not_advert")] * 5
        + [("not_advert", "advert")] * 10
    )
    result = cohen_kappa(pairs)
    # p_o = 0.7; p_e = (25*30 + 25*20)/2500 = 0.5; kappa = 0.4
    assert result == {"items": 50, "agreement": 0.7, "kappa": 0.4}


def test_cohen_kappa_is_undefined_when_chance_agreement_is_total() -> None:
    assert cohen_kappa([("advert", "advert")] * 3)["kappa"] is None
    assert cohen_kappa([])["items"] == 0


def test_reemergence_needs_another_account_with_a_shared_selector_within_the_window() -> None:
    phone = "phone:915550192"
    removals = [
        AccountEvent("x:a", at(2023, 1, 1), frozenset({phone})),
        AccountEvent("x:b", at(2023, 2, 1), frozenset({"handle:@boats"})),
        AccountEvent("x:c", at(2023, 3, 1), frozenset({"phone:111111111"})),
    ]
    first = [
        AccountEvent("x:a", at(2022, 12, 1), frozenset({phone})),  # itself: never counts
        AccountEvent("tiktok:a2", at(2023, 2, 15), frozenset({phone})),  # back after 45 days
        AccountEvent("x:b2", at(2023, 1, 15), frozenset({"handle:@boats"})),  # before removal
        AccountEvent("x:c2", at(2023, 3, 1) + timedelta(days=181), frozenset({"phone:111111111"})),
    ]
    result = reemergence(removals, first, at(2023), at(2024))
    assert result == {"accounts_removed": 3, "reemerged": 1, "rate": 0.3333, "window_days": 180}


def test_selectors_compare_phone_numbers_by_their_last_digits() -> None:
    assert selector_of("phone_number", "+218 91 555 0192") == selector_of(
        "phone_number", "0915550192"
    )
    assert selector_of("handle", "@Boats") == "handle:@boats"
    assert selector_of("price", "2500 euro") is None


def test_the_signals_the_report_reads_are_signals_the_detector_gives() -> None:
    # The report picks places and selectors out of stored reasons by name: a renamed detector
    # signal would silently empty the route and re-emergence figures.
    assert set(PLACE_SIGNALS) == {name for name in SIGNAL_NAMES if name.startswith("place_")}
    assert set(SELECTOR_SIGNALS) <= set(SIGNAL_NAMES)
    # ...and the ones a stored detection keeps apart for it.
    assert set(PLACE_SIGNALS + SELECTOR_SIGNALS) <= ENTITY_SIGNALS <= set(SIGNAL_NAMES)


def test_routes_come_from_the_places_in_the_posts() -> None:
    routes = definitions().routes
    assert route_of(["Calais"], routes) == "channel"
    assert route_of(["زوارة"], routes) == "central_mediterranean"
    assert route_of(["Atlantis"], routes) == "unknown"


def test_the_report_has_years_changes_and_cumulative_totals() -> None:
    facts = Facts(HISTORY, [], [], [("advert", "advert", at(2023, 2))], None, None)
    report = build_report(facts, date(2023, 1, 1), date(2023, 12, 31))
    (year,) = report["by_year"]
    assert year["year"] == 2023 and not year["partial"]
    assert year["accounts_removed"] == 3
    assert year["change_on_previous_year"] == pytest.approx(0.5)  # 3 against 2
    assert year["cumulative_accounts_removed"] == 5  # includes 2022, before the period
    platforms = {p["platform"]: p for p in report["by_platform"]}
    assert platforms["tiktok"]["accounts_removed"] == 2
    assert platforms["x"]["referrals"] == 0 and platforms["x"]["accounts_removed"] == 1
    languages = {p["language"]: p for p in report["by_language"]}
    assert languages["ar"]["accounts_removed"] == 3
    assert report["reviewer_agreement"]["items"] == 1
    assert report["definitions_version"] == definitions().version


def test_a_period_ending_before_it_starts_is_refused() -> None:
    facts = Facts([], [], [], [], None, None)
    with pytest.raises(ValueError, match="ends"):
        build_report(facts, date(2024, 1, 2), date(2024, 1, 1))
