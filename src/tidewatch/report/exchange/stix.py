"""Networks as STIX 2.1 bundles for partner agencies.

One bundle holds the unit (``identity``, the author of every object), the TLP 2.0 marking
definitions published by OASIS, and for each network:

* an ``intrusion-set``: a set of accounts believed to be run together (STIX's threat-actor
  names the people behind them, which linking does not know);
* a ``user-account`` for each account (platform, account id, handle, display name; never a
  bio, follower lists or anyone else's data), related to the intrusion set;
* each shared selector as an observable: ``email-addr``, ``url``, ``user-account`` (Telegram
  handles), ``file`` with a ``PDQ`` hash (images, video frames) and, since STIX has no phone
  object, ``x-tidewatch-phone-number``, a new SCO declared by an extension definition in the
  bundle; each also as an ``indicator`` with a STIX pattern that ``indicates`` the intrusion set
  and is ``based-on`` the observable (the shape of OASIS's own example bundles);
* account-to-account ``related-to`` relationships whose description is the link's evidence,
  and account-to-selector relationships for the selectors each account wrote;
* re-emergence: a new account ``related-to`` the removed account whose selectors it reuses.

Ids are deterministic (UUIDv5 over stable keys; observables use STIX's own id rule), and
timestamps come from the link run, so exporting the same run twice gives the same bundle.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stix2
from sqlalchemy import Engine, select, tuple_
from stix2.properties import StringProperty
from stix2.v21 import CustomObservable

from tidewatch.errors import NotFound
from tidewatch.store import tables as t
from tidewatch.store.networks import latest_link_run

#: Namespace of Tidewatch's own STIX ids (fixed forever: changing it renames every object).
NAMESPACE = uuid.UUID("aa9eafcb-a756-4c95-a75f-0ffd6725f914")
#: When the unit's identity and the phone extension were first defined (fixed, like the ids).
DEFINED = datetime(2021, 12, 1, tzinfo=UTC)

#: OASIS TLP 2.0 marking definitions (oasis-open/cti-stix-common-objects,
#: extension-definition-specifications/tlp-2.0): consumers recognise them by these ids.
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
TLP2_MARKINGS = {
    "TLP:CLEAR": ("marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", "clear"),
    "TLP:GREEN": ("marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", "green"),
    "TLP:AMBER": ("marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", "amber"),
    "TLP:AMBER+STRICT": (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        "amber+strict",
    ),
    "TLP:RED": ("marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", "red"),
}

PHONE_TYPE = "x-tidewatch-phone-number"
PHONE_EXTENSION = f"extension-definition--{uuid.uuid5(NAMESPACE, PHONE_TYPE + '/1.0')}"
PHONE_SCHEMA = (
    "A telephone number seen in adverts for smuggling crossings. `value` (required): the "
    "number in E.164 form ('+' and digits), as Tidewatch's linking reads it from posts. "
    'The id is a UUIDv5 over {"value": ...} in the STIX SCO namespace, like standard SCOs.'
)

#: STIX account-type-ov names where the vocabulary has one; otherwise the platform's name.
ACCOUNT_TYPES = {"x": "twitter", "facebook": "facebook"}
PLATFORM_OF_ACCOUNT_TYPE = {v: k for k, v in ACCOUNT_TYPES.items()}


@CustomObservable(
    PHONE_TYPE,
    [("value", StringProperty(required=True))],
    id_contrib_props=["value"],
    extension_name=PHONE_EXTENSION,
)
class PhoneNumber:
    """A phone number observable (STIX has none): the new SCO of ``PHONE_EXTENSION``."""


@dataclass(frozen=True)
class AccountProfile:
    """What a partner receives about an account: least data, no bio."""

    platform: str
    native_id: str
    handle: str = ""
    display_name: str = ""


def _id(kind: str, *key: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, '|'.join((kind, *key)))}"


def _split_account(key: str) -> tuple[str, str]:
    platform, _, native = key.partition(":")
    return platform, native


def _pattern_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def tlp_marking(tlp: str) -> stix2.MarkingDefinition:
    if tlp not in TLP2_MARKINGS:
        raise ValueError(f"TLP marking must be one of {', '.join(TLP2_MARKINGS)}, not {tlp!r}")
    marking_id, level = TLP2_MARKINGS[tlp]
    return stix2.MarkingDefinition(
        id=marking_id,
        created=TLP2_CREATED,
        name=tlp,
        extensions={TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}},
    )


def unit_identity(name: str) -> stix2.Identity:
    return stix2.Identity(
        id=_id("identity", name),
        created=DEFINED,
        modified=DEFINED,
        name=name,
        identity_class="organization",
    )


def selector_observable(selector: str, **common: Any) -> Any:
    """The STIX observable for a selector string (``kind:value``), or None for a kind with
    no mapping. ``common``: properties every object gets (markings)."""
    kind, _, value = selector.partition(":")
    if kind == "phone":
        return PhoneNumber(value=value, **common)  # type: ignore[call-arg]
    if kind == "email":
        return stix2.EmailAddress(value=value, **common)
    if kind == "url":
        return stix2.URL(value=value if "://" in value else f"https://{value}", **common)
    if kind == "telegram":
        # A t.me link names the login (username), not Telegram's numeric user id.
        return stix2.UserAccount(account_type="telegram", account_login=value, **common)
    if kind == "media":
        # PDQ is not in STIX's hash vocabulary: a custom hash name, so allow_custom.
        frame = value.removeprefix("video:")
        return stix2.File(hashes={"PDQ": frame}, allow_custom=True, **common)
    return None


def selector_pattern(selector: str) -> str | None:
    kind, _, value = selector.partition(":")
    if kind == "phone":
        return f"[{PHONE_TYPE}:value = {_pattern_literal(value)}]"
    if kind == "email":
        return f"[email-addr:value = {_pattern_literal(value)}]"
    if kind == "url":
        url = value if "://" in value else f"https://{value}"
        return f"[url:value = {_pattern_literal(url)}]"
    if kind == "telegram":
        return (
            "[user-account:account_type = 'telegram' AND "
            f"user-account:account_login = {_pattern_literal(value)}]"
        )
    if kind == "media":
        return f"[file:hashes.PDQ = {_pattern_literal(value.removeprefix('video:'))}]"
    return None


def account_observable(profile: AccountProfile, **common: Any) -> stix2.UserAccount:
    fields: dict[str, Any] = {
        **common,
        "account_type": ACCOUNT_TYPES.get(profile.platform, profile.platform),
        "user_id": profile.native_id,
    }
    if profile.handle:
        fields["account_login"] = profile.handle
    if profile.display_name:
        fields["display_name"] = profile.display_name
    return stix2.UserAccount(**fields)


def _time(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _evidence_text(link: Mapping[str, Any]) -> str:
    parts = []
    for evidence in link.get("evidence", []):
        posts = ", ".join(evidence.get("posts", [])[:6])
        if evidence.get("kind") == "selector":
            what = f"shared {evidence['value']}"
        else:
            what = "the same advert template"
        parts.append(f"{what} (weight {evidence['weight']}; posts {posts})")
    return f"Linked by {'; '.join(parts)}; link weight {link.get('weight')}."


def build_bundle(
    document: Mapping[str, Any],
    profiles: Mapping[str, AccountProfile],
    *,
    unit_name: str = "Tidewatch referral unit",
    tlp: str = "TLP:AMBER",
    network_ids: Iterable[str] | None = None,
) -> stix2.Bundle:
    """The STIX bundle of a link-run document (``latest_link_run``): its networks (or those
    in ``network_ids``), their accounts (``profiles``, keyed ``platform:native_id``), shared
    selectors, links with their evidence, and re-emergence among those accounts."""
    marking = tlp_marking(tlp)
    unit = unit_identity(unit_name)
    built = _time(document.get("built_at"), DEFINED)
    common = {"created_by_ref": unit.id, "object_marking_refs": [marking.id]}
    wanted = set(network_ids) if network_ids is not None else None
    networks = [n for n in document.get("networks", []) if wanted is None or n["id"] in wanted]
    if wanted is not None and len(networks) != len(wanted):
        missing = sorted(wanted - {n["id"] for n in networks})
        raise NotFound(f"no network {', '.join(missing)} in link run {document.get('run_id')}")
    risk = {a["account"]: a for a in document.get("accounts", [])}

    objects: dict[str, Any] = {}
    marked = {"object_marking_refs": [marking.id]}

    def add(obj: Any) -> Any:
        objects.setdefault(obj.id, obj)
        return objects[obj.id]

    def relate(source: str, target: str, kind: str, description: str, at: datetime) -> None:
        add(
            stix2.Relationship(
                id=_id("relationship", kind, source, target),
                relationship_type=kind,
                source_ref=source,
                target_ref=target,
                description=description,
                created=at,
                modified=at,
                # A relationship to a phone number refers to a custom object type.
                allow_custom=PHONE_TYPE in (source.split("--")[0], target.split("--")[0]),
                **common,
            )
        )

    def account(key: str) -> Any:
        platform, native = _split_account(key)
        profile = profiles.get(key) or AccountProfile(platform, native)
        return add(account_observable(profile, **marked))

    for network in networks:
        first = min(_time(network.get("first_seen"), built), built)
        group = add(
            stix2.IntrusionSet(
                id=_id("intrusion-set", network["id"]),
                name=network["id"],
                description=(
                    f"{network['size']} accounts on {', '.join(network['platforms'])} linked by "
                    f"shared selectors and advert templates (languages "
                    f"{', '.join(network['languages']) or 'unknown'}; {network['templates']} "
                    f"advert templates)."
                ),
                first_seen=first,
                last_seen=max(_time(network.get("last_seen"), built), first),
                created=first,
                modified=built,
                **common,
            )
        )
        for key in network["accounts"]:
            member = account(key)
            facts = risk.get(key)
            detail = (
                f"; risk {facts['risk']} from {facts['adverts']} adverts in {facts['posts']} posts"
                if facts
                else ""
            )
            relate(
                member.id,
                group.id,
                "related-to",
                f"Member of network {network['id']}{detail}.",
                built,
            )
        for selector in network["selectors"]:
            observable = selector_observable(selector, **marked)
            pattern = selector_pattern(selector)
            if observable is None or pattern is None:
                continue
            observable = add(observable)
            indicator = add(
                stix2.Indicator(
                    id=_id("indicator", selector),
                    name=selector,
                    description=f"Selector shared by accounts of network {network['id']}.",
                    indicator_types=["malicious-activity"],
                    pattern=pattern,
                    pattern_type="stix",
                    valid_from=first,
                    created=first,
                    modified=built,
                    **common,
                )
            )
            relate(
                indicator.id, group.id, "indicates", f"Shared selector of {network['id']}.", built
            )
            relate(indicator.id, observable.id, "based-on", selector, built)
        for link in network.get("links", []):
            a, b = account(link["a"]), account(link["b"])
            relate(a.id, b.id, "related-to", _evidence_text(link), built)
            for evidence in link.get("evidence", []):
                if evidence.get("kind") != "selector":
                    continue
                observable = selector_observable(evidence["value"], **marked)
                if observable is None:
                    continue
                observable = add(observable)
                for end in (a, b):
                    relate(
                        end.id, observable.id, "related-to", f"Wrote {evidence['value']}.", built
                    )

    members = {key for n in networks for key in n["accounts"]}
    for flag in document.get("reemergence", []):
        if flag["account"] not in members and flag["earlier_account"] not in members:
            continue
        new, earlier = account(flag["account"]), account(flag["earlier_account"])
        relate(
            new.id,
            earlier.id,
            "related-to",
            f"Re-emerged: first seen {flag['first_seen']}, after the earlier account was removed "
            f"{flag['earlier_removed_at']}; reuses {', '.join(flag['evidence'])}.",
            built,
        )

    header = [marking, unit]
    if any(obj.type == PHONE_TYPE for obj in objects.values()):
        header.append(phone_extension(unit.id))
    body = sorted(objects.values(), key=lambda o: o.id)
    bundle_key = ",".join(sorted(n["id"] for n in networks))
    return stix2.Bundle(
        id=_id("bundle", str(document.get("run_id", "")), tlp, unit_name, bundle_key),
        objects=[*header, *body],
        allow_custom=True,
    )


def phone_extension(created_by: str) -> stix2.ExtensionDefinition:
    return stix2.ExtensionDefinition(
        id=PHONE_EXTENSION,
        created_by_ref=created_by,
        created=DEFINED,
        modified=DEFINED,
        name=PHONE_TYPE,
        description="Phone numbers as STIX cyber-observables (STIX 2.1 has no phone object).",
        schema=PHONE_SCHEMA,
        version="1.0",
        extension_types=["new-sco"],
    )


def account_profiles(engine: Engine, keys: Iterable[str]) -> dict[str, AccountProfile]:
    """Handle and display name of each ``platform:native_id`` (never the bio)."""
    pairs = sorted({_split_account(k) for k in keys})
    profiles: dict[str, AccountProfile] = {}
    a = t.accounts
    with engine.connect() as conn:
        for start in range(0, len(pairs), 500):
            chunk = pairs[start : start + 500]
            for row in conn.execute(
                select(a.c.platform, a.c.native_id, a.c.handle, a.c.display_name).where(
                    tuple_(a.c.platform, a.c.native_id).in_(chunk)
                )
            ):
                profiles[f"{row.platform}:{row.native_id}"] = AccountProfile(
                    row.platform, row.native_id, row.handle or "", row.display_name or ""
                )
    return profiles


def export_networks(
    engine: Engine,
    *,
    network_ids: Iterable[str] | None = None,
    unit_name: str = "Tidewatch referral unit",
    tlp: str = "TLP:AMBER",
) -> stix2.Bundle:
    """The latest link run's networks as a STIX bundle."""
    document = latest_link_run(engine)
    if document is None:
        raise NotFound("no networks yet: run `tidewatch link` first")
    keys = {k for n in document.get("networks", []) for k in n["accounts"]}
    keys |= {
        f[role] for f in document.get("reemergence", []) for role in ("account", "earlier_account")
    }
    return build_bundle(
        document,
        account_profiles(engine, keys),
        unit_name=unit_name,
        tlp=tlp,
        network_ids=network_ids,
    )


def serialize(bundle: stix2.Bundle) -> str:
    return str(bundle.serialize(pretty=True, ensure_ascii=False))
