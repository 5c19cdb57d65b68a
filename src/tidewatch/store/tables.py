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
    Column("raw", LargeBinary, nullable=False),
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
