"""``tidewatch users``, ``tidewatch keys`` and ``tidewatch serve`` as an operator uses them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tidewatch.cli import app

runner = CliRunner()


def tw(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_users_and_keys_from_the_command_line(tmp_path: Path) -> None:
    db = ["--database-url", f"sqlite:///{tmp_path / 'tw.db'}"]
    assert tw("users", "add", "ana", "--role", "analyst", *db)[0] == 0
    code, _, error = tw("users", "add", "lia", "--role", "liaison", *db)
    assert code == 2 and "needs the one platform" in error
    assert tw("users", "add", "lia", "--role", "liaison", "--platform", "instagram", *db)[0] == 0
    code, listing, _ = tw("users", "list", *db)
    assert "lia" in listing and "meta" in listing  # Instagram's liaison speaks for Meta

    code, key, _ = tw("keys", "create", "--partner", "meta", "--label", "meta trust & safety", *db)
    assert code == 0 and key.strip().startswith("tw_")
    code, unit_key, _ = tw("keys", "create", "--user", "ana", *db)
    assert code == 0 and unit_key.strip().startswith("tw_")
    assert tw("keys", "create", *db)[0] == 2
    assert tw("keys", "create", "--partner", "meta", "--user", "ana", *db)[0] == 2
    code, _, error = tw("keys", "create", "--user", "nobody", *db)
    assert code == 2 and "nobody" in error
    code, _, error = tw("keys", "create", "--partner", "myspace", *db)
    assert code == 2 and "myspace" in error

    # The secret may itself hold underscores: split off the prefix and the id only.
    _, key_id, secret = key.strip().split("_", 2)
    code, listing, _ = tw("keys", "list", *db)
    assert key_id in listing and secret not in listing  # never the secret
    assert tw("keys", "revoke", key.strip(), *db)[0] == 0
    code, _, error = tw("keys", "revoke", key_id, *db)
    assert code == 2 and "no active key" in error


def test_serve_answers_partners_with_keys_made_by_the_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tw.db'}"
    key = tw("keys", "create", "--partner", "x", "--database-url", url)[1].strip()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "tidewatch.cli", "serve", "--port", str(port)]
    env = os.environ | {"TIDEWATCH_DATABASE_URL": url}
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                spec = httpx.get(f"{base}/openapi.json")
                break
            except httpx.ConnectError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "tidewatch serve did not start"
                time.sleep(0.2)
        assert spec.json()["info"]["title"] == "Tidewatch"
        headers = {"Authorization": f"Bearer {key}"}
        listed = httpx.get(f"{base}/partner/v1/referrals", headers=headers)
        assert listed.status_code == 200 and listed.json() == {"items": [], "next_cursor": None}
        assert "server" not in listed.headers  # no product banner
    finally:
        server.terminate()
        server.wait(10)
