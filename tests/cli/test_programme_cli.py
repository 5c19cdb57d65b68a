"""The review and referral commands, as an analyst and a supervisor use them."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner

from tests.programme import seed_people, seed_posts
from tidewatch.cli import app

runner = CliRunner()


def _run(database_url: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--database-url", database_url])
    assert result.exit_code == code, result.output
    return result.output


def test_review_to_approved_referral_from_the_command_line(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    seed_posts(engine, tmp_path)
    seed_people(engine)
    assert "added 4 (4 posts" in _run(
        database_url, "review", "refresh", "--threshold", "0.5", "--account-threshold", "2"
    )
    items = [
        json.loads(line) for line in _run(database_url, "review", "list", "--json").splitlines()
    ]
    assert len(items) == 4 and items[0]["priority"] >= items[-1]["priority"]
    claimed = _run(database_url, "review", "claim", "--as", "ana")
    item_id = claimed.split()[2]
    assert item_id == str(items[0]["id"])
    # Someone else cannot decide ana's item; an unknown reason is named.
    assert "not claimed by bo" in _run(
        database_url, "review", "decide", "--as", "bo", item_id, "advert", "crossing_offer", code=2
    )
    assert "does not go with" in _run(
        database_url,
        "review",
        "decide",
        "--as",
        "ana",
        item_id,
        "advert",
        "news_or_research",
        code=2,
    )
    assert "advert (crossing_offer), decided" in _run(
        database_url, "review", "decide", "--as", "ana", item_id, "advert", "crossing_offer"
    )
    exported = tmp_path / "labels.jsonl"
    assert "wrote 1 labelled posts" in _run(database_url, "review", "export", str(exported))
    assert json.loads(exported.read_text("utf-8"))["label"] == "advert"

    case = _run(
        database_url,
        "review",
        "case",
        "--as",
        "ana",
        "Zuwara <script>",
        "--account",
        "x:smug_x",
        "--account",
        "instagram:smug_ig",
    )
    assert "(2 accounts)" in case and "<script>" in case  # printed literally, not as markup
    case_id = case.split()[1].rstrip(":")
    drafted = _run(database_url, "refer", "draft", "--as", "ana", "x", "--case", case_id)
    referral_id = drafted.split()[1]
    assert "X Rules" in drafted
    assert "needs supervisor" in _run(
        database_url, "refer", "approve", "--as", "ana", referral_id, code=2
    )
    assert "approved by sam" in _run(database_url, "refer", "approve", "--as", "sam", referral_id)
    tracked = [
        json.loads(line) for line in _run(database_url, "refer", "list", "--json").splitlines()
    ]
    assert [(r["platform"], r["status"]) for r in tracked] == [("x", "approved")]
    assert "intact" in _run(database_url, "audit", "verify")
    log = _run(database_url, "audit", "log", "--entity", "referral")
    assert "referral.draft" in log and "referral.approve" in log


def test_a_user_added_and_given_a_password_can_sign_in(engine: Engine, database_url: str) -> None:
    from tidewatch.web import auth

    assert "added" in _run(database_url, "users", "add", "nadia", "--role", "supervisor")
    short = runner.invoke(
        app, ["users", "password", "nadia", "--database-url", database_url], input="short\nshort\n"
    )
    assert short.exit_code == 2 and "at least 10 characters" in short.output
    done = runner.invoke(
        app,
        ["users", "password", "nadia", "--database-url", database_url],
        input="a long passphrase\na long passphrase\n",
    )
    assert done.exit_code == 0, done.output
    assert "a long passphrase" not in done.output
    token = auth.login(engine, "nadia", "a long passphrase", "test")
    session = auth.session_for(engine, token)
    assert session is not None and session.actor.role.value == "supervisor"
    import pytest

    with pytest.raises(auth.LoginRefused):
        auth.login(engine, "nadia", "another passphrase", "test")
