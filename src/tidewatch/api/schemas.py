"""Request and response bodies of both APIs (Pydantic 2). Requests are validated here, at the
edge: a field that the database could not store (a NUL character, a lone surrogate) or a DSA
value outside the Transparency Database's vocabulary is a 422 naming the field, never a 500."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from tidewatch.referrals.service import dsa_enums


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


ShortText = Annotated[str, Field(max_length=200), AfterValidator(_storable)]
Body = Annotated[str, Field(max_length=20_000), AfterValidator(_storable)]
UrlText = Annotated[str, Field(max_length=2000), AfterValidator(_storable)]
NativeId = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_storable)]
TlpMarking = Literal["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED"]

RecipientName = Literal["meta", "x", "tiktok", "youtube", "telegram"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    detail: str


# --- partner API ------------------------------------------------------------------------------


def _dsa(group: str) -> dict[str, Any]:
    """The allowed values of one DSA enumeration, for the OpenAPI spec."""
    return {"enum": sorted(dsa_enums()[group])}


def _in_vocabulary(group: str, value: str, field_name: str) -> str:
    allowed = dsa_enums()[group]
    if value not in allowed:
        raise ValueError(
            f"{field_name} {value!r} is not in the DSA statement-of-reasons vocabulary; "
            f"use one of {', '.join(sorted(allowed))}"
        )
    return value


# Plain strings checked by the validators below (whose messages name the field and list the
# vocabulary); the enums are declared in the spec for platforms to validate against.
Visibility = Annotated[str, Field(json_schema_extra=_dsa("DECISION_VISIBILITIES"))]
AccountDecision = Annotated[str, Field(json_schema_extra=_dsa("DECISION_ACCOUNTS"))]
Ground = Annotated[str, Field(json_schema_extra=_dsa("DECISION_GROUNDS"))]
Category = Annotated[str, Field(json_schema_extra=_dsa("STATEMENT_CATEGORIES"))]
Automated = Annotated[str, Field(json_schema_extra=_dsa("AUTOMATED_DECISIONS"))]


class DecisionIn(Model):
    """A platform's decision, in the DSA statement-of-reasons vocabulary. Either
    ``no_violation: true`` (nothing restricted), or a restriction of content
    (``decision_visibility``) and/or of the account (``decision_account``) with its
    ``decision_ground``."""

    no_violation: bool = False
    decision_visibility: list[Visibility] = Field(default_factory=list, max_length=7)
    decision_account: AccountDecision | None = None
    decision_ground: Ground | None = None
    category: Category | None = None
    territorial_scope: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = Field(
        default_factory=list, max_length=60, description="ISO 3166-1 alpha-2 country codes"
    )
    automated_detection: bool | None = None
    automated_decision: Automated | None = None
    statement_id: ShortText | None = Field(
        default=None, description="The platform's own statement-of-reasons id"
    )
    decided_at: datetime | None = None
    item_ids: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        default_factory=list,
        max_length=1000,
        description="The package's item numbers this decision covers (all items when empty)",
    )
    note: Body = ""

    @field_validator("decision_visibility")
    @classmethod
    def _visibility(cls, values: list[str]) -> list[str]:
        return [_in_vocabulary("DECISION_VISIBILITIES", v, "decision_visibility") for v in values]

    @field_validator("decision_account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        return (
            None
            if value is None
            else _in_vocabulary("DECISION_ACCOUNTS", value, "decision_account")
        )

    @field_validator("decision_ground")
    @classmethod
    def _ground(cls, value: str | None) -> str | None:
        return (
            None if value is None else _in_vocabulary("DECISION_GROUNDS", value, "decision_ground")
        )

    @field_validator("category")
    @classmethod
    def _category(cls, value: str | None) -> str | None:
        return None if value is None else _in_vocabulary("STATEMENT_CATEGORIES", value, "category")

    @field_validator("automated_decision")
    @classmethod
    def _automated(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _in_vocabulary("AUTOMATED_DECISIONS", value, "automated_decision")

    @field_validator("decided_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("decided_at needs a time zone (e.g. 2025-01-31T12:00:00Z)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> DecisionIn:
        if self.no_violation:
            if self.decision_visibility or self.decision_account:
                raise ValueError(
                    "a no_violation answer cannot also restrict content or the account"
                )
        else:
            if not self.decision_visibility and not self.decision_account:
                raise ValueError(
                    "a decision restricts content (decision_visibility) or the account "
                    "(decision_account), or says no_violation: true"
                )
            if self.decision_ground is None:
                raise ValueError(
                    "decision_ground is required when content or an account is restricted"
                )
        return self


class MessageIn(Model):
    body: Body
    kind: Literal["message", "information_request"] = "message"

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a message needs a body")
        return value


class UnitMessageIn(Model):
    body: Body

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a message needs a body")
        return value


class SubmissionItemIn(Model):
    kind: Literal["account", "post"]
    native_id: NativeId
    url: UrlText = ""


class SubmissionIn(Model):
    """A platform's own referral to the unit: accounts or posts it found."""

    summary: Body = ""
    tlp: TlpMarking = "TLP:AMBER"
    items: list[SubmissionItemIn] = Field(min_length=1, max_length=1000)


class ItemOut(BaseModel):
    item_id: int = Field(description="The item's number within its referral (as in the package)")
    kind: str
    native_id: str
    url: str
    status: str


class DecisionOut(BaseModel):
    outcome: str
    item_ids: list[int]
    statement_id: str | None
    decision_visibility: list[str]
    decision_account: str | None
    decision_ground: str | None
    category: str | None
    territorial_scope: list[str]
    automated_detection: bool | None
    automated_decision: str | None
    decided_at: datetime
    received_at: datetime
    source: str
    note: str


class MessageOut(BaseModel):
    number: int = Field(description="Position in the referral's thread, from 1")
    sender: Literal["unit", "platform"]
    kind: str
    body: str
    created_at: datetime


class PartnerReferralOut(BaseModel):
    id: str = Field(description="The referral's public id")
    status: str
    tlp: str
    sent_at: datetime | None
    acknowledged_at: datetime | None
    decided_at: datetime | None
    respond_by: datetime | None
    resubmission_of: str | None
    package: dict[str, Any] | None = Field(description="Exactly what was approved and sent")
    package_sha256: str | None
    items: list[ItemOut]


class PartnerReferralPage(BaseModel):
    items: list[PartnerReferralOut]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


class SubmissionOut(BaseModel):
    id: str
    status: str
    tlp: str
    summary: str
    received_at: datetime
    items: list[ItemOut]


class SubmissionPage(BaseModel):
    items: list[SubmissionOut]
    next_cursor: str | None


# --- unit API ---------------------------------------------------------------------------------


class ReviewItemOut(BaseModel):
    id: int
    target: str
    kind: str
    post_id: int | None
    account_id: int | None
    platform: str
    score: float
    priority: float
    factors: dict[str, float]
    status: str
    claimed_by: str | None
    claim_expires_at: datetime | None
    decision: str | None
    reason_code: str | None
    decided_by: str | None
    case_id: int | None


class ClaimIn(Model):
    item_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None


class ClaimOut(BaseModel):
    item: ReviewItemOut | None = Field(description="null when there is nothing to claim")


class ReviewDecisionIn(Model):
    decision: Literal["advert", "not_advert", "needs_more"]
    reason_code: ShortText
    note: Body = ""


class AccountKey(Model):
    platform: Literal["x", "facebook", "instagram", "tiktok", "youtube", "telegram"]
    native_id: NativeId


class CaseIn(Model):
    title: ShortText
    accounts: list[AccountKey] = Field(default_factory=list, max_length=10_000)
    network_id: ShortText | None = None


class CaseAccountsIn(Model):
    accounts: list[AccountKey] = Field(min_length=1, max_length=10_000)


class NoteIn(Model):
    body: Body


class CaseAccountOut(BaseModel):
    id: int
    platform: str
    native_id: str
    handle: str
    url: str


class NoteOut(BaseModel):
    author: str
    body: str
    created_at: datetime


class CaseOut(BaseModel):
    id: int
    title: str
    status: str
    network_id: str | None
    created_by: str
    created_at: datetime
    accounts: list[CaseAccountOut]
    notes: list[NoteOut]


class AddedOut(BaseModel):
    added: int


Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class DraftIn(Model):
    recipient: RecipientName
    case_id: Id | None = None
    account_ids: list[Id] = Field(default_factory=list, max_length=10_000)
    post_ids: list[Id] = Field(default_factory=list, max_length=10_000)
    summary: Body = ""
    legal_basis: Body | None = None
    tlp: TlpMarking = "TLP:AMBER"


class ApproveIn(Model):
    deadline_days: Annotated[int, Field(ge=1, le=365)] = 7


class ResubmitIn(Model):
    summary: Body = ""


class UnitReferralOut(BaseModel):
    id: str
    direction: str
    platform: str
    case_id: int | None
    status: str
    tlp: str
    legal_basis: str
    policies: list[dict[str, Any]]
    summary: str
    drafted_by: str
    drafted_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    sent_at: datetime | None
    acknowledged_at: datetime | None
    decided_at: datetime | None
    deadline_at: datetime | None
    escalated_at: datetime | None
    resubmission_of: str | None
    package: dict[str, Any] | None
    package_sha256: str | None
    items: list[ItemOut]


class UnitMessageOut(MessageOut):
    author: str


class UnitReferralDetail(UnitReferralOut):
    decisions: list[DecisionOut]
    messages: list[UnitMessageOut]


class AuditOut(BaseModel):
    entries: int
    ok: bool
    problem: str | None
    seq: int | None
