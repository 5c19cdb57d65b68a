"""A real server for API tests: uvicorn on a free loopback port in a thread, over the
``engine`` fixture (so on SQLite and PostgreSQL), and a small world of referrals to two
platforms built through the services as the unit would."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, select

from tests.programme import seed_people, seed_posts
from tidewatch.api import create_app
from tidewatch.referrals import service as rs
from tidewatch.store import tables as t
from tidewatch.store.users import Actor, create_api_key


@dataclass
class LiveServer:
    url: str
    engine: Engine

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture
def server(engine: Engine) -> Iterator[LiveServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(engine), log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", engine)
    finally:
        uv.should_exit = True
        thread.join(10)
        sock.close()


def account_ids(engine: Engine, *platforms: str) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(t.accounts.c.id)
                .where(t.accounts.c.platform.in_(platforms))
                .order_by(t.accounts.c.id)
            ).scalars()
        )


def sent_referral(engine: Engine, people: dict[str, Actor], recipient: str, ids: list[int]) -> str:
    """A referral drafted by an analyst, approved by a supervisor and delivered."""
    draft = rs.draft(engine, people["ana"], recipient=recipient, account_ids=ids, summary="s")
    rs.approve(engine, people["sue"], draft.id)
    with engine.begin() as conn:
        rs.mark_sent(conn, draft.id, actor="outbox")
    return draft.public_id


@dataclass
class World:
    engine: Engine
    people: dict[str, Actor]
    keys: dict[str, str]
    #: Per recipient: referrals the platform received, and ones it must never see.
    sent: dict[str, list[str]] = field(default_factory=dict)
    unsent: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> World:
    seed_posts(engine, tmp_path)
    people = seed_people(engine)
    meta_accounts = account_ids(engine, "facebook", "instagram")
    x_accounts = account_ids(engine, "x")
    with engine.begin() as conn:
        keys = {
            "meta": create_api_key(conn, scope="partner", platform="meta"),
            "x": create_api_key(conn, scope="partner", platform="x"),
            "ana": create_api_key(conn, scope="unit", username="ana"),
            "sam": create_api_key(conn, scope="unit", username="sam"),
            "sue": create_api_key(conn, scope="unit", username="sue"),
            "aud": create_api_key(conn, scope="unit", username="aud"),
            "liaison": create_api_key(conn, scope="unit", username="liaison-meta"),
        }
    world = World(engine, people, keys)
    for recipient, ids in (("meta", meta_accounts), ("x", x_accounts)):
        # Three to Meta (the flow tests use each), two to X (enough to page through).
        count = 3 if recipient == "meta" else 2
        world.sent[recipient] = [
            sent_referral(engine, people, recipient, ids) for _ in range(count)
        ]
        drafted = rs.draft(engine, people["ana"], recipient=recipient, account_ids=ids)
        approved = rs.draft(engine, people["ana"], recipient=recipient, account_ids=ids)
        rs.approve(engine, people["sam"], approved.id)
        world.unsent[recipient] = [drafted.public_id, approved.public_id]
    return world
