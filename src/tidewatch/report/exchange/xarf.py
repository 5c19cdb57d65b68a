"""Referrals as X-ARF v4 abuse reports, validated against the X-ARF schemas.

X-ARF reports one abuse source per document, so a referral becomes one report per item
(account or post), each a complete X-ARF document. X-ARF has no type for adverts of illegal
services; the closest is category ``content``, type ``fraud`` (``fraud_type`` ``other``,
``attack_vector`` ``fraud``): smuggling adverts sell crossings on false promises of safety.
What the referral says in its own terms travels in ``description`` and namespaced ``tags``.

Reports are built from the referral's frozen package (what the platform was sent), so an
X-ARF export never says more than the approved referral did.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from tidewatch.errors import Conflict
from tidewatch.referrals.service import Referral

XARF_VERSION = "4.2.0"
#: Namespace of report ids: a report id is a UUIDv5 of the referral and item, so exporting
#: a referral again gives the same ids and a receiver drops the repeat.
NAMESPACE = uuid.UUID("3f0d6f0e-3c59-4b43-9d0c-6a8f3b8f5a11")
SCHEMA_FILES = (
    "schema_xarf-v4-master.json",
    "schema_xarf-core.json",
    "schema_content-base.json",
    "schema_content-fraud.json",
)
MASTER_ID = "https://xarf.org/schemas/v4/xarf-v4-master.json"
MAX_DESCRIPTION = 1000
_TAG_PART = re.compile(r"[^a-z0-9_+-]+")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}$", re.I
)


@dataclass(frozen=True)
class Reporter:
    """The unit as X-ARF's reporter and sender (the schema allows these three fields only)."""

    org: str
    contact: str
    domain: str = ""

    def as_contact(self) -> dict[str, str]:
        domain = self.domain or self.contact.rpartition("@")[2]
        return {"org": self.org, "contact": self.contact, "domain": domain.lower()}


def schemas() -> dict[str, dict[str, Any]]:
    """The bundled X-ARF schemas by file name (xarf/xarf-spec @ 37820dac, MIT)."""
    folder = resources.files("tidewatch.report.exchange").joinpath("xarf_v4")
    return {name: json.loads(folder.joinpath(name).read_text("utf-8")) for name in SCHEMA_FILES}


def _format_checker() -> FormatChecker:
    """jsonschema's checker plus date-time, uri and hostname, which it only checks with
    optional packages this project does not install (unchecked formats would pass anything)."""
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if "T" not in value.upper() or not re.search(r"(Z|[+-]\d\d:\d\d)$", value, re.I):
            return False
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        return True

    @checker.checks("uri")
    def uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme and (parts.netloc or parts.path)) and " " not in value

    @checker.checks("hostname")
    def hostname(value: object) -> bool:
        return not isinstance(value, str) or bool(_HOSTNAME.match(value))

    return checker


@cache
def validator() -> Draft202012Validator:
    """A validator for the master schema; ``$ref``s resolve within the bundled schemas only
    (no network). The master also names types whose schemas are not bundled: their
    references are followed only for reports of those types, which are never written here."""
    loaded = schemas()
    registry: Registry[Any] = Registry().with_resources(
        (document["$id"], Resource.from_contents(document)) for document in loaded.values()
    )
    master = loaded["schema_xarf-v4-master.json"]
    return Draft202012Validator(master, registry=registry, format_checker=_format_checker())


def validation_errors(report: Mapping[str, Any]) -> list[str]:
    """Every schema violation of ``report``, each naming the field."""
    errors: list[ValidationError] = sorted(
        validator().iter_errors(report), key=lambda e: list(e.absolute_path)
    )
    messages = []
    for error in errors:
        # allOf/anyOf failures nest the real reason; report the innermost ones.
        leaves = [e for e in error.context or () if not e.context] or [error]
        for leaf in leaves:
            where = "/".join(str(p) for p in leaf.absolute_path) or "(report)"
            messages.append(f"{where}: {leaf.message}")
    return sorted(set(messages))


def validate(report: Mapping[str, Any]) -> None:
    problems = validation_errors(report)
    if problems:
        raise ValueError("X-ARF report does not validate: " + "; ".join(problems))


def _timestamp(value: str | datetime | None) -> str | None:
    if value is None or value == "":
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tag(namespace: str, value: str) -> str | None:
    part = _TAG_PART.sub("-", value.lower()).strip("-_+")
    return f"{namespace}:{part}" if part else None


def _evidence(item: Mapping[str, Any], refs: list[Any]) -> list[dict[str, Any]]:
    evidence = []
    text = item.get("text")
    if text:
        raw = text.encode("utf-8")
        evidence.append(
            {
                "content_type": "text/plain; charset=utf-8",
                "description": "Text of the post as captured",
                "payload": base64.b64encode(raw).decode("ascii"),
                "hash": f"sha256:{hashlib.sha256(raw).hexdigest()}",
                "size": len(raw),
            }
        )
    if refs:
        raw = json.dumps(refs, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
        evidence.append(
            {
                "content_type": "application/json",
                "description": "Sealed evidence captures (ids and SHA-256 digests) held by the unit",
                "payload": base64.b64encode(raw).decode("ascii"),
                "hash": f"sha256:{hashlib.sha256(raw).hexdigest()}",
                "size": len(raw),
            }
        )
    return evidence


@dataclass
class Export:
    reports: list[dict[str, Any]]
    #: Items with no URL a platform resolves (an Instagram post known only by its id):
    #: X-ARF content reports require one, so they are left out, each named here.
    skipped: list[str]


def referral_reports(referral: Referral, reporter: Reporter) -> list[dict[str, Any]]:
    """One validated X-ARF report per item of an approved referral that has a URL."""
    return export_referral(referral, reporter).reports


def export_referral(referral: Referral, reporter: Reporter) -> Export:
    """X-ARF reports of an approved referral's items, and the items left out."""
    package = referral.package
    if package is None:
        raise Conflict(
            f"referral {referral.public_id} is {referral.status}: only an approved referral "
            "(its package frozen) is exported"
        )
    contact = reporter.as_contact()
    approved = _timestamp(package.get("approved_at"))
    policies = "; ".join(p.get("name", "") for p in package.get("policies", []) if p.get("name"))
    refs = list(package.get("evidence") or [])
    reports = []
    skipped = []
    for item in package.get("items", []):
        url = item.get("url") or ""
        platform = item.get("platform") or package.get("recipient", "")
        if not url:
            skipped.append(
                f"item {item.get('item_id')} ({platform} {item['kind']} {item['native_id']}): no URL"
            )
            continue
        owner = item.get("account_native_id") if item["kind"] == "post" else item["native_id"]
        description = " ".join(
            part
            for part in (
                f"{item['kind'].capitalize()} referred by {package.get('from', reporter.org)} "
                f"as an advert for migrant-smuggling crossings.",
                package.get("summary", ""),
                f"Policies: {policies}." if policies else "",
                f"Legal basis: {package.get('legal_basis', '')}",
            )
            if part
        )
        tags = [
            _tag("crime", "migrant-smuggling"),
            _tag("tlp", package.get("tlp", "").removeprefix("TLP:")),
            _tag("referral", referral.public_id),
            _tag("item", str(item["item_id"])),
            _tag("kind", item["kind"]),
            _tag("platform", platform),
            *(_tag("category", c) for c in item.get("categories", [])[:8]),
        ]
        report: dict[str, Any] = {
            "xarf_version": XARF_VERSION,
            "report_id": str(uuid.uuid5(NAMESPACE, f"{referral.public_id}|{item['item_id']}")),
            "timestamp": _timestamp(item.get("created_at")) or approved,
            "reporter": contact,
            "sender": contact,
            "source_identifier": f"{platform}:{owner}",
            "category": "content",
            "type": "fraud",
            "evidence_source": "researcher_analysis",
            "url": url,
            "domain": (urlsplit(url).hostname or "").lower(),
            "verified_at": approved,
            "verification_method": "manual",
            "attack_vector": "fraud",
            "fraud_type": "other",
            "description": description[:MAX_DESCRIPTION],
            "tags": sorted({t for t in tags if t})[:20],
        }
        # The references name captures, not items: each report carries all of them.
        evidence = _evidence(item, refs)
        if evidence:
            report["evidence"] = evidence
        report = {k: v for k, v in report.items() if v not in (None, "")}
        validate(report)
        reports.append(report)
    return Export(reports, skipped)
