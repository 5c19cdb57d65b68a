"""The outbox worker's own rules: leases, refusing a changed package, backoff, checkpoints,
and what ``tidewatch outbox status`` shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from tests.channels.support import approved, outbox_row, referral, seed
from tidewatch.channels import ChannelSet
from tidewatch.channels import outbox as worker
from tidewatch.channels.base import Outcome, OutcomeKind, outcome_json
from tidewatch.channels.files import EmailFileChannel
from tidewatch.commands.outbox import app
from tidewatch.errors import ConfigError
from tidewatch.model import Recipient
from tidewatch.referrals import service
from tidewatch.store import audit
from tidewatch.store import tables as t


def test_a_claimed_delivery_is_leased_until_its_lease_lapses(
    engine: Engine, tmp_path: Path
) -> None:
    seeded = seed(engine, tmp_path)
    sent = approved(seeded)
    channels = ChannelSet()
    now = datetime.now(UTC)
    lease = timedelta(seconds=30)
    first = worker.claim(engine, channels, "w1", lease=lease, now=now)
    assert first is not None and (first.attempts, first.channel.name) == (1, "partner_inbox:meta")
    assert first.delivery is not None and first.delivery.intact()
    row = outbox_row(engine, sent.id)
    assert (row.locked_by, row.locked_until) == ("w1", now + lease)
    assert worker.claim(engine, channels, "w2", now=now + lease - timedelta(seconds=1)) is None
    second = worker.claim(engine, channels, "w2", now=now + lease + timedelta(seconds=1))
    assert second is not None and second.attempts == 2
    assert second.idempotency_key == first.idempotency_key
    # w1 comes back late with a failure: w2 holds the delivery now, so w1's result is dropped.
    late = worker.record_result(
        engine, first, worker.SubmitResult.retryable("slow"), "w1", backoff=worker.Backoff()
    )
    assert late.status == "superseded"
    assert outbox_row(engine, sent.id).locked_by == "w2"


def test_a_package_changed_after_approval_is_never_sent(engine: Engine, tmp_path: Path) -> None:
    seeded = seed(engine, tmp_path)
    channel = EmailFileChannel("meta", folder=tmp_path / "mail")
    sent = approved(seeded)
    assert sent.package is not None
    with engine.begin() as conn:
        conn.execute(
            update(t.referrals)
            .where(t.referrals.c.id == sent.id)
            .values(package={**sent.package, "summary": "edited after approval"})
        )
    done = worker.deliver_one(engine, ChannelSet({Recipient.META: channel}), "w1")
    assert done is not None and done[1].status == "failed"
    assert "SHA-256" in outbox_row(engine, sent.id).last_error
    assert not (tmp_path / "mail").exists()
    assert referral(engine, sent.id).status == "delivery_failed"


def test_backoff_doubles_up_to_its_cap_and_is_repeatable_with_a_seed() -> None:
    plain = worker.Backoff(base=10, cap=100, jitter=0)
    assert [plain.delay(n) for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]
    first = [worker.Backoff(base=10, cap=1000, seed=7).delay(n) for n in range(1, 6)]
    again = [worker.Backoff(base=10, cap=1000, seed=7).delay(n) for n in range(1, 6)]
    assert first == again
    assert all(
        0.8 * 10 * 2 ** (n - 1) <= d <= 1.2 * 10 * 2 ** (n - 1) for n, d in enumerate(first, 1)
    )
    assert first != [10, 20, 40, 80, 160]  # jittered
    with pytest.raises(ConfigError):
        worker.Backoff(base=10, cap=5)


def test_the_lease_must_outlast_the_slowest_channel(tmp_path: Path) -> None:
    from tidewatch.channels.webhook import WebhookChannel
    from tidewatch.store import make_engine

    slow = WebhookChannel("meta", url="http://127.0.0.1:9/", secret="s", timeout=60)
    engine = make_engine(f"sqlite:///{tmp_path / 'unused.db'}")
    with pytest.raises(ConfigError, match="longer than the slowest channel"):
        worker.run_worker(engine, ChannelSet({Recipient.META: slow}), once=True, lease=30)


def test_two_workers_polling_the_same_answers_record_them_once(
    engine: Engine, tmp_path: Path
) -> None:
    seeded = seed(engine, tmp_path)
    channel = EmailFileChannel("meta", folder=tmp_path / "mail")
    channels = ChannelSet({Recipient.META: channel})
    sent = approved(seeded)
    worker.deliver_one(engine, channels, "w1")
    channel.outcomes_folder.mkdir()
    message = Outcome(sent.public_id, OutcomeKind.MESSAGE, body="Which accounts first?")
    (channel.outcomes_folder / "1.json").write_text(json.dumps(outcome_json(message)))
    # Both fetched from the same checkpoint; the first to commit wins.
    outcomes, new = channel.fetch_outcomes(None)
    assert worker.poll_outcomes(engine, channels)[channel.name].recorded == 1
    with pytest.raises(worker._CheckpointMoved), engine.begin() as conn:
        worker._advance(conn, channel.name, None, new, datetime.now(UTC), "w2")
    with engine.connect() as conn:
        assert len(service.messages(conn, sent.id)) == 1
        assert worker.get_checkpoint(conn, channel.name) == "1.json"
        assert audit.verify(conn).ok
    assert len(outcomes) == 1


def test_an_answer_before_the_delivery_was_recorded_counts_as_proof_of_delivery(
    engine: Engine, tmp_path: Path
) -> None:
    seeded = seed(engine, tmp_path)
    channel = EmailFileChannel("meta", folder=tmp_path / "mail")
    channels = ChannelSet({Recipient.META: channel})
    sent = approved(seeded)  # still approved: as if the worker died after the platform took it
    channel.outcomes_folder.mkdir(parents=True)
    request = Outcome(
        sent.public_id,
        OutcomeKind.MESSAGE,
        body="Send the Instagram post",
        information_request=True,
    )
    (channel.outcomes_folder / "1.json").write_text(json.dumps(outcome_json(request)))
    assert worker.poll_outcomes(engine, channels)[channel.name].recorded == 1
    assert referral(engine, sent.id).status == "more_info_requested"
    done = worker.deliver_one(engine, channels, "w1")  # the re-send is still recorded
    assert done is not None and done[1].status == "delivered"
    assert referral(engine, sent.id).status == "more_info_requested"


def test_status_lists_failed_deliveries_with_their_error(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    seeded = seed(engine, tmp_path)
    sent = approved(seeded)
    claimed = worker.claim(engine, ChannelSet(), "w1")
    assert claimed is not None
    worker.record_result(
        engine,
        claimed,
        worker.SubmitResult.permanent("HTTP 410: [bold]gone[/bold]"),
        "w1",
        backoff=worker.Backoff(),
    )
    approved(seeded, "x")
    runner = CliRunner()
    shown = runner.invoke(app, ["status", "--database-url", database_url])
    assert shown.exit_code == 1  # something failed
    assert "[bold]gone[/bold]" in shown.output  # printed literally, not as markup
    as_json = runner.invoke(app, ["status", "--json", "--database-url", database_url])
    document = json.loads(as_json.output)
    assert document["counts"] == {"failed": 1, "pending": 1}
    assert document["failed"][0]["referral"] == sent.public_id
