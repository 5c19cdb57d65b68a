"""Killing the worker between approval and delivery neither loses nor duplicates a referral.

Real worker processes (``python -m tidewatch.commands.outbox work``), SIGKILLed, and a real
webhook receiver on loopback that keeps the first copy of each idempotency key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.channels.support import (
    SECRET,
    Receiver,
    Seeded,
    approved,
    outbox_row,
    referral,
    seed,
    write_channels,
)
from tidewatch.channels import outbox as worker
from tidewatch.channels.config import load_channels
from tidewatch.store import audit

pytestmark = pytest.mark.slow
LEASE = "1"


@dataclass
class Setup:
    seeded: Seeded
    receiver: Receiver
    env: dict[str, str]
    url: str

    def command(self, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tidewatch.commands.outbox",
            "work",
            "--poll",
            "0.05",
            "--lease",
            LEASE,
            "--database-url",
            self.url,
            *extra,
        ]

    def start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command(), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )


def wait_until_delivered(
    engine: Engine, referral_id: int, process: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + 60  # generous: the suite shares two cores with other work
    while outbox_row(engine, referral_id).status != "delivered":
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, errors = process.communicate(timeout=10)
            row = outbox_row(engine, referral_id)
            pytest.fail(
                f"not delivered (worker exit {process.returncode}; row {row.status}, "
                f"attempts {row.attempts}, locked by {row.locked_by} until {row.locked_until}, "
                f"error {row.last_error!r})\n{out.decode()}\n{errors.decode()}"
            )
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> str:
    """SIGTERM: the worker finishes what it is doing and exits cleanly."""
    process.send_signal(signal.SIGTERM)
    out, errors = process.communicate(timeout=10)
    assert process.returncode == 0, errors
    return out.decode()


@pytest.fixture
def setup(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[Setup]:
    channels = write_channels(
        tmp_path / "channels.yaml",
        {
            "recipients": {
                "meta": {
                    "channel": "webhook",
                    "secret_env": "TW_TEST_WEBHOOK_SECRET",
                    "timeout": 0.5,
                }
            }
        },
    )
    with Receiver() as receiver:
        text = channels.read_text().replace("timeout:", f"url: {receiver.url}\n    timeout:")
        channels.write_text(text)
        env = os.environ | {
            "TIDEWATCH_CHANNELS": str(channels),
            "TW_TEST_WEBHOOK_SECRET": SECRET,
        }
        yield Setup(seed(engine, tmp_path), receiver, env, database_url)


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL


def test_a_worker_killed_mid_send_is_resumed_with_the_same_key_and_the_receiver_keeps_one(
    setup: Setup,
) -> None:
    engine, receiver = setup.seeded.engine, setup.receiver
    receiver.hold_first = True
    sent = approved(setup.seeded)
    key = outbox_row(engine, sent.id).idempotency_key

    # Two workers, as in production; whichever claims the delivery is killed mid-send.
    workers = [setup.start(), setup.start()]
    try:
        # The receiver has stored the referral but holds its answer: the sender is mid-send.
        assert receiver.first_arrived.wait(30), [w.poll() for w in workers]
        row = outbox_row(engine, sent.id)
        # Claimed and in flight, and nothing has recorded the send.
        assert (row.status, row.attempts) == ("pending", 1)
        assert referral(engine, sent.id).status == "approved"
        sender = next(w for w in workers if row.locked_by.split(":")[2] == str(w.pid))
        kill(sender)
    except BaseException:
        for w in workers:
            w.kill()
        raise
    survivor = next(w for w in workers if w is not sender)
    # While the dead worker's lease holds, no one can claim the delivery.
    channels = load_channels(env=setup.env)
    just_before = row.locked_until - timedelta(milliseconds=1)
    assert worker.claim(engine, channels, "impatient", now=just_before) is None

    # The surviving worker takes the delivery over when the lease lapses.
    wait_until_delivered(engine, sent.id, survivor)
    stop(survivor)
    receiver.release.set()

    assert [s.key for s in receiver.seen] == [key, key]  # the second attempt, same key...
    assert receiver.duplicates == [key]  # ...was recognised and dropped
    assert list(receiver.stored) == [key]  # exactly one referral on the platform
    row = outbox_row(engine, sent.id)
    assert (row.status, row.attempts, row.receipt) == ("delivered", 2, receiver.receipts[key])
    assert referral(engine, sent.id).status == "sent"
    with engine.connect() as conn:
        assert audit.verify(conn).ok
        claims = [e for e in audit.entries(conn, entity="outbox") if e.action == "outbox.claim"]
        sent_entries = [
            e
            for e in audit.entries(conn, entity="referral", entity_id=sent.public_id)
            if e.action == "referral.sent"
        ]
    assert len(claims) == 2 and claims[0].actor != claims[1].actor
    assert len(sent_entries) == 1


def test_a_worker_killed_before_sending_loses_nothing(setup: Setup) -> None:
    engine, receiver = setup.seeded.engine, setup.receiver
    sent = approved(setup.seeded)
    key = outbox_row(engine, sent.id).idempotency_key

    first = setup.start()
    time.sleep(0.2)  # still starting: long before its first claim
    kill(first)
    assert receiver.seen == []
    assert outbox_row(engine, sent.id).status == "pending"

    second = setup.start()
    wait_until_delivered(engine, sent.id, second)
    assert "delivered" in stop(second)
    assert list(receiver.stored) == [key] and receiver.duplicates == []
    assert outbox_row(engine, sent.id).status == "delivered"
    assert referral(engine, sent.id).status == "sent"
    with engine.connect() as conn:
        assert audit.verify(conn).ok
