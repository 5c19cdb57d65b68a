"""Browser tests: the console served by a real uvicorn on loopback, driven by Playwright in
Debian's Chromium (``executable_path``; ``playwright install`` is not used). Screenshots of
each page go to ``test-artifacts/web/`` (kept by CI as artifacts, ignored by git)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine

from tidewatch.evidence.screenshot import CHROMIUM_ARGS, chromium_path
from tidewatch.store.users import create_user
from tidewatch.web import create_app
from tidewatch.web.auth import hash_password

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """Browser tests run on SQLite only: what they test is the pages; the services under
    them run on both databases in their own tests (and tests/api/test_end_to_end.py)."""
    yield f"sqlite:///{tmp_path / 'console.db'}"


@dataclass
class Console:
    url: str
    engine: Engine


@pytest.fixture
def console(engine: Engine) -> Iterator[Console]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(engine), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console did not start")
        time.sleep(0.01)
    try:
        yield Console(f"http://127.0.0.1:{port}", engine)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        if os.environ.get("TIDEWATCH_REQUIRE_CHROMIUM") == "1":
            pytest.fail("Chromium required (TIDEWATCH_REQUIRE_CHROMIUM=1) but not installed")
        pytest.skip("Chromium is not installed (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
        )
        yield launched
        launched.close()


class Visitor:
    """One person's browser: records every dialog and every request that leaves loopback."""

    def __init__(self, browser: Any, console: Console) -> None:
        self.console = console
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        self.page = self.context.new_page()
        # Generous: CI machines are small and shared; a slow answer is not a failure here
        # (bench/web.py measures speed).
        self.page.set_default_timeout(90_000)
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        self.console_errors: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", self._request)
        self.page.on(
            "console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None
        )

    def _request(self, request: Any) -> None:
        if not request.url.startswith(self.console.url) and not request.url.startswith("data:"):
            self.foreign.append(request.url)

    def go(self, path: str) -> Any:
        return self.page.goto(self.console.url + path)

    def login(self, username: str, password: str = PASSWORD) -> None:
        self.go("/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^a-z0-9_-]+", "-", name.lower())
        self.page.screenshot(path=str(ARTIFACTS / f"{safe}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visitor(browser: Any, console: Console) -> Iterator[Any]:
    opened: list[Visitor] = []

    def open_visitor() -> Visitor:
        opened.append(Visitor(browser, console))
        return opened[-1]

    yield open_visitor
    for v in opened:
        v.close()


def console_people(engine: Engine) -> None:
    with engine.begin() as conn:
        for name, role, platform in [
            ("ana", "analyst", None),
            ("sam", "supervisor", None),
            ("aud", "auditor", None),
            ("lia", "liaison", "meta"),
            ("xavier", "liaison", "x"),
        ]:
            create_user(conn, name, role, platform=platform, password_hash=hash_password(PASSWORD))
