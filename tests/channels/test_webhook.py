"""The signed webhook against a real HTTP receiver on loopback: signatures, how each answer
is classified, and the worker's retries, backoff and permanent failures."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.channels.channel_kit import Harness, check_channel_contract
from tests.channels.support import SECRET, Receiver, approved, outbox_row, referral, seed
from tidewatch.channels import ChannelSet, SubmitStatus
from tidewatch.channels import outbox as worker
from tidewatch.channels.base import Delivery
from tidewatch.channels.webhook import WebhookChannel, sign, verify_signature
from tidewatch.model import Recipient
from tidewatch.referrals import service
from tidewatch.store import audit


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def webhook(receiver: Receiver, **settings: Any) -> WebhookChannel:
    return WebhookChannel(
        "meta",
        url=receiver.url,
        secret=SECRET,
        outcomes_url=receiver.outcomes_url,
        **({"timeout": 2.0} | settings),
    )


def delivery(key: str = "referral-abc-1") -> Delivery:
    package = {"referral_id": "abc", "items": []}
    body = b'{"items":[],"referral_id":"abc"}'
    return Delivery("abc", Recipient.META, key, package, hashlib.sha256(body).hexdigest())


def test_webhook_passes_the_channel_contract(
    engine: Engine, tmp_path: Path, receiver: Receiver
) -> None:
    seeded = seed(engine, tmp_path)
    check_channel_contract(
        Harness(seeded, webhook(receiver), receiver.received, receiver.outcomes.append, "x")
    )
    assert receiver.seen and all(s.signature_ok for s in receiver.seen)
    assert receiver.outcome_requests == [None, None, "2"]  # the checkpoint was used


# --- signatures -------------------------------------------------------------------------------


def test_a_signature_verifies_only_for_the_same_secret_body_and_a_fresh_time() -> None:
    now = time.time()
    stamp = str(int(now))
    header = sign("s3cret", stamp, b'{"a":1}')
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature("s3cret", stamp, b'{"a":1}', header, now=now)
    assert not verify_signature("other", stamp, b'{"a":1}', header, now=now)
    assert not verify_signature("s3cret", stamp, b'{"a":2}', header, now=now)
    assert not verify_signature("s3cret", str(int(now) + 1), b'{"a":1}', header, now=now)
    # A captured request replayed ten minutes later is refused.
    assert not verify_signature("s3cret", stamp, b'{"a":1}', header, 300, now=now + 600)
    assert not verify_signature("s3cret", "yesterday", b'{"a":1}', header, now=now)
    assert not verify_signature("s3cret", stamp, b'{"a":1}', None, now=now)


def test_a_receiver_refuses_a_wrong_signature_and_that_is_permanent(receiver: Receiver) -> None:
    channel = WebhookChannel("meta", url=receiver.url, secret="not-the-shared-secret")
    result = channel.submit(delivery())
    assert result.status is SubmitStatus.PERMANENT and "401" in result.detail
    assert receiver.stored == {} and not receiver.seen[0].signature_ok


# --- how answers are classified ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (408, SubmitStatus.RETRYABLE),
        (425, SubmitStatus.RETRYABLE),
        (429, SubmitStatus.RETRYABLE),
        (500, SubmitStatus.RETRYABLE),
        (503, SubmitStatus.RETRYABLE),
        (400, SubmitStatus.PERMANENT),
        (404, SubmitStatus.PERMANENT),
        (422, SubmitStatus.PERMANENT),
        (302, SubmitStatus.PERMANENT),  # redirects are not followed
    ],
)
def test_each_http_answer_is_retryable_or_permanent(
    receiver: Receiver, answer: int, expected: SubmitStatus
) -> None:
    receiver.script.append(answer)
    result = webhook(receiver).submit(delivery())
    assert result.status is expected
    assert f"HTTP {answer}" in result.detail
    assert receiver.stored == {}


def test_retry_after_is_passed_on_to_the_worker(receiver: Receiver) -> None:
    receiver.script.append(429)
    receiver.retry_after = "120"
    result = webhook(receiver).submit(delivery())
    assert result.status is SubmitStatus.RETRYABLE and result.retry_after == 120.0


def test_an_accepted_delivery_returns_the_receivers_receipt(receiver: Receiver) -> None:
    result = webhook(receiver).submit(delivery())
    assert result.status is SubmitStatus.ACCEPTED and result.receipt == "rcpt-1"


def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now.
    channel = WebhookChannel("meta", url=f"http://127.0.0.1:{port}/referrals", secret=SECRET)
    result = channel.submit(delivery())
    assert result.status is SubmitStatus.RETRYABLE and "ConnectError" in result.detail


def test_a_receiver_that_does_not_answer_in_time_is_retryable(receiver: Receiver) -> None:
    receiver.hold_first = True
    result = webhook(receiver, timeout=0.3).submit(delivery())
    assert result.status is SubmitStatus.RETRYABLE and "Timeout" in result.detail


# --- the worker's retries ---------------------------------------------------------------------


def test_a_retryable_error_is_retried_with_backoff_and_the_same_key(
    engine: Engine, tmp_path: Path, receiver: Receiver
) -> None:
    seeded = seed(engine, tmp_path)
    receiver.script.append(503)
    channels = ChannelSet({Recipient.META: webhook(receiver)})
    sent = approved(seeded)
    before = datetime.now(UTC)
    first = worker.deliver_one(engine, channels, "w1", backoff=worker.Backoff(base=0.2, jitter=0))
    assert first is not None and first[1].status == "retrying"
    row = outbox_row(engine, sent.id)
    assert (row.status, row.attempts, row.locked_by) == ("pending", 1, None)
    assert "HTTP 503" in row.last_error
    assert row.next_attempt_at >= before + timedelta(seconds=0.2)
    assert referral(engine, sent.id).status == "approved"
    # Not due a moment before its time; then due.
    early = row.next_attempt_at - timedelta(milliseconds=1)
    assert worker.claim(engine, channels, "w1", now=early) is None
    time.sleep(max(0.0, (row.next_attempt_at - datetime.now(UTC)).total_seconds()) + 0.05)
    second = worker.deliver_one(engine, channels, "w1")
    assert second is not None and second[1].status == "delivered"
    assert [s.key for s in receiver.seen] == [row.idempotency_key] * 2
    assert list(receiver.stored) == [row.idempotency_key]
    row = outbox_row(engine, sent.id)
    assert (row.status, row.attempts, row.receipt, row.last_error) == ("delivered", 2, "rcpt-1", "")
    assert referral(engine, sent.id).status == "sent"
    with engine.connect() as conn:
        actions = [e.action for e in audit.entries(conn, entity="outbox")]
        assert actions == ["outbox.claim", "outbox.retry", "outbox.claim", "outbox.delivered"]
        assert audit.verify(conn).ok


def test_a_permanent_error_fails_the_delivery_and_the_referral_can_be_resubmitted(
    engine: Engine, tmp_path: Path, receiver: Receiver
) -> None:
    seeded = seed(engine, tmp_path)
    receiver.script.append(422)
    channels = ChannelSet({Recipient.META: webhook(receiver)})
    sent = approved(seeded)
    done = worker.deliver_one(engine, channels, "w1")
    assert done is not None and done[1].status == "failed"
    row = outbox_row(engine, sent.id)
    assert (row.status, row.attempts) == ("failed", 1) and "HTTP 422" in row.last_error
    assert referral(engine, sent.id).status == "delivery_failed"
    with engine.connect() as conn:
        assert [e.action for e in audit.entries(conn, entity="referral", entity_id=sent.public_id)][
            -2:
        ] == ["referral.delivery_failed", "referral.delivery_error"]
        state = worker.outbox_status(conn)
    assert state.counts == {"failed": 1}
    assert state.failed[0]["referral"] == sent.public_id
    again = service.resubmit(engine, seeded.people["ana"], sent.id)
    assert again.status == "draft" and again.resubmission_of == sent.id


def test_retryable_errors_fail_for_good_after_the_last_attempt(
    engine: Engine, tmp_path: Path, receiver: Receiver
) -> None:
    seeded = seed(engine, tmp_path)
    receiver.script.extend([500, 500])
    channels = ChannelSet({Recipient.META: webhook(receiver)})
    sent = approved(seeded)
    report = worker.run_worker(
        engine,
        channels,
        once=True,
        lease=5,
        max_attempts=2,
        backoff=worker.Backoff(base=0.01, cap=0.01, jitter=0),
        outcomes_every=3600,
    )
    assert (report.retrying, report.failed) == (1, 0)  # once: each row at most once per pass
    time.sleep(0.05)
    report = worker.run_worker(engine, channels, once=True, lease=5, max_attempts=2)
    assert report.failed == 1
    row = outbox_row(engine, sent.id)
    assert (row.status, row.attempts) == ("failed", 2)
    assert referral(engine, sent.id).status == "delivery_failed"
    assert len(receiver.seen) == 2 and receiver.stored == {}
