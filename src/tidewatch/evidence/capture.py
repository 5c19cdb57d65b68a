"""Capture: preserve everything about a case's accounts and posts as artifacts.

For every account of the case and every post of those accounts:

* ``raw/source-<id>.<ext>``: the platform payload exactly as collected (the SourceRecord);
* ``records/account-<id>.json`` / ``records/post-<id>.json``: the normalised record with its
  history (versions, dated observations, media, the detection and its reasons);
* ``render/post-<id>.html`` / ``render/account-<id>.html``: the post as a person saw it,
  rendered from the stored content (see render.py);
* whatever the extra producers add: PNG screenshots of the renderings (headless Chromium),
  live WARC captures of reachable URLs, media files.

Paths are built from our own ids and kinds, never from names or text. Bytes are stored once
by SHA-256; each artifact gets a ``captured`` custody event; then the capture is sealed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, union

from tidewatch.errors import Conflict, NotFound
from tidewatch.evidence import custody, objects
from tidewatch.evidence.render import render_account, render_post
from tidewatch.store import audit
from tidewatch.store import tables as t
from tidewatch.store.users import Actor, Role

#: A detection as it is sealed: not ``entity_reasons``, the store's second copy of some of its
#: reasons, kept for the report's speed.
_DETECTION_COLUMNS = [c for c in t.detections.c if c.name != "entity_reasons"]


@dataclass(frozen=True)
class Artifact:
    path: str
    kind: str  # raw | record | render_html | render_png | warc | media
    content: bytes
    media_type: str
    subject: str
    source_url: str = ""
    third_party: bool = False


@dataclass
class CaseContent:
    """What a capture is made from, loaded once: the case's accounts and their posts."""

    case_id: int | None
    accounts: list[dict[str, Any]]
    posts: list[dict[str, Any]]
    sources: dict[int, dict[str, Any]] = field(default_factory=dict)
    suspects: set[tuple[str, str]] = field(default_factory=set)
    artifacts: list[Artifact] = field(default_factory=list)


#: Extra artifact makers, given the content and the artifacts made so far.
Producer = Callable[[CaseContent], Iterable[Artifact]]


def _jsonable(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dict(row._mapping).items():
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode()


def load_case(conn: Connection, case_id: int) -> CaseContent:
    if conn.execute(select(t.cases.c.id).where(t.cases.c.id == case_id)).first() is None:
        raise NotFound(f"no case {case_id}")
    account_rows = conn.execute(
        select(t.accounts)
        .join(t.case_accounts, t.case_accounts.c.account_id == t.accounts.c.id)
        .where(t.case_accounts.c.case_id == case_id)
        .order_by(t.accounts.c.id)
    ).all()
    return _load(conn, case_id, account_rows)


def _load(conn: Connection, case_id: int | None, account_rows: Sequence[Any]) -> CaseContent:
    content = CaseContent(case_id, [], [])
    source_ids: set[int] = set()
    for row in account_rows:
        account = _jsonable(row)
        account["observations"] = [
            _jsonable(o)
            for o in conn.execute(
                select(t.account_observations)
                .where(t.account_observations.c.account_id == row.id)
                .order_by(t.account_observations.c.id)
            )
        ]
        source_ids.add(row.first_source_id)
        source_ids.update(o["source_id"] for o in account["observations"])
        content.accounts.append(account)
        content.suspects.add((row.platform, row.native_id))
        post_rows = conn.execute(
            select(t.posts)
            .where(t.posts.c.platform == row.platform, t.posts.c.account_native_id == row.native_id)
            .order_by(t.posts.c.id)
        ).all()
        for post_row in post_rows:
            post = _jsonable(post_row)
            post["versions"] = [
                _jsonable(v)
                for v in conn.execute(
                    select(t.post_versions)
                    .where(t.post_versions.c.post_id == post_row.id)
                    .order_by(t.post_versions.c.version_no)
                )
            ]
            post["observations"] = [
                _jsonable(o)
                for o in conn.execute(
                    select(t.post_observations)
                    .where(t.post_observations.c.post_id == post_row.id)
                    .order_by(t.post_observations.c.id)
                )
            ]
            post["media"] = [
                _jsonable(m)
                for m in conn.execute(
                    select(t.media).where(t.media.c.post_id == post_row.id).order_by(t.media.c.id)
                )
            ]
            detection = conn.execute(
                select(*_DETECTION_COLUMNS)
                .where(t.detections.c.post_id == post_row.id)
                .order_by(t.detections.c.id.desc())
                .limit(1)
            ).first()
            post["detection"] = _jsonable(detection) if detection else None
            source_ids.add(post_row.first_source_id)
            source_ids.update(o["source_id"] for o in post["observations"])
            content.posts.append(post)
    for source in conn.execute(
        select(t.source_records).where(t.source_records.c.id.in_(sorted(source_ids)))
    ):
        content.sources[source.id] = {
            "format": source.format,
            "raw": bytes(source.raw),
            "sha256": source.sha256,
            "origin": source.origin,
            "third_parties": _third_parties(conn, source.id, content.suspects),
        }
    return content


def _third_parties(
    conn: Connection, source_id: int, suspects: set[tuple[str, str]]
) -> dict[str, list[str]]:
    """Accounts and posts of people who are not suspects, carried by one source record (a
    page of search results, a comment thread): what redaction must mask."""
    # Two indexed lookups each, united: an OR across the outer join made the database scan
    # every account and post (and their observations) for each source record.
    acc, acc_obs, pst, pst_obs = (
        t.accounts,
        t.account_observations,
        t.posts,
        t.post_observations,
    )
    account_columns = (acc.c.platform, acc.c.native_id, acc.c.handle, acc.c.display_name, acc.c.bio)
    accounts = conn.execute(
        union(
            select(*account_columns).where(acc.c.first_source_id == source_id),
            select(*account_columns)
            .join(acc_obs, acc_obs.c.account_id == acc.c.id)
            .where(acc_obs.c.source_id == source_id),
        )
    ).all()
    post_columns = (pst.c.platform, pst.c.account_native_id, pst.c.text)
    posts = conn.execute(
        union(
            select(*post_columns).where(pst.c.first_source_id == source_id),
            select(*post_columns)
            .join(pst_obs, pst_obs.c.post_id == pst.c.id)
            .where(pst_obs.c.source_id == source_id),
        )
    ).all()
    names: set[str] = set()
    texts: set[str] = set()
    for a in accounts:
        if (a.platform, a.native_id) not in suspects:
            names.update(v for v in (a.native_id, a.handle, a.display_name) if v)
            if a.bio:
                texts.add(a.bio)
    for p in posts:
        if (p.platform, p.account_native_id) not in suspects:
            names.add(p.account_native_id)
            if p.text:
                texts.add(p.text)
    return {"names": sorted(names), "texts": sorted(texts)}


def stored_artifacts(content: CaseContent) -> list[Artifact]:
    """Raw payloads, normalised records and HTML renderings: everything the database holds."""
    made: list[Artifact] = []
    for source_id, source in sorted(content.sources.items()):
        extension = "csv" if "csv" in source["format"] else "json"
        third = bool(source["third_parties"]["names"] or source["third_parties"]["texts"])
        made.append(
            Artifact(
                f"raw/source-{source_id}.{extension}",
                "raw",
                source["raw"],
                "text/csv" if extension == "csv" else "application/json",
                f"source:{source_id}",
                source["origin"],
                third,
            )
        )
    by_key = {(a["platform"], a["native_id"]): a for a in content.accounts}
    suspect_handles = {a["handle"].lstrip("@").lower() for a in content.accounts if a["handle"]}
    for account in content.accounts:
        subject = f"account:{account['id']}"
        made.append(
            Artifact(
                f"records/account-{account['id']}.json",
                "record",
                _dump(account),
                "application/json",
                subject,
                account.get("url") or "",
            )
        )
        made.append(
            Artifact(
                f"render/account-{account['id']}.html",
                "render_html",
                render_account(account, subject).encode(),
                "text/html",
                subject,
                account.get("url") or "",
            )
        )
    for post in content.posts:
        subject = f"post:{post['id']}"
        tagged = {m.lstrip("@").lower() for m in post.get("mentions") or []} - suspect_handles
        made.append(
            Artifact(
                f"records/post-{post['id']}.json",
                "record",
                _dump(post),
                "application/json",
                subject,
                post.get("url") or "",
                bool(tagged),
            )
        )
        owner = by_key.get((post["platform"], post["account_native_id"]))
        made.append(
            Artifact(
                f"render/post-{post['id']}.html",
                "render_html",
                render_post(post, owner, subject).encode(),
                "text/html",
                subject,
                post.get("url") or "",
                bool(tagged),
            )
        )
    return made


def capture_case(
    engine: Engine,
    actor: Actor,
    case_id: int,
    *,
    producers: Sequence[Producer] = (),
    seal: bool = True,
    signing_key: Any = None,
    tsa_urls: Sequence[str] = (),
) -> int:
    """Capture (and by default seal) everything about the case; returns the capture id."""
    actor.require(Role.ANALYST, Role.SUPERVISOR)
    with engine.connect() as conn:
        content = load_case(conn, case_id)
        title = conn.execute(select(t.cases.c.title).where(t.cases.c.id == case_id)).scalar_one()
    if not content.accounts:
        raise ValueError(f"case {case_id} has no accounts to capture")
    return _store(engine, actor, content, title, producers, seal, signing_key, tsa_urls)


def capture_accounts(
    engine: Engine,
    actor: Actor,
    account_ids: Sequence[int],
    *,
    case_id: int | None = None,
    title: str = "",
    producers: Sequence[Producer] = (),
    signing_key: Any = None,
    tsa_urls: Sequence[str] = (),
) -> int:
    """Capture and seal the given accounts with their posts (what a referral lists)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.accounts)
            .where(t.accounts.c.id.in_(list(account_ids)))
            .order_by(t.accounts.c.id)
        ).all()
        content = _load(conn, case_id, rows)
    if not content.accounts:
        raise ValueError("no accounts to capture")
    return _store(engine, actor, content, title, producers, True, signing_key, tsa_urls)


def _store(
    engine: Engine,
    actor: Actor,
    content: CaseContent,
    title: str,
    producers: Sequence[Producer],
    seal: bool,
    signing_key: Any,
    tsa_urls: Sequence[str],
) -> int:
    content.artifacts = stored_artifacts(content)
    # Slow work (browsers, the network) happens before the transaction opens.
    for producer in producers:
        content.artifacts.extend(producer(content))
    paths = [a.path for a in content.artifacts]
    if len(paths) != len(set(paths)):
        raise ValueError("two artifacts of one capture have the same path")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        capture_id = int(
            conn.execute(
                insert(t.captures).values(
                    case_id=content.case_id,
                    title=title,
                    created_by=actor.username,
                    created_at=now,
                    status="open",
                    timestamps=[],
                    custody_seq=0,
                    custody_head=custody.GENESIS,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        add_artifacts(conn, capture_id, content.artifacts, actor=actor.username, at=now)
        audit.record(
            conn,
            actor=actor.username,
            action="evidence.capture",
            entity="capture",
            entity_id=capture_id,
            after={"case_id": content.case_id, "artifacts": len(content.artifacts)},
        )
        if seal:
            from tidewatch.evidence.seal import seal_capture

            seal_capture(
                conn, capture_id, actor=actor.username, signing_key=signing_key, tsa_urls=tsa_urls
            )
    return capture_id


def add_artifacts(
    conn: Connection, capture_id: int, artifacts: Sequence[Artifact], *, actor: str, at: datetime
) -> list[str]:
    """Add many artifacts to an open capture in a few statements (objects, rows, custody)."""
    status = conn.execute(select(t.captures.c.status).where(t.captures.c.id == capture_id)).scalar()
    if status != "open":
        raise Conflict(f"capture {capture_id} is {status}: a sealed capture takes no new artifacts")
    if not artifacts:
        return []
    digests = objects.put_many(conn, [(a.content, a.media_type) for a in artifacts])
    conn.execute(
        insert(t.artifacts),
        [
            {
                "capture_id": capture_id,
                "path": a.path,
                "kind": a.kind,
                "sha256": digest,
                "size": len(a.content),
                "subject": a.subject,
                "has_third_party_data": a.third_party,
                "source_url": a.source_url,
                "captured_at": at,
            }
            for a, digest in zip(artifacts, digests, strict=True)
        ],
    )
    custody.record_many(
        conn,
        capture_id,
        [
            ("captured", d, {"path": a.path, "kind": a.kind})
            for a, d in zip(artifacts, digests, strict=True)
        ],
        actor=actor,
        at=at,
    )
    return digests


def add_artifact(
    conn: Connection, capture_id: int, artifact: Artifact, *, actor: str, at: datetime | None = None
) -> str:
    """One artifact: the same path as a whole capture's (:func:`add_artifacts`)."""
    return add_artifacts(conn, capture_id, [artifact], actor=actor, at=at or datetime.now(UTC))[0]
