"""The contract every channel must pass (modelled on python-threatexchange's
signal_type_test_helper): each adapter's test module builds a :class:`Harness` around a real
channel and calls :func:`check_channel_contract`; nothing here is specific to one adapter.

The contract, through the real outbox worker and database:

1. the channel names itself uniquely for one recipient, in a name that fits the outbox;
2. an approved referral is delivered once: the outbox row is delivered with the channel's
   receipt, the referral is sent, and the platform holds exactly the approved bytes;
3. submitting the same delivery again (a retry after a lost answer) is accepted and the
   platform still holds one copy;
4. answers: a published decision is recorded once through the stored checkpoint, and an
   answer about another platform's referral is refused (channels that receive no answers,
   such as the partner inbox, must return none and leave the checkpoint alone).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from tests.channels.support import Seeded, approved, outbox_row, referral
from tidewatch.channels import ChannelSet, PlatformChannel, SubmitStatus
from tidewatch.channels import outbox as worker
from tidewatch.channels.base import Delivery, Outcome, OutcomeKind, outcome_json
from tidewatch.referrals.service import PlatformDecision
from tidewatch.store import audit
from tidewatch.store import tables as t

REMOVED = PlatformDecision(
    decision_visibility=("DECISION_VISIBILITY_CONTENT_REMOVED",),
    decision_account="DECISION_ACCOUNT_SUSPENDED",
    decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
    category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    statement_id="sor-123",
)


@dataclass
class Harness:
    seeded: Seeded
    channel: PlatformChannel
    #: The copies of a delivery the platform holds, by idempotency key.
    received: Callable[[str], list[bytes]]
    #: Publish one outcome entry (the JSON shape) on the platform's side; None if the
    #: channel carries no answers.
    publish: Callable[[dict[str, Any]], None] | None
    #: Another recipient than the channel's, with seeded accounts.
    other_recipient: str


def check_channel_contract(h: Harness) -> None:
    channel, engine = h.channel, h.seeded.engine
    # 1. A name that is unique per recipient and fits the outbox's channel column.
    assert channel.name and len(channel.name) <= 40
    assert channel.recipient.value in channel.name
    channels = ChannelSet({channel.recipient: channel})
    assert channels.for_recipient(channel.recipient) is channel

    # 2. Delivered once, through the worker.
    sent = approved(h.seeded, channel.recipient.value)
    key = outbox_row(engine, sent.id).idempotency_key
    done = worker.deliver_one(engine, channels, "kit-worker")
    assert done is not None and done[1].status == "delivered", done
    row = outbox_row(engine, sent.id)
    assert (row.status, row.attempts, row.channel) == ("delivered", 1, channel.name)
    assert row.receipt, "an accepted delivery has a receipt"
    assert referral(engine, sent.id).status == "sent"
    copies = h.received(key)
    assert len(copies) == 1
    assert hashlib.sha256(copies[0]).hexdigest() == sent.package_sha256
    assert worker.deliver_one(engine, channels, "kit-worker") is None  # nothing else is due

    # 3. A repeat of the same delivery is accepted and not stored twice.
    assert sent.package is not None and sent.package_sha256 is not None
    again = Delivery(
        sent.public_id, channel.recipient, key, sent.package, sent.package_sha256, attempt=2
    )
    assert channel.submit(again).status is SubmitStatus.ACCEPTED
    assert len(h.received(key)) == 1

    # 4. Answers, once, from the stored checkpoint; only about this recipient's referrals.
    outcomes, checkpoint = channel.fetch_outcomes(None)
    assert all(isinstance(o, Outcome) for o in outcomes)
    if h.publish is None:
        assert (outcomes, checkpoint) == ([], None)
        assert worker.poll_outcomes(engine, channels)[channel.name].recorded == 0
        with engine.connect() as conn:
            assert worker.get_checkpoint(conn, channel.name) is None
    else:
        elsewhere = approved(h.seeded, h.other_recipient)
        h.publish(outcome_json(Outcome(sent.public_id, OutcomeKind.DECISION, decision=REMOVED)))
        h.publish(
            outcome_json(Outcome(elsewhere.public_id, OutcomeKind.DECISION, decision=REMOVED))
        )
        report = worker.poll_outcomes(engine, channels)[channel.name]
        assert (report.recorded, report.rejected) == (1, 1), report
        assert referral(engine, sent.id).status == "removed"
        assert referral(engine, elsewhere.id).status == "approved"
        with engine.connect() as conn:
            sources = (
                conn.execute(
                    select(t.platform_decisions.c.source).where(
                        t.platform_decisions.c.referral_id == sent.id
                    )
                )
                .scalars()
                .all()
            )
            assert sources == [channel.name]
            assert worker.get_checkpoint(conn, channel.name) is not None
        again_report = worker.poll_outcomes(engine, channels)[channel.name]
        assert (again_report.recorded, again_report.rejected) == (0, 0)
    with engine.connect() as conn:
        assert audit.verify(conn).ok
