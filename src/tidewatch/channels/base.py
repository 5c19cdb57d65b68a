"""The one interface every way of reaching a platform implements, and the JSON shape in which
platforms send their answers back.

A channel does two things (modelled on python-threatexchange's ``SignalExchangeAPI``):

* :meth:`PlatformChannel.submit` hands one frozen referral package to the platform and says
  what happened: **accepted** (with the platform's receipt), **retryable** (try again later
  with the same idempotency key) or **permanent** (trying again will not help). It never
  raises for a transport problem and never returns "nothing".
* :meth:`PlatformChannel.fetch_outcomes` returns what the platform has decided or asked since
  a checkpoint, and the checkpoint to resume from next time.

Channels do no database work: the outbox worker (:mod:`tidewatch.channels.outbox`) records
deliveries and outcomes, each in one audited transaction.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from tidewatch.errors import TidewatchError
from tidewatch.model import Recipient
from tidewatch.referrals.service import PlatformDecision


class ChannelError(TidewatchError):
    """A channel could not fetch outcomes (network, a malformed answer as a whole)."""


class SubmitStatus(StrEnum):
    ACCEPTED = "accepted"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class SubmitResult:
    status: SubmitStatus
    receipt: str = ""  # the platform's reference for the delivery (accepted only)
    detail: str = ""  # why it failed, for the outbox's last_error
    #: For a retryable error: the soonest the platform asked to be tried again, in seconds.
    retry_after: float | None = None

    @classmethod
    def accepted(cls, receipt: str) -> SubmitResult:
        return cls(SubmitStatus.ACCEPTED, receipt=receipt)

    @classmethod
    def retryable(cls, detail: str) -> SubmitResult:
        return cls(SubmitStatus.RETRYABLE, detail=detail)

    @classmethod
    def permanent(cls, detail: str) -> SubmitResult:
        return cls(SubmitStatus.PERMANENT, detail=detail)


def canonical_json(package: Mapping[str, Any]) -> bytes:
    """The bytes that are sent: the same serialisation the package's SHA-256 was taken over at
    approval, so ``sha256(body) == package_sha256`` for every channel."""
    return orjson.dumps(package, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class Delivery:
    """One approved referral on its way out. Every attempt at the same delivery carries the
    same idempotency key, so the receiver can drop a second copy."""

    referral_id: str  # the public id, the only id a platform ever sees
    recipient: Recipient
    idempotency_key: str
    package: Mapping[str, Any]
    package_sha256: str
    attempt: int = 1

    @property
    def body(self) -> bytes:
        return canonical_json(self.package)

    def intact(self) -> bool:
        """Whether the package is still exactly what was approved."""
        return hashlib.sha256(self.body).hexdigest() == self.package_sha256


class OutcomeKind(StrEnum):
    DECISION = "decision"
    MESSAGE = "message"
    ACKNOWLEDGEMENT = "acknowledgement"
    #: An entry the platform sent that could not be read; kept so it is recorded, not lost.
    INVALID = "invalid"


@dataclass(frozen=True)
class Outcome:
    """One thing a platform said about one referral."""

    referral_id: str
    kind: OutcomeKind
    decision: PlatformDecision | None = None
    body: str = ""
    information_request: bool = False
    author: str = ""
    detail: str = ""  # why an INVALID entry was rejected

    @classmethod
    def invalid(cls, referral_id: str, detail: str) -> Outcome:
        return cls(referral_id=referral_id, kind=OutcomeKind.INVALID, detail=detail)


class PlatformChannel(ABC):
    """How referrals reach one recipient and how its answers come back."""

    #: Unique among configured channels; names the outbox rows and the stored checkpoint.
    name: str
    recipient: Recipient
    #: The longest one submit can take; the worker's lease must be longer.
    timeout: float = 30.0

    @abstractmethod
    def submit(self, delivery: Delivery) -> SubmitResult:
        """Hand ``delivery`` over. Submitting the same idempotency key again must not make
        the platform hold two copies."""

    @abstractmethod
    def fetch_outcomes(self, checkpoint: str | None) -> tuple[list[Outcome], str | None]:
        """Answers after ``checkpoint`` (None: from the start), oldest first, and the
        checkpoint that follows them. Raises :class:`ChannelError` if the platform cannot
        be asked; never returns an answer twice for the checkpoint it returned."""

    def close(self) -> None:  # noqa: B027 - optional hook: most channels hold nothing open
        """Release connections."""


# --- the outcome JSON shape (webhook feed and dropped files) ----------------------------------

_DECISION_FIELDS = {
    "no_violation",
    "decision_visibility",
    "decision_account",
    "decision_ground",
    "category",
    "territorial_scope",
    "automated_detection",
    "automated_decision",
    "statement_id",
    "decided_at",
    "item_ids",
    "note",
}


def _str(entry: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise ValueError(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, not {type(value).__name__}")
    return value


def _strings(entry: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = entry.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings")
    return tuple(value)


def _decision(data: Any) -> PlatformDecision:
    if not isinstance(data, dict):
        raise ValueError("decision must be an object")
    unknown = set(data) - _DECISION_FIELDS
    if unknown:
        raise ValueError(f"decision has unknown fields {sorted(unknown)}")
    decided_at = None
    if (text := _str(data, "decided_at")) is not None:
        try:
            decided_at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"decision.decided_at {text!r} is not an ISO 8601 time") from None
        if decided_at.tzinfo is None:
            raise ValueError("decision.decided_at needs a time zone")
        decided_at = decided_at.astimezone(UTC)
    item_ids = data.get("item_ids") or []
    if not isinstance(item_ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in item_ids
    ):
        raise ValueError("decision.item_ids must be a list of integers")
    for flag in ("no_violation", "automated_detection"):
        if data.get(flag) is not None and not isinstance(data[flag], bool):
            raise ValueError(f"decision.{flag} must be true or false")
    decision = PlatformDecision(
        no_violation=bool(data.get("no_violation", False)),
        decision_visibility=_strings(data, "decision_visibility"),
        decision_account=_str(data, "decision_account"),
        decision_ground=_str(data, "decision_ground"),
        category=_str(data, "category"),
        territorial_scope=_strings(data, "territorial_scope"),
        automated_detection=data.get("automated_detection"),
        automated_decision=_str(data, "automated_decision"),
        statement_id=_str(data, "statement_id"),
        decided_at=decided_at,
        item_ids=tuple(item_ids),
        note=_str(data, "note") or "",
    )
    decision.outcome()  # the DSA vocabulary and the rules between fields, checked here
    return decision


def parse_outcome(entry: Any) -> Outcome:
    """One outcome entry as a platform sends it (see docs/channels.md). An entry that cannot
    be read becomes an INVALID outcome that names the field, rather than an exception, so one
    bad entry neither stops the feed nor vanishes."""
    referral_id = ""
    try:
        if not isinstance(entry, dict):
            raise ValueError("an outcome must be a JSON object")
        referral_id = _str(entry, "referral_id", required=True) or ""
        kind = _str(entry, "type", required=True)
        if kind == OutcomeKind.DECISION:
            return Outcome(
                referral_id, OutcomeKind.DECISION, decision=_decision(entry.get("decision"))
            )
        if kind == OutcomeKind.MESSAGE:
            body = _str(entry, "body", required=True) or ""
            if not body.strip():
                raise ValueError("body is empty")
            request = entry.get("information_request", False)
            if not isinstance(request, bool):
                raise ValueError("information_request must be true or false")
            return Outcome(
                referral_id,
                OutcomeKind.MESSAGE,
                body=body,
                information_request=request,
                author=_str(entry, "author") or "",
            )
        if kind == OutcomeKind.ACKNOWLEDGEMENT:
            return Outcome(
                referral_id, OutcomeKind.ACKNOWLEDGEMENT, author=_str(entry, "author") or ""
            )
        raise ValueError(f"type {kind!r} is not decision, message or acknowledgement")
    except ValueError as error:
        return Outcome.invalid(referral_id, str(error))


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """The inverse of :func:`parse_outcome` (for test receivers and documentation)."""
    entry: dict[str, Any] = {"referral_id": outcome.referral_id, "type": outcome.kind.value}
    if outcome.kind is OutcomeKind.DECISION and outcome.decision is not None:
        d = outcome.decision
        entry["decision"] = {
            "no_violation": d.no_violation,
            "decision_visibility": list(d.decision_visibility),
            "decision_account": d.decision_account,
            "decision_ground": d.decision_ground,
            "category": d.category,
            "territorial_scope": list(d.territorial_scope),
            "automated_detection": d.automated_detection,
            "automated_decision": d.automated_decision,
            "statement_id": d.statement_id,
            "decided_at": d.decided_at.isoformat() if d.decided_at else None,
            "item_ids": list(d.item_ids),
            "note": d.note,
        }
    elif outcome.kind is OutcomeKind.MESSAGE:
        entry |= {
            "body": outcome.body,
            "information_request": outcome.information_request,
            "author": outcome.author,
        }
    elif outcome.kind is OutcomeKind.ACKNOWLEDGEMENT:
        entry["author"] = outcome.author
    return entry
