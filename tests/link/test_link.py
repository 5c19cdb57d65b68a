"""Linking accounts into networks: selectors, templates, rarity, and the demo's ground truth."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.metrics import adjusted_rand_score

from tidewatch.cli import demo_files, ingest_paths
from tidewatch.detect.detector import Detector
from tidewatch.link.networks import AccountFacts, PostFacts, build_networks
from tidewatch.link.risk import account_risk
from tidewatch.link.selectors import Selector, canonical_url, selectors_in
from tidewatch.link.templates import template_clusters
from tidewatch.pipeline import link_facts
from tidewatch.store import make_engine, migrate


def test_one_number_written_five_ways_is_one_selector() -> None:
    text = "+44 7700 900123 / 00447700900123 / wa.me/447700900123 / ٠٠٤٤٧٧٠٠٩٠٠١٢٣"
    assert selectors_in(text, "en") == {Selector("phone", "+447700900123")}


def test_prices_and_short_numbers_are_not_phone_selectors() -> None:
    assert selectors_in("Boat £1500, 2024 season, call 112", "en") == set()


def test_telegram_links_and_urls_are_canonical_and_platform_links_are_benign() -> None:
    found = selectors_in(
        "t.me/Safar_Europa https://WWW.travel-aid.net/uk/?ref=1 https://facebook.com/x", "en"
    )
    assert found == {Selector("telegram", "safar_europa"), Selector("url", "travel-aid.net/uk")}
    assert canonical_url("http://www.Example.com/a/") == "example.com/a"


def test_known_rescue_hotlines_never_become_selectors() -> None:
    assert selectors_in("In distress at sea? Call Alarm Phone +33 4 86 51 71 61", "en") == set()


def test_the_same_advert_with_another_phone_number_is_one_template() -> None:
    posts = [
        (
            "a",
            "Boat to UK tonight from Dunkirk, 100% safe, price 1500 per person, call +44 7700 900123",
        ),
        (
            "b",
            "Boat to UK tonight from Dunkirk, 100% safe, price 1500 per person, call 0044 7700 900789",
        ),
        (
            "c",
            "The coastguard rescued forty people off Dunkirk this morning after their dinghy failed",
        ),
    ]
    assert template_clusters(posts) == [["a", "b"]]


def facts(account: str, text: str, label: str = "advert") -> PostFacts:
    return PostFacts(
        key=("x", f"{account}-{abs(hash(text)) % 10_000}"),
        account=("x", account),
        text=text,
        label=label,
        score=0.9 if label == "advert" else 0.1,
    )


def test_a_rare_shared_number_links_flagged_accounts_and_leaves_out_a_benign_one() -> None:
    posts = [
        facts("smuggler1", "Trip to Italy, contact +218 91 555 0192"),
        facts("smuggler2", "Departures every week, WhatsApp +218915550192"),
        facts(
            "bystander",
            "Someone keeps posting +218 91 555 0192, is this a scam?",
            label="not_advert",
        ),
    ]
    # Rarity is relative to everyone observed: a realistic population of other accounts.
    posts += [
        facts(f"reader{i}", f"Weather in Tripoli, story {i}", label="not_advert") for i in range(30)
    ]
    result = build_networks([], posts)
    [network] = result.networks
    assert network.accounts == [("x", "smuggler1"), ("x", "smuggler2")]
    assert network.selectors == ["phone:+218915550192"]
    evidence = network.links[0]["evidence"][0]
    assert evidence["kind"] == "selector" and evidence["value"] == "phone:+218915550192"
    assert ("x", "bystander") not in result.network_of


def test_a_number_mostly_posted_by_benign_accounts_links_nobody() -> None:
    hotline = "+33 4 65 71 20 20"
    posts = [
        facts(f"ngo{i}", f"Rescue line {hotline}, call if in distress", label="not_advert")
        for i in range(5)
    ]
    posts += [
        facts("smuggler1", f"Boat tonight, if trouble call {hotline}"),
        facts("smuggler2", f"Safe trip, emergency {hotline}"),
    ]
    assert build_networks([], posts).networks == []


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    engine = make_engine(url)
    migrate(engine)
    detector = Detector.load()
    ingest_paths(
        engine,
        [str(p) for p in demo_files()],
        format=None,
        collector="test",
        batch_size=500,
        detector=detector,
    )
    return url, detector.version


def test_the_demo_networks_are_recovered_and_no_benign_account_joins_one(
    demo_database: tuple[str, str],
) -> None:
    url, version = demo_database
    accounts, posts = link_facts(make_engine(url), version)
    result = build_networks(accounts, posts)
    labels = {
        (r["platform"], r["native_id"]): r
        for r in map(json.loads, (demo_files()[0].parent / "labels.jsonl").read_text().splitlines())
    }
    votes: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(
        collections.Counter
    )
    for post in posts:
        votes[post.account][labels[post.key]["network"]] += 1
    truth = {account: counter.most_common(1)[0][0] for account, counter in votes.items()}
    in_networks = sorted(a for a, n in truth.items() if n)
    predicted = [result.network_of.get(a, f"alone:{a}") for a in in_networks]
    assert adjusted_rand_score([truth[a] for a in in_networks], predicted) >= 0.9
    assert [a for a, n in truth.items() if not n and a in result.network_of] == []


def test_account_risk_rises_with_network_membership_and_names_its_reasons(
    demo_database: tuple[str, str],
) -> None:
    url, version = demo_database
    accounts, posts = link_facts(make_engine(url), version)
    result = build_networks(accounts, posts)
    risks = {r.account: r for r in account_risk(posts, result)}
    member = next(iter(result.network_of))
    best_post = max(p.score for p in posts if p.account == member)
    assert risks[member].risk >= best_post
    assert any("linked to" in reason for reason in risks[member].reasons)


def test_link_writes_json_and_gexf(tmp_path: Path, demo_database: tuple[str, str]) -> None:
    url, _version = demo_database
    env = {**os.environ, "TIDEWATCH_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "tidewatch.cli", "link", "--database-url", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "networks" / "networks.json").read_text())
    assert len(document["networks"]) >= 4
    assert (tmp_path / "networks" / "networks.gexf").read_text().startswith("<?xml")
    shown = subprocess.run(
        [sys.executable, "-m", "tidewatch.cli", "networks", "--json", "--database-url", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert json.loads(shown.stdout) == document["networks"]
    from sqlalchemy import func, select

    from tidewatch.store import tables as t

    with make_engine(url).connect() as conn:
        members = conn.execute(select(func.count()).select_from(t.network_accounts)).scalar_one()
    assert members == sum(network["size"] for network in document["networks"])


def test_a_new_account_reusing_a_removed_accounts_number_is_flagged_with_the_earlier_account() -> (
    None
):
    from datetime import UTC, datetime

    from tidewatch.link.reemergence import find_reemergence

    removed_at = datetime(2024, 5, 1, tzinfo=UTC)
    accounts = [
        AccountFacts(
            key=("x", "old"), first_seen=datetime(2024, 1, 1, tzinfo=UTC), removed_at=removed_at
        ),
        AccountFacts(key=("x", "backup"), first_seen=datetime(2024, 2, 1, tzinfo=UTC)),
        AccountFacts(key=("tiktok", "new"), first_seen=datetime(2024, 5, 3, tzinfo=UTC)),
    ]
    text = "Boat to UK every night, call +44 7911 123456"
    posts = [
        PostFacts(key=("x", "1"), account=("x", "old"), text=text, label="advert", score=0.9),
        PostFacts(
            key=("x", "2"),
            account=("x", "backup"),
            text="Backup page, +44 7911 123456",
            label="advert",
            score=0.8,
        ),
        PostFacts(
            key=("tiktok", "3"),
            account=("tiktok", "new"),
            text="New page! +447911123456",
            label="advert",
            score=0.8,
        ),
    ]
    [flag] = find_reemergence(accounts, posts)
    assert (flag.account, flag.earlier) == (("tiktok", "new"), ("x", "old"))
    assert flag.evidence == ["selector phone:+447911123456"]
    assert flag.first_seen > flag.earlier_removed_at


def test_the_generated_scenario_is_recovered_with_its_re_emerged_accounts() -> None:
    from tidewatch.link.reemergence import find_reemergence
    from tidewatch.link.scenario import generate

    scenario = generate(networks=20, benign=90, seed=5)
    result = build_networks(scenario.accounts, scenario.posts)
    keys = sorted(scenario.network_of)
    truth = [scenario.network_of[k] for k in keys]
    predicted = [result.network_of.get(k, f"alone:{k}") for k in keys]
    assert adjusted_rand_score(truth, predicted) >= 0.9
    assert [b for b in scenario.benign if b in result.network_of] == []
    flagged = {f.account: f.earlier for f in find_reemergence(scenario.accounts, scenario.posts)}
    found = sum(flagged.get(new) == old for new, old in scenario.reemerged.items())
    assert found >= 0.9 * len(scenario.reemerged)
    assert set(flagged) <= set(scenario.reemerged), "only re-emerged accounts are flagged"


def test_two_accounts_sharing_only_a_re_encoded_photo_are_linked_by_media() -> None:
    import random

    from tidewatch.link.scenario import random_hash, reupload

    rng = random.Random(2)
    photo = random_hash(rng)
    posts = [
        PostFacts(
            key=("x", "1"),
            account=("x", "a"),
            text="Arrived safely, thank you brother",
            label="advert",
            score=0.8,
            media_hashes=(reupload(photo, rng),),
        ),
        PostFacts(
            key=("tiktok", "2"),
            account=("tiktok", "b"),
            text="Another family delivered today",
            label="advert",
            score=0.8,
            media_hashes=(reupload(photo, rng),),
        ),
    ]
    posts += [
        facts(f"reader{i}", f"Weather today, story {i}", label="not_advert") for i in range(30)
    ]
    [network] = build_networks([], posts).networks
    assert network.accounts == [("tiktok", "b"), ("x", "a")]
    assert network.selectors[0].startswith("media:")


def test_accounts_sharing_a_trimmed_re_upload_of_a_video_are_linked_and_others_are_not() -> None:
    import random

    from tidewatch.link.scenario import random_hash, reupload

    rng = random.Random(4)
    video = [random_hash(rng) for _ in range(20)]  # one PDQ hash a second
    other = [random_hash(rng) for _ in range(20)]
    clip = tuple(reupload(frame, rng) for frame in video[5:15])  # ten seconds, re-encoded
    copy = tuple(reupload(frame, rng) for frame in video)
    posts = [
        PostFacts(("x", "1"), ("x", "a"), "Our clients arrived", "en", 0.8, "advert", videos=(copy,)),
        PostFacts(("tiktok", "2"), ("tiktok", "b"), "Safe trip again", "en", 0.8, "advert", videos=(clip,)),
        PostFacts(("x", "3"), ("x", "c"), "Another arrival", "en", 0.8, "advert", videos=(tuple(other),)),
        # Shares two seconds of the video only: 10% of its frames, not the same video.
        PostFacts(("x", "4"), ("x", "d"), "Crossing news", "en", 0.8, "advert", videos=(tuple(video[:2] + [random_hash(rng) for _ in range(18)]),)),
    ]  # fmt: skip
    posts += [
        facts(f"reader{i}", f"Weather today, story {i}", label="not_advert") for i in range(30)
    ]
    [network] = build_networks([], posts).networks
    assert network.accounts == [("tiktok", "b"), ("x", "a")]
    assert network.selectors == [f"media:video:{copy[0]}"]


def test_phone_windows_read_what_the_matcher_reads_over_the_whole_text() -> None:
    from tidewatch.detect.normalise import normalise
    from tidewatch.link.scenario import generate
    from tidewatch.link.selectors import _phones_by_matcher, phone_numbers

    texts = [p.text for p in generate(networks=15, benign=30, seed=9).posts]
    texts += [
        "Call (+44) 7700-900123 ext. 12 or 00 218 91 555 0192, price 1500€, 2024-05-01 12:30",
        "wa.me/447700900123?text=hi | ٠٠٤٤٧٧٠٠٩٠٠١٢٣ | +33 4 65 71 20 20 / +218915550192",
        "ref 12 ab +44 7911 123456x9 and 07911 123457 then 1234 5678 9012 3456",
    ]
    for text in texts:
        normal = normalise(text).text
        for regions in [("GB",), ("LY", "TN", "EG")]:
            assert phone_numbers(normal, regions) == _phones_by_matcher(normal, regions), text
    assert phone_numbers(normalise(texts[-3]).text, ("GB",)) >= {"+447700900123", "+218915550192"}


def test_exact_copies_of_a_viral_picture_link_nobody() -> None:
    import random

    from tidewatch.link.scenario import random_hash, reupload

    rng = random.Random(6)
    viral = random_hash(rng)
    same_copy = reupload(viral, rng, max_bits=3)  # three accounts post one identical copy
    posts = [
        PostFacts(
            key=("x", f"v{i}"),
            account=("x", f"sharer{i}"),
            text="Look at this",
            label="advert" if i < 3 else "not_advert",
            score=0.7 if i < 3 else 0.1,
            media_hashes=(same_copy if i < 3 else reupload(viral, rng, max_bits=6),),
        )
        for i in range(250)
    ]
    result = build_networks([], posts)
    assert result.networks == []
    assert not any(s.kind == "media" for owned in result.selectors.values() for s in owned)
