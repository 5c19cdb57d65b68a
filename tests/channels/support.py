"""Data and a platform for channel tests: accounts ingested through the real loader, referrals
drafted and approved through the referral service, and a loopback webhook receiver that
behaves as a careful platform should (checks the signature, keeps the first copy of each
idempotency key, serves its decisions as an outcome feed)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Engine, select

from tidewatch.channels.webhook import verify_signature
from tidewatch.ingest import read_input
from tidewatch.referrals import service
from tidewatch.store import load
from tidewatch.store import tables as t
from tidewatch.store.users import Actor, create_user

SECRET = "test-webhook-secret-0123456789"

POSTS = [
    {"id": "fb-1", "platform": "facebook", "author": "smug_fb", "text": "Boat to Italy 2500 euro"},
    {"id": "ig-1", "platform": "instagram", "author": "smug_ig", "text": "Boat to Italy, WhatsApp"},
    {"id": "x-1", "platform": "x", "author": "smug_x", "text": "UK by lorry from Calais"},
    {"id": "tg-1", "platform": "telegram", "author": "smug_tg", "text": "Crossing this week"},
]


@dataclass
class Seeded:
    engine: Engine
    people: dict[str, Actor]
    accounts: dict[str, list[int]]  # recipient -> account ids


def seed(engine: Engine, folder: Path) -> Seeded:
    path = folder / "posts.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in POSTS), "utf-8")
    report = load(
        engine, read_input(path, format="generic", collector="test"), input_name=str(path)
    )
    assert report.errors == 0
    with engine.begin() as conn:
        people = {
            "ana": create_user(conn, "ana", "analyst"),
            "sam": create_user(conn, "sam", "supervisor"),
        }
        rows = conn.execute(select(t.accounts.c.id, t.accounts.c.platform)).all()
    accounts: dict[str, list[int]] = {}
    for account_id, platform in rows:
        recipient = "meta" if platform in ("facebook", "instagram") else platform
        accounts.setdefault(recipient, []).append(account_id)
    return Seeded(engine, people, accounts)


def approved(seeded: Seeded, recipient: str = "meta") -> service.Referral:
    """A referral drafted by an analyst and approved by a supervisor: in the outbox."""
    draft = service.draft(
        seeded.engine,
        seeded.people["ana"],
        recipient=recipient,
        account_ids=seeded.accounts[recipient],
        summary="Accounts selling boat crossings",
    )
    return service.approve(seeded.engine, seeded.people["sam"], draft.id)


def outbox_row(engine: Engine, referral_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(t.outbox).where(t.outbox.c.referral_id == referral_id)).one()


def referral(engine: Engine, referral_id: int) -> service.Referral:
    with engine.connect() as conn:
        return service.get(conn, referral_id)


@dataclass
class Seen:
    key: str
    signature_ok: bool
    answered: int


@dataclass
class Receiver:
    """A platform's webhook endpoint on loopback, in a thread.

    ``script``: statuses to answer to the next POSTs, before any is accepted (a 503 then a 201,
    say). ``hold_first``: the first accepted request is stored and then held open until
    :attr:`release` is set, so a worker can be killed while it waits for the answer."""

    secret: str = SECRET
    script: list[int] = field(default_factory=list)
    retry_after: str | None = None
    hold_first: bool = False
    stored: dict[str, bytes] = field(default_factory=dict)
    receipts: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    outcome_requests: list[str | None] = field(default_factory=list)
    first_arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"{self.base}/referrals"

    @property
    def outcomes_url(self) -> str:
        return f"{self.base}/outcomes"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def received(self, key: str) -> list[bytes]:
        with self._lock:
            return [self.stored[key]] if key in self.stored else []

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _answer(self, status: int, document: dict[str, Any], **headers: str) -> None:
                body = json.dumps(document).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in headers.items():
                        self.send_header(name.replace("_", "-"), value)
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the sender was killed while we held its request

            def do_GET(self) -> None:
                ok = verify_signature(
                    receiver.secret,
                    self.headers.get("X-Tidewatch-Timestamp"),
                    self.path.encode(),
                    self.headers.get("X-Tidewatch-Signature"),
                )
                if not ok:
                    self._answer(401, {"error": "bad signature"})
                    return
                since = parse_qs(urlsplit(self.path).query).get("since", [None])[0]
                receiver.outcome_requests.append(since)
                start = int(since) if since else 0
                with receiver._lock:
                    entries = receiver.outcomes[start:]
                    checkpoint = str(len(receiver.outcomes))
                self._answer(200, {"outcomes": entries, "checkpoint": checkpoint})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get("Idempotency-Key", "")
                ok = verify_signature(
                    receiver.secret,
                    self.headers.get("X-Tidewatch-Timestamp"),
                    body,
                    self.headers.get("X-Tidewatch-Signature"),
                )
                digest = hashlib.sha256(body).hexdigest()
                if not ok or not key or digest != self.headers.get("X-Tidewatch-Package-Sha256"):
                    receiver.seen.append(Seen(key, ok, 401))
                    self._answer(401, {"error": "bad signature or body"})
                    return
                with receiver._lock:
                    status = receiver.script.pop(0) if receiver.script else None
                    duplicate = key in receiver.stored
                    hold = receiver.hold_first and not receiver.stored and status is None
                    if status is None and not duplicate:
                        receiver.stored[key] = body
                        receiver.receipts[key] = f"rcpt-{len(receiver.stored)}"
                    if duplicate:
                        receiver.duplicates.append(key)
                if status is not None:
                    receiver.seen.append(Seen(key, ok, status))
                    extra = {"Retry_After": receiver.retry_after} if receiver.retry_after else {}
                    self._answer(status, {"error": "scripted"}, **extra)
                    return
                receiver.seen.append(Seen(key, ok, 200 if duplicate else 201))
                if hold:
                    receiver.first_arrived.set()
                    receiver.release.wait(30)
                self._answer(
                    200 if duplicate else 201,
                    {"receipt": receiver.receipts[key], "duplicate": duplicate},
                )

        return Handler


def write_channels(path: Path, document: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(document), "utf-8")
    return path


def keys_seen(receiver: Receiver) -> Iterator[str]:
    return (s.key for s in receiver.seen)
