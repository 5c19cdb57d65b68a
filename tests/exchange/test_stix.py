"""Networks as STIX 2.1 bundles: what a partner agency's platform parses, with least data,
deterministic ids and TLP 2.0 markings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import stix2
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from sqlalchemy import Engine, update

from tests.conftest import FIXTURES
from tests.programme import seed_posts
from tidewatch.errors import NotFound
from tidewatch.report.exchange import stix
from tidewatch.store import tables as t

SAMPLES = FIXTURES / "stix_2_1"

# A link-run document as `tidewatch link` stores it (store/networks.py), by hand.
DOCUMENT: dict[str, Any] = {
    "run_id": 7,
    "built_at": "2026-11-25T12:00:00+00:00",
    "model_version": "test",
    "networks": [
        {
            "id": "net-aaaa",
            "accounts": ["x:111", "instagram:222", "telegram:boats_eu"],
            "size": 3,
            "platforms": ["instagram", "telegram", "x"],
            "languages": ["ar", "en"],
            "selectors": [
                "phone:+218915550192",
                "telegram:boats_eu",
                "url:boats.example/italy",
                "email:boats@example.org",
                "media:" + "f0" * 32,
                "media:video:" + "0f" * 32,
            ],
            "templates": 1,
            "first_seen": "2026-11-20T10:00:00+00:00",
            "last_seen": "2026-11-22T10:00:00+00:00",
            "links": [
                {
                    "a": "instagram:222",
                    "b": "x:111",
                    "weight": 5.1,
                    "evidence": [
                        {
                            "kind": "selector",
                            "value": "phone:+218915550192",
                            "weight": 3.6,
                            "posts": ["x:1", "instagram:9"],
                        },
                        {
                            "kind": "template",
                            "value": "Boat to Italy from Zuwara",
                            "weight": 1.5,
                            "posts": ["x:1", "instagram:9"],
                        },
                    ],
                }
            ],
        },
        {
            "id": "net-bbbb",
            "accounts": ["tiktok:333", "youtube:444"],
            "size": 2,
            "platforms": ["tiktok", "youtube"],
            "languages": [],
            "selectors": ["phone:+33612345678"],
            "templates": 0,
            "first_seen": None,
            "last_seen": None,
            "links": [],
        },
    ],
    "accounts": [
        {"account": "x:111", "risk": 0.97, "adverts": 2, "posts": 3, "network": "net-aaaa"}
    ],
    "reemergence": [
        {
            "account": "x:555",
            "earlier_account": "x:111",
            "earlier_removed_at": "2026-11-23T00:00:00+00:00",
            "first_seen": "2026-11-24T00:00:00+00:00",
            "evidence": ["phone:+218915550192"],
        }
    ],
}
PROFILES = {
    "x:111": stix.AccountProfile("x", "111", "smug_x", "Safe Trips"),
    "instagram:222": stix.AccountProfile("instagram", "222", "smug_ig", ""),
}


def _objects(bundle: stix2.Bundle) -> list[dict[str, Any]]:
    return list(json.loads(stix.serialize(bundle))["objects"])


def _of_type(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["type"] == kind]


def test_each_network_is_an_intrusion_set_of_its_accounts_by_the_unit_under_tlp() -> None:
    objects = _objects(stix.build_bundle(DOCUMENT, PROFILES, unit_name="Unit", tlp="TLP:AMBER"))
    (marking,) = _of_type(objects, "marking-definition")
    assert marking["id"] == "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
    assert marking["extensions"][stix.TLP2_EXTENSION]["tlp_2_0"] == "amber"
    (unit,) = _of_type(objects, "identity")
    assert unit["name"] == "Unit" and unit["identity_class"] == "organization"
    sets = {o["name"]: o for o in _of_type(objects, "intrusion-set")}
    assert set(sets) == {"net-aaaa", "net-bbbb"}
    assert sets["net-aaaa"]["first_seen"] == "2026-11-20T10:00:00Z"
    for obj in objects:
        # The unit and the phone schema are not intelligence: they go unmarked.
        if obj["type"] not in ("marking-definition", "identity", "extension-definition"):
            assert obj["object_marking_refs"] == [marking["id"]], obj["id"]
        if obj["type"] in ("intrusion-set", "indicator", "relationship", "extension-definition"):
            assert obj["created_by_ref"] == unit["id"]
    members = [
        r
        for r in _of_type(objects, "relationship")
        if r["target_ref"] == sets["net-aaaa"]["id"] and r["relationship_type"] == "related-to"
    ]
    assert len(members) == 3
    assert any("risk 0.97 from 2 adverts" in r["description"] for r in members)


def test_accounts_carry_platform_id_handle_and_name_only() -> None:
    objects = _objects(stix.build_bundle(DOCUMENT, PROFILES))
    accounts = {(o["account_type"], o.get("user_id")): o for o in _of_type(objects, "user-account")}
    assert accounts[("twitter", "111")]["account_login"] == "smug_x"
    assert accounts[("twitter", "111")]["display_name"] == "Safe Trips"
    assert accounts[("instagram", "222")]["account_login"] == "smug_ig"
    assert "display_name" not in accounts[("instagram", "222")]
    # The re-emerged account is exported too, with what is known of it (its id).
    assert ("twitter", "555") in accounts
    allowed = {"type", "spec_version", "id", "user_id", "account_login", "account_type"}
    allowed |= {"display_name", "object_marking_refs"}
    assert all(set(o) <= allowed for o in accounts.values())


def test_selectors_become_standard_observables_phones_a_declared_new_sco() -> None:
    objects = _objects(stix.build_bundle(DOCUMENT, PROFILES))
    (phone,) = [o for o in _of_type(objects, stix.PHONE_TYPE) if o["value"] == "+218915550192"]
    (extension,) = _of_type(objects, "extension-definition")
    assert extension["id"] == stix.PHONE_EXTENSION and extension["extension_types"] == ["new-sco"]
    assert phone["extensions"] == {stix.PHONE_EXTENSION: {"extension_type": "new-sco"}}
    assert [o["value"] for o in _of_type(objects, "url")] == ["https://boats.example/italy"]
    assert [o["value"] for o in _of_type(objects, "email-addr")] == ["boats@example.org"]
    assert {o["hashes"]["PDQ"] for o in _of_type(objects, "file")} == {"f0" * 32, "0f" * 32}
    telegram = [o for o in _of_type(objects, "user-account") if "user_id" not in o]
    assert [(o["account_type"], o["account_login"]) for o in telegram] == [("telegram", "boats_eu")]
    patterns = {o["name"]: o["pattern"] for o in _of_type(objects, "indicator")}
    assert patterns["phone:+218915550192"] == f"[{stix.PHONE_TYPE}:value = '+218915550192']"
    assert patterns["telegram:boats_eu"] == (
        "[user-account:account_type = 'telegram' AND user-account:account_login = 'boats_eu']"
    )
    by_id = {o["id"]: o for o in objects}
    based_on = {
        by_id[r["source_ref"]]["name"]: by_id[r["target_ref"]]
        for r in _of_type(objects, "relationship")
        if r["relationship_type"] == "based-on"
    }
    assert based_on["phone:+218915550192"]["id"] == phone["id"]


def test_links_and_reemergence_keep_their_evidence() -> None:
    objects = _objects(stix.build_bundle(DOCUMENT, PROFILES))
    by_id = {o["id"]: o for o in objects}
    pairs = {
        (by_id[r["source_ref"]].get("user_id"), by_id[r["target_ref"]].get("user_id")): r
        for r in _of_type(objects, "relationship")
        if r["relationship_type"] == "related-to"
    }
    link = pairs[("222", "111")]["description"]
    assert "shared phone:+218915550192 (weight 3.6; posts x:1, instagram:9)" in link
    assert "the same advert template" in link
    again = pairs[("555", "111")]["description"]
    assert again.startswith("Re-emerged") and "phone:+218915550192" in again


def test_exports_are_stable_and_scoped() -> None:
    first = stix.serialize(stix.build_bundle(DOCUMENT, PROFILES))
    assert stix.serialize(stix.build_bundle(DOCUMENT, PROFILES)) == first
    only_b = _objects(stix.build_bundle(DOCUMENT, PROFILES, network_ids=["net-bbbb"]))
    assert [o["name"] for o in _of_type(only_b, "intrusion-set")] == ["net-bbbb"]
    # net-aaaa's set keeps its id in a bundle of its own.
    all_ids = {o["id"] for o in json.loads(first)["objects"]}
    only_a = _objects(stix.build_bundle(DOCUMENT, PROFILES, network_ids=["net-aaaa"]))
    assert {o["id"] for o in only_a} <= all_ids
    with pytest.raises(NotFound, match="net-zzzz"):
        stix.build_bundle(DOCUMENT, PROFILES, network_ids=["net-zzzz"])
    with pytest.raises(ValueError, match="TLP marking"):
        stix.build_bundle(DOCUMENT, PROFILES, tlp="TLP:WHITE")


def test_a_partner_without_tidewatch_parses_the_bundle_with_allow_custom(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(stix.serialize(stix.build_bundle(DOCUMENT, PROFILES)), "utf-8")
    script = (
        "import json, sys, stix2\n"
        "text = open(sys.argv[1]).read()\n"
        "try:\n"
        "    stix2.parse(text)\n"
        "    strict = 'parsed'\n"
        "except Exception as error:\n"
        "    strict = type(error).__name__\n"
        "bundle = stix2.parse(text, allow_custom=True)\n"
        "print(json.dumps([strict, sorted({o['type'] for o in bundle.objects})]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    strict, types = json.loads(done.stdout)
    assert strict != "parsed"  # the phone object and the PDQ hash are custom content
    assert stix.PHONE_TYPE in types and "intrusion-set" in types and "indicator" in types


def test_the_oasis_examples_parse_and_our_indicators_have_their_shape() -> None:
    ours = _objects(stix.build_bundle(DOCUMENT, PROFILES))
    for sample in sorted(SAMPLES.glob("*.json")):
        bundle = stix2.parse(sample.read_text("utf-8"))
        for obj in json.loads(bundle.serialize())["objects"]:
            # The examples' indicator points at a campaign; ours at an intrusion set (a
            # network is a standing set of accounts, not an operation with an end).
            mine = _of_type(ours, {"campaign": "intrusion-set"}.get(obj["type"], obj["type"]))
            assert mine, f"{sample.name}: we write no {obj['type']}"
            assert set(obj) <= set(mine[0]) | {"name", "description"}, obj["type"]
    kinds = {(o["relationship_type"]) for o in _of_type(ours, "relationship")}
    assert (
        "indicates" in kinds
    )  # indicator -> intrusion set, as the examples' indicator -> campaign


def _schema_validator(kind: str) -> Draft202012Validator:
    """The OASIS schema of ``kind`` from the shared subset. Schemas it refers to that the
    subset lacks (identifier, timestamp, properties...) resolve to an empty schema, so only
    what the subset itself states is checked."""
    folder = SAMPLES / "schemas"
    documents = [json.loads(p.read_text("utf-8")) for p in folder.glob("*.json")]
    known = {d["$id"]: d for d in documents}

    def retrieve(uri: str) -> Resource[Any]:
        return Resource.from_contents(
            known.get(uri, {"$schema": "https://json-schema.org/draft/2020-12/schema"})
        )

    registry: Registry[Any] = Registry(retrieve=retrieve)  # type: ignore[call-arg]
    (schema,) = [d for d in documents if d["$id"].endswith(f"/{kind}.json")]
    return Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize(
    "kind",
    [
        "identity",
        "indicator",
        "relationship",
        "user-account",
        "url",
        "email-addr",
        "marking-definition",
    ],
)
def test_our_objects_meet_the_oasis_schemas(kind: str) -> None:
    objects = _of_type(_objects(stix.build_bundle(DOCUMENT, PROFILES)), kind)
    assert objects
    validator = _schema_validator(kind)
    for obj in objects:
        assert [e.message for e in validator.iter_errors(obj)] == [], obj["id"]
    # The schema is not vacuous: an object missing a required property fails.
    broken = {k: v for k, v in objects[0].items() if k != "id"}
    assert list(validator.iter_errors(broken))


def test_export_from_the_database_reads_profiles_but_never_bios(
    engine: Engine, tmp_path: Path
) -> None:
    seed_posts(engine, tmp_path)
    with engine.begin() as conn:
        conn.execute(
            update(t.accounts).values(bio="BIO-MARKER lives in Leeds", display_name="Shown")
        )
    bundle = stix.export_networks(engine, tlp="TLP:RED")
    text = stix.serialize(bundle)
    assert "BIO-MARKER" not in text
    objects = _objects(bundle)
    accounts = _of_type(objects, "user-account")
    assert accounts and all(a["display_name"] == "Shown" for a in accounts)
    assert {a["account_login"] for a in accounts} >= {"smug_x", "smug_ig"}
    phones = {o["value"] for o in _of_type(objects, stix.PHONE_TYPE)}
    assert "+218915550192" in phones
    assert _of_type(objects, "marking-definition")[0]["name"] == "TLP:RED"
    assert stix.serialize(stix.export_networks(engine, tlp="TLP:RED")) == text
