"""Tables (SQLAlchemy 2 Core). Alembic migrations in ``migrations/`` create them; a test checks
the two agree.

Design rules:
* Identity is (platform, native_id); our own integer ids are internal.
* Observations (of posts and accounts) are appended, never overwritten: one per source record.
* A source record's raw bytes are stored once, keyed by SHA-256, which is also what makes
  ingest idempotent: a unit whose bytes were already stored was fully ingested in the same
  transaction, so it is skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

from tidewatch.store.payloads import RawPayload

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _platform() -> Column[Any]:
    return Column("platform", String(20), nullable=False)


source_records = Table(
    "source_records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("format", String(40), nullable=False),
    Column("collector", String(200), nullable=False, default=""),
    Column("origin", Text, nullable=False, default=""),
    Column("retrieved_at", UTCDateTime),
    Column("retrieved_at_raw", Text),
    Column("ingested_at", UTCDateTime, nullable=False),
    # Packed as a Zstandard frame where that is smaller (store.payloads, migration 0012).
    Column("raw", RawPayload, nullable=False),
    Column("ingest_run_id", Integer, ForeignKey("ingest_runs.id")),
)

api_errors = Table(
    "api_errors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("source_records.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("resource_type", String(40), nullable=False, default=""),
    Column("resource_id", String(256), nullable=False, default=""),
    Column("title", Text, nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    _platform(),
    Column("native_id", String(256), nullable=False),
    Column("handle", Text, nullable=False, default=""),
    Column("display_name", Text, nullable=False, default=""),
    Column("bio", Text, nullable=False, default=""),
    Column("url", Text, nullable=False, default=""),
    Column("links", JSON, nullable=False, default=list),
    Column("created_at", UTCDateTime),
    Column("created_at_raw", Text),
    Column("verified", Boolean),
    Column("location", Text, nullable=False, default=""),
    Column("first_seen_at", UTCDateTime, nullable=False),
    # When the sighting that the profile columns (handle, name, bio) come from was made.
    # Last-seen times are not stored: they are max(observed_at) of the observations.
    Column("profile_at", UTCDateTime, nullable=False),
    Column("first_source_id", Integer, ForeignKey("source_records.id"), nullable=False),
    UniqueConstraint("platform", "native_id", name="uq_accounts_platform_native_id"),
    # Evidence capture finds who else a source record (a page, a thread) carries by these
    # and the observations' source_id (migration 0009).
    Index("ix_accounts_first_source_id", "first_source_id"),
)

account_observations = Table(
    "account_observations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("source_id", Integer, ForeignKey("source_records.id"), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("handle", Text, nullable=False, default=""),
    Column("display_name", Text, nullable=False, default=""),
    Column("bio", Text, nullable=False, default=""),
    Column("availability", String(20), nullable=False),
    Column("followers", Integer),
    Column("following", Integer),
    Column("posts", Integer),
    Column("extra", JSON, nullable=False, default=dict),
    UniqueConstraint("account_id", "source_id", name="uq_account_observations_account_source"),
    Index("ix_account_observations_source_id", "source_id"),
)

posts = Table(
    "posts",
    metadata,
    Column("id", Integer, primary_key=True),
    _platform(),
    Column("native_id", String(256), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("account_native_id", String(256), nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("title", Text, nullable=False, default=""),
    Column("lang", String(20), nullable=False, default=""),
    Column("created_at", UTCDateTime),
    Column("created_at_raw", Text),
    Column("url", Text, nullable=False, default=""),
    Column("links", JSON, nullable=False, default=list),
    Column("hashtags", JSON, nullable=False, default=list),
    Column("mentions", JSON, nullable=False, default=list),
    Column("parent_native_id", String(256), nullable=False, default=""),
    Column("quoted_native_id", String(256), nullable=False, default=""),
    Column("forwarded_from", Text, nullable=False, default=""),
    Column("conversation_id", String(256), nullable=False, default=""),
    Column("version_count", Integer, nullable=False, default=1),
    Column("current_version_at", UTCDateTime),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("first_source_id", Integer, ForeignKey("source_records.id"), nullable=False),
    UniqueConstraint("platform", "native_id", name="uq_posts_platform_native_id"),
    Index("ix_posts_account", "platform", "account_native_id"),
    Index("ix_posts_created_at", "created_at"),
    Index("ix_posts_first_source_id", "first_source_id"),
)

post_versions = Table(
    "post_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("post_id", Integer, ForeignKey("posts.id"), nullable=False),
    Column("version_no", Integer, nullable=False),
    Column("version_native_id", String(256), nullable=False, default=""),
    Column("text", Text, nullable=False),
    Column("text_sha256", String(64), nullable=False),
    Column("edited_at", UTCDateTime),
    Column("edited_at_raw", Text),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("source_id", Integer, ForeignKey("source_records.id"), nullable=False),
    UniqueConstraint("post_id", "text_sha256", name="uq_post_versions_post_text"),
)

post_observations = Table(
    "post_observations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("post_id", Integer, ForeignKey("posts.id"), nullable=False),
    Column("source_id", Integer, ForeignKey("source_records.id"), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("availability", String(20), nullable=False),
    Column("likes", Integer),
    Column("shares", Integer),
    Column("comments", Integer),
    Column("quotes", Integer),
    Column("views", Integer),
    Column("extra", JSON, nullable=False, default=dict),
    UniqueConstraint("post_id", "source_id", name="uq_post_observations_post_source"),
    Index("ix_post_observations_source_id", "source_id"),
)

media = Table(
    "media",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("post_id", Integer, ForeignKey("posts.id"), nullable=False),
    Column("media_key", Text, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("native_id", String(256), nullable=False, default=""),
    Column("url", Text, nullable=False, default=""),
    Column("preview_url", Text, nullable=False, default=""),
    Column("duration_ms", Integer),
    Column("width", Integer),
    Column("height", Integer),
    Column("local_path", Text, nullable=False, default=""),
    Column("alt_text", Text, nullable=False, default=""),
    Column("transcript", Text, nullable=False, default=""),
    Column("first_source_id", Integer, ForeignKey("source_records.id"), nullable=False),
    UniqueConstraint("post_id", "media_key", name="uq_media_post_key"),
)

# What the media stage derived from a media item's bytes (`tidewatch media`): a PDQ hash and
# the text inside an image, or a video's vPDQ frame hashes. The bytes themselves are not kept
# here: they stay in the export folder or the evidence store; their SHA-256 says which bytes
# a row was computed from, so the same bytes are never processed twice (migration 0008).
media_signals = Table(
    "media_signals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("media_id", Integer, ForeignKey("media.id"), nullable=False),
    # Also the media row's post: the link stage reads a post's hashes without the join.
    Column("post_id", Integer, ForeignKey("posts.id"), nullable=False),
    Column("kind", String(10), nullable=False),  # pdq | vpdq
    # pdq: 64 hexadecimal digits. vpdq: python-threatexchange's signal string, a JSON list of
    # "frame pdq hex,quality,seconds".
    Column("hash", Text, nullable=False),
    # PDQ quality 0-100 (under 50: not used for matching); for vpdq the frames' median.
    Column("quality", Integer, nullable=False),
    # Text Tesseract read in an image; NULL when it was not read (no OCR, or a video), ""
    # when it was read and holds no text.
    Column("ocr_text", Text),
    Column("bytes_sha256", String(64), nullable=False),
    Column("bytes_from", String(20), nullable=False),  # evidence | local_file
    Column("computed_at", UTCDateTime, nullable=False),
    # When the retention purge deleted the evidence bytes this text was read from, and the
    # text with them (ocr_text NULL); the hash, one-way, stays to catch re-uploads.
    Column("text_purged_at", UTCDateTime),
    UniqueConstraint("media_id", "kind", "bytes_sha256", name="uq_media_signals_media_bytes"),
    Index("ix_media_signals_post_id", "post_id"),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("input_name", Text, nullable=False),
    Column("format", String(40), nullable=False, default=""),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(20), nullable=False),  # running | finished | failed
    Column("records", Integer, nullable=False, default=0),
    Column("records_skipped", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("posts_new", Integer, nullable=False, default=0),
    Column("posts_updated", Integer, nullable=False, default=0),
    Column("posts_edited", Integer, nullable=False, default=0),
    Column("accounts_new", Integer, nullable=False, default=0),
    Column("accounts_updated", Integer, nullable=False, default=0),
    Column("error_samples", JSON, nullable=False, default=list),
)

detections = Table(
    "detections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("post_id", Integer, ForeignKey("posts.id"), nullable=False),
    # The text version that was scored: a later edit gets its own detection.
    Column("text_sha256", String(64), nullable=False),
    Column("model_version", String(80), nullable=False),
    Column("score", Float, nullable=False),
    Column("label", String(20), nullable=False),
    Column("lang", String(20), nullable=False, default=""),
    Column("categories", JSON, nullable=False, default=list),
    Column("reasons", JSON, nullable=False, default=list),
    Column("detected_at", UTCDateTime, nullable=False),
    # The reasons whose signal is in model.ENTITY_SIGNALS (places and selectors), copied
    # apart so that the report does not parse every reason of every referred post.
    Column("entity_reasons", JSON, nullable=False, default=list, server_default="[]"),
    UniqueConstraint(
        "post_id", "model_version", "text_sha256", name="uq_detections_post_model_text"
    ),
    Index("ix_detections_label_score", "label", "score"),
)

link_runs = Table(
    "link_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("built_at", UTCDateTime, nullable=False),
    Column("model_version", String(80), nullable=False),
    Column("networks", Integer, nullable=False),
    # The whole result (networks with evidence, account risk, re-emergence), as the console
    # reads it; networks are derived data, rebuilt by each run and kept per run for audit.
    Column("document", JSON, nullable=False),
)

network_accounts = Table(
    "network_accounts",
    metadata,
    Column("run_id", Integer, ForeignKey("link_runs.id"), primary_key=True),
    Column("network_id", String(40), primary_key=True),
    Column("platform", String(20), primary_key=True),
    Column("native_id", String(256), primary_key=True),
    Index("ix_network_accounts_account", "platform", "native_id"),
)


# --- Review, cases, referrals, channels, audit (issue 5) -------------------------------------
# People are referred to by username in these tables (not by id) so that the audit log and
# exported decisions stay readable after an account is deactivated.

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("display_name", Text, nullable=False, default=""),
    # analyst | supervisor | liaison | auditor | admin
    Column("role", String(20), nullable=False),
    # Liaisons belong to exactly one platform; everyone else to none.
    Column("platform", String(20)),
    Column("password_hash", Text),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    # The public half of the key ("tw_<key_id>_<secret>"), used to find the row.
    Column("key_id", String(32), nullable=False, unique=True),
    # SHA-256 of the random secret: the secret itself is shown once and never stored.
    Column("secret_sha256", String(64), nullable=False),
    # A partner key is scoped to one platform; a unit key acts as one user.
    Column("scope", String(20), nullable=False),  # partner | unit
    Column("platform", String(20)),
    Column("username", String(80)),
    Column("label", Text, nullable=False, default=""),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

review_items = Table(
    "review_items",
    metadata,
    Column("id", Integer, primary_key=True),
    # "post:<id>" or "account:<id>": one item per target, whichever way it entered the queue.
    Column("target", String(40), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),  # post | account
    Column("post_id", Integer, ForeignKey("posts.id")),
    Column("account_id", Integer, ForeignKey("accounts.id")),
    Column("platform", String(20), nullable=False),
    Column("score", Float, nullable=False),
    Column("priority", Float, nullable=False),
    Column("priority_factors", JSON, nullable=False, default=dict),
    Column("status", String(20), nullable=False),  # open | claimed | decided
    Column("claimed_by", String(80)),
    Column("claim_expires_at", UTCDateTime),
    Column("decision", String(20)),  # advert | not_advert | needs_more
    Column("reason_code", String(60)),
    Column("decided_by", String(80)),
    Column("decided_at", UTCDateTime),
    Column("case_id", Integer, ForeignKey("cases.id")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_review_items_status_priority", "status", "priority"),
    # Drafting finds a case's reviewed posts through it (migration 0007).
    Index("ix_review_items_post_id", "post_id"),
)

review_decisions = Table(
    "review_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("review_items.id"), nullable=False, index=True),
    Column("decision", String(20), nullable=False),
    Column("reason_code", String(60), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("actor", String(80), nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
    # The text and model the analyst saw, so exported labels stay true if the post is edited.
    Column("text_sha256", String(64), nullable=False, default=""),
    Column("model_version", String(80), nullable=False, default=""),
    Column("score", Float),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("network_id", String(40)),
    Column("status", String(20), nullable=False),  # open | closed
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

case_accounts = Table(
    "case_accounts",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("added_by", String(80), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
)

case_notes = Table(
    "case_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("author", String(80), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

referrals = Table(
    "referrals",
    metadata,
    Column("id", Integer, primary_key=True),
    # What partners see: random, so an id says nothing about how many referrals exist or
    # which other platforms received them.
    Column("public_id", String(36), nullable=False, unique=True),
    Column("direction", String(20), nullable=False),  # outbound (to a platform) | inbound
    Column("platform", String(20), nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id")),
    Column("status", String(30), nullable=False),
    Column("tlp", String(20), nullable=False),
    Column("legal_basis", Text, nullable=False, default=""),
    Column("policies", JSON, nullable=False, default=list),
    Column("summary", Text, nullable=False, default=""),
    Column("evidence_refs", JSON, nullable=False, default=list),
    Column("channel", String(40), nullable=False, default=""),
    Column("drafted_by", String(80), nullable=False),
    Column("drafted_at", UTCDateTime, nullable=False),
    Column("approved_by", String(80)),
    Column("approved_at", UTCDateTime),
    # The package exactly as approved and sent, and its SHA-256: what the platform received.
    Column("package", JSON),
    Column("package_sha256", String(64)),
    Column("sent_at", UTCDateTime),
    Column("acknowledged_at", UTCDateTime),
    Column("decided_at", UTCDateTime),
    Column("deadline_at", UTCDateTime),
    Column("escalated_at", UTCDateTime),
    Column("resubmission_of", Integer, ForeignKey("referrals.id")),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_referrals_platform_status", "platform", "status"),
)

referral_items = Table(
    "referral_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("referral_id", Integer, ForeignKey("referrals.id"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),  # account | post
    Column("account_id", Integer, ForeignKey("accounts.id")),
    Column("post_id", Integer, ForeignKey("posts.id")),
    Column("native_id", String(256), nullable=False),
    Column("url", Text, nullable=False),
    Column("status", String(30), nullable=False),
    # The report joins referred posts to their detections through it (migration 0007).
    Index("ix_referral_items_post_id", "post_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("referral_id", Integer, ForeignKey("referrals.id"), nullable=False, index=True),
    Column("channel", String(40), nullable=False),
    # Sent with every attempt: the receiver drops a second delivery with the same key.
    Column("idempotency_key", String(80), nullable=False, unique=True),
    Column("status", String(20), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    # A worker's lease: a worker that dies mid-send lets the lease lapse and another resumes.
    Column("locked_by", String(80)),
    Column("locked_until", UTCDateTime),
    Column("last_error", Text, nullable=False, default=""),
    Column("receipt", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index("ix_outbox_status_next", "status", "next_attempt_at"),
)

platform_decisions = Table(
    "platform_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("referral_id", Integer, ForeignKey("referrals.id"), nullable=False, index=True),
    Column("item_id", Integer, ForeignKey("referral_items.id")),
    Column("outcome", String(30), nullable=False),  # the referral status it implies
    # The DSA statement-of-reasons fields, in the Transparency Database's own vocabulary.
    Column("statement_id", String(200)),
    Column("decision_visibility", JSON, nullable=False, default=list),
    Column("decision_account", String(60)),
    Column("decision_ground", String(60)),
    Column("category", String(80)),
    Column("territorial_scope", JSON, nullable=False, default=list),
    Column("automated_detection", Boolean),
    Column("automated_decision", String(60)),
    Column("decided_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("source", String(40), nullable=False),  # partner_api | channel name
    Column("actor", String(80), nullable=False),
    Column("note", Text, nullable=False, default=""),
)

referral_messages = Table(
    "referral_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("referral_id", Integer, ForeignKey("referrals.id"), nullable=False, index=True),
    Column("sender", String(20), nullable=False),  # unit | platform
    Column("author", String(80), nullable=False),
    Column("kind", String(30), nullable=False),  # message | information_request
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

channel_checkpoints = Table(
    "channel_checkpoints",
    metadata,
    Column("channel", String(40), primary_key=True),
    Column("checkpoint", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

rechecks = Table(
    "rechecks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("referral_items.id"), nullable=False, index=True),
    Column("checked_at", UTCDateTime, nullable=False),
    Column("url", Text, nullable=False),
    Column("http_status", Integer),
    Column("state", String(20), nullable=False),  # live | not_found | suspended | private | error
    Column("detail", Text, nullable=False, default=""),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("action", String(60), nullable=False),
    Column("entity", String(40), nullable=False),
    Column("entity_id", String(80), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_entity", "entity", "entity_id"),
)

# One row: the tip of the audit chain. Updating it first in every audited transaction
# serialises appends (a row lock on PostgreSQL, the write lock on SQLite), so two
# transactions can never chain onto the same predecessor.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)


# --- Evidence (issue 6) -----------------------------------------------------------------------

# Content-addressed artifact bytes. Purging (retention) drops the bytes and keeps the row, so
# manifests and custody logs that name the hash stay explainable.
evidence_objects = Table(
    "evidence_objects",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("content", LargeBinary),
    Column("stored_at", UTCDateTime, nullable=False),
    Column("purged_at", UTCDateTime),
)

captures = Table(
    "captures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id")),
    Column("title", Text, nullable=False, default=""),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("status", String(20), nullable=False),  # open | sealed
    # The signed manifest, exactly as signed (canonical JSON bytes, as text).
    Column("manifest", Text),
    Column("manifest_sha256", String(64)),
    Column("signature", Text),  # Ed25519, hex
    Column("key_fingerprint", String(64)),
    Column("public_key", Text),  # PEM, so a bundle verifies without the unit's key store
    Column("timestamps", JSON, nullable=False, default=list),
    Column("sealed_at", UTCDateTime),
    # The tip of this capture's custody chain (see evidence/custody.py).
    Column("custody_seq", Integer, nullable=False, default=0),
    Column("custody_head", String(64), nullable=False, default="0" * 64),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("capture_id", Integer, ForeignKey("captures.id"), nullable=False, index=True),
    # Path inside an export bundle; built from ids and kinds, never from post text or names.
    Column("path", String(300), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("sha256", String(64), ForeignKey("evidence_objects.sha256"), nullable=False),
    Column("size", Integer, nullable=False),
    Column("subject", String(80), nullable=False),  # "post:<id>", "account:<id>", "case:<id>"
    # Holds personal data of people who are not suspects (commenters, tagged people):
    # redacted in exports unless disclosed deliberately.
    Column("has_third_party_data", Boolean, nullable=False, default=False),
    Column("source_url", Text, nullable=False, default=""),
    Column("captured_at", UTCDateTime, nullable=False),
    UniqueConstraint("capture_id", "path", name="uq_artifacts_capture_path"),
    # The evidence gate looks captures up by what they hold (migration 0007).
    Index("ix_artifacts_subject", "subject"),
)

custody_events = Table(
    "custody_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("capture_id", Integer, ForeignKey("captures.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=False),
    Column(
        "event", String(20), nullable=False
    ),  # captured|sealed|viewed|exported|disclosed|deleted
    Column("artifact_sha256", String(64)),
    Column("detail", JSON, nullable=False, default=dict),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("capture_id", "seq", name="uq_custody_events_capture_seq"),
)


# --- Console sign-in (issue 7) ----------------------------------------------------------------

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    # SHA-256 of the random cookie value: a stolen database holds no usable session.
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("username", String(80), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(80), nullable=False),
    Column("client", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Index("ix_login_attempts_username_at", "username", "at"),
)
