"""The outbox worker: delivers approved referrals through their recipient's channel, and
collects the platforms' answers.

Approval puts a ``pending`` row in the ``outbox`` table in the same transaction that freezes
the package, so an approved referral cannot be lost. The worker then

1. **claims** one due row with a lease: a conditional UPDATE (still pending, due, and not
   leased by a live worker) that sets ``locked_by``, ``locked_until`` and ``attempts + 1``,
   and commits;
2. **submits** it through the channel *outside* any transaction (a slow platform holds no
   database lock);
3. **records** the result in one transaction: accepted -> the row is ``delivered`` with the
   receipt and the referral is ``sent``; retryable -> due again after an exponential, capped,
   jittered backoff (``failed`` after ``max_attempts``); permanent -> ``failed``. A failed
   row moves the referral to ``delivery_failed``, from which it can be resubmitted.

A worker killed between 1 and 3 leaves the row pending; once its lease lapses another worker
claims it and submits again with the same idempotency key, and the receiver drops the
second copy. So a referral is delivered at least once by us and stored once by them. The
lease must outlast a submit (it is checked against the channels' timeouts).

Every step is audited. Transactions take row locks in one order (outbox row, then referral,
then the audit head) so that they cannot deadlock with the referral service.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update

from tidewatch.channels.base import (
    ChannelError,
    Delivery,
    Outcome,
    OutcomeKind,
    PlatformChannel,
    SubmitResult,
    SubmitStatus,
)
from tidewatch.channels.config import ChannelSet
from tidewatch.errors import ConfigError, TidewatchError
from tidewatch.model import Recipient
from tidewatch.referrals import service
from tidewatch.store import audit
from tidewatch.store import tables as t
from tidewatch.store.users import Actor, Role

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=30)
DEFAULT_MAX_ATTEMPTS = 8
o = t.outbox


class Backoff:
    """Delay before retry ``n`` (1-based): ``base * 2**(n-1)``, capped, then spread by up to
    +-``jitter`` so that many failed deliveries do not all retry at the same moment.
    Deterministic for a given ``seed``."""

    def __init__(
        self,
        base: float = 30.0,
        cap: float = 3600.0,
        jitter: float = 0.2,
        seed: int | None = None,
    ) -> None:
        if base <= 0 or cap < base or not 0 <= jitter < 1:
            raise ConfigError("backoff needs 0 < base <= cap and 0 <= jitter < 1")
        self.base, self.cap, self.jitter = base, cap, jitter
        self._random = random.Random(seed)

    def delay(self, attempt: int) -> float:
        raw = min(self.cap, self.base * 2.0 ** max(0, attempt - 1))
        return min(self.cap, raw * (1.0 + self.jitter * (2.0 * self._random.random() - 1.0)))


def worker_name() -> str:
    return f"outbox:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:80]


@dataclass(frozen=True)
class Claimed:
    outbox_id: int
    referral_id: int
    idempotency_key: str
    attempts: int
    channel: PlatformChannel
    delivery: Delivery | None  # None: the referral has no frozen package (never sendable)


@dataclass(frozen=True)
class DeliveryResult:
    idempotency_key: str
    referral_id: str
    channel: str
    attempt: int
    status: str  # delivered | retrying | failed | superseded (another worker finished it)
    detail: str = ""
    next_attempt_at: datetime | None = None


def _due(now: datetime) -> Any:
    return and_(
        o.c.status == "pending",
        o.c.next_attempt_at <= now,
        or_(o.c.locked_until.is_(None), o.c.locked_until < now),
    )


def claim(
    engine: Engine,
    channels: ChannelSet,
    worker: str,
    *,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
    exclude: Collection[int] = (),
) -> Claimed | None:
    """Lease the most overdue pending row, or return None when nothing is due."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        query = select(o.c.id).where(_due(now)).order_by(o.c.next_attempt_at, o.c.id).limit(10)
        if exclude:
            query = query.where(o.c.id.not_in(list(exclude)))
        for outbox_id in conn.execute(query).scalars().all():
            # The same conditions again, in the UPDATE: of two workers that picked this
            # row, only one changes it.
            taken = conn.execute(
                update(o)
                .where(o.c.id == outbox_id, _due(now))
                .values(
                    locked_by=worker,
                    locked_until=now + lease,
                    attempts=o.c.attempts + 1,
                )
            ).rowcount
            if taken:
                return _claimed(conn, channels, worker, outbox_id, now + lease)
    return None


def _claimed(
    conn: Connection, channels: ChannelSet, worker: str, outbox_id: int, until: datetime
) -> Claimed:
    row = conn.execute(select(o).where(o.c.id == outbox_id)).one()
    referral = conn.execute(select(t.referrals).where(t.referrals.c.id == row.referral_id)).one()
    recipient = Recipient(referral.platform)
    channel = channels.for_recipient(recipient)
    if row.channel != channel.name:
        # The configuration decides at send time; the row records where it actually went.
        conn.execute(update(o).where(o.c.id == outbox_id).values(channel=channel.name))
    audit.record(
        conn,
        actor=worker,
        action="outbox.claim",
        entity="outbox",
        entity_id=row.idempotency_key,
        after={"attempt": row.attempts, "channel": channel.name, "locked_until": until},
    )
    delivery = None
    if referral.package is not None and referral.package_sha256:
        delivery = Delivery(
            referral_id=referral.public_id,
            recipient=recipient,
            idempotency_key=row.idempotency_key,
            package=referral.package,
            package_sha256=referral.package_sha256,
            attempt=row.attempts,
        )
    return Claimed(outbox_id, referral.id, row.idempotency_key, row.attempts, channel, delivery)


def submit(claimed: Claimed) -> SubmitResult:
    """The channel call, guarded: a bug in an adapter is a retryable error, not a dead worker."""
    if claimed.delivery is None:
        return SubmitResult.permanent("the referral has no approved package")
    if not claimed.delivery.intact():
        # Evidence of tampering (or a bug): what would leave is not what was approved.
        return SubmitResult.permanent("the package no longer matches its SHA-256 from approval")
    try:
        return claimed.channel.submit(claimed.delivery)
    except Exception as error:
        log.exception("channel %s raised on %s", claimed.channel.name, claimed.idempotency_key)
        return SubmitResult.retryable(f"{claimed.channel.name} raised {error!r}")


def record_result(
    engine: Engine,
    claimed: Claimed,
    result: SubmitResult,
    worker: str,
    *,
    backoff: Backoff,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    now: datetime | None = None,
) -> DeliveryResult:
    now = now or datetime.now(UTC)
    public_id = claimed.delivery.referral_id if claimed.delivery else str(claimed.referral_id)

    def outcome(status: str, detail: str = "", at: datetime | None = None) -> DeliveryResult:
        return DeliveryResult(
            claimed.idempotency_key,
            public_id,
            claimed.channel.name,
            claimed.attempts,
            status,
            detail,
            at,
        )

    with engine.begin() as conn:
        if result.status is SubmitStatus.ACCEPTED:
            # Delivery is a fact whoever holds the lease: if this worker's lease lapsed and
            # another worker is re-sending, that one finds the row delivered and stops.
            done = conn.execute(
                update(o)
                .where(o.c.id == claimed.outbox_id, o.c.status == "pending")
                .values(
                    status="delivered",
                    receipt=result.receipt,
                    delivered_at=now,
                    locked_by=None,
                    locked_until=None,
                    last_error="",
                )
            ).rowcount
            if not done:
                return outcome("superseded", "another worker had already recorded it")
            service.mark_sent(
                conn, claimed.referral_id, actor=worker, receipt=result.receipt, now=now
            )
            conn.execute(
                update(t.referrals)
                .where(t.referrals.c.id == claimed.referral_id)
                .values(channel=claimed.channel.name)
            )
            _audit(conn, worker, "outbox.delivered", claimed, receipt=result.receipt)
            return outcome("delivered", result.receipt)

        give_up = result.status is SubmitStatus.PERMANENT or claimed.attempts >= max_attempts
        mine = and_(o.c.id == claimed.outbox_id, o.c.status == "pending", o.c.locked_by == worker)
        if give_up:
            done = conn.execute(
                update(o)
                .where(mine)
                .values(status="failed", last_error=result.detail[:2000], locked_until=None)
            ).rowcount
            if not done:
                return outcome("superseded", result.detail)
            referral = service.get(conn, claimed.referral_id)
            if referral.status == "approved":
                service.mark_delivery_failed(
                    conn, claimed.referral_id, actor=worker, error=result.detail
                )
            _audit(conn, worker, "outbox.failed", claimed, error=result.detail[:500])
            return outcome("failed", result.detail)

        delay = max(backoff.delay(claimed.attempts), result.retry_after or 0.0)
        next_at = now + timedelta(seconds=delay)
        done = conn.execute(
            update(o)
            .where(mine)
            .values(
                next_attempt_at=next_at,
                last_error=result.detail[:2000],
                locked_by=None,
                locked_until=None,
            )
        ).rowcount
        if not done:
            return outcome("superseded", result.detail)
        _audit(
            conn,
            worker,
            "outbox.retry",
            claimed,
            error=result.detail[:500],
            next_attempt_at=next_at,
        )
        return outcome("retrying", result.detail, next_at)


def _audit(conn: Connection, worker: str, action: str, claimed: Claimed, **after: Any) -> None:
    audit.record(
        conn,
        actor=worker,
        action=action,
        entity="outbox",
        entity_id=claimed.idempotency_key,
        after={"attempt": claimed.attempts, "channel": claimed.channel.name, **after},
    )


def deliver_one(
    engine: Engine,
    channels: ChannelSet,
    worker: str,
    *,
    lease: timedelta = DEFAULT_LEASE,
    backoff: Backoff | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    exclude: Collection[int] = (),
    now: datetime | None = None,
) -> tuple[int, DeliveryResult] | None:
    """Claim, submit and record one due delivery; None when nothing is due."""
    claimed = claim(engine, channels, worker, lease=lease, exclude=exclude, now=now)
    if claimed is None:
        return None
    result = submit(claimed)
    return claimed.outbox_id, record_result(
        engine,
        claimed,
        result,
        worker,
        backoff=backoff or Backoff(),
        max_attempts=max_attempts,
        now=now,
    )


# --- answers from the platforms ---------------------------------------------------------------


@dataclass
class PollReport:
    recorded: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


class _CheckpointMoved(Exception):
    """Another worker recorded this batch first."""


def get_checkpoint(conn: Connection, name: str) -> str | None:
    return conn.execute(
        select(t.channel_checkpoints.c.checkpoint).where(t.channel_checkpoints.c.channel == name)
    ).scalar()


def _advance(
    conn: Connection, name: str, old: str | None, new: str | None, now: datetime, actor: str
) -> None:
    """Move the checkpoint from ``old`` to ``new``, only if it is still ``old``: two workers
    polling the same channel cannot both record the same outcomes."""
    if new == old:
        return
    table = t.channel_checkpoints
    if old is None:
        exists = conn.execute(select(table.c.channel).where(table.c.channel == name)).first()
        if exists:
            raise _CheckpointMoved
        conn.execute(insert(table).values(channel=name, checkpoint=new, updated_at=now))
    else:
        moved = conn.execute(
            update(table)
            .where(table.c.channel == name, table.c.checkpoint == old)
            .values(checkpoint=new, updated_at=now)
        ).rowcount
        if not moved:
            raise _CheckpointMoved
    audit.record(
        conn,
        actor=actor,
        action="channel.checkpoint",
        entity="channel",
        entity_id=name,
        before={"checkpoint": old},
        after={"checkpoint": new},
        at=now,
    )


def poll_outcomes(
    engine: Engine, channels: ChannelSet, *, actor: str = "outbox"
) -> dict[str, PollReport]:
    """Fetch each channel's answers since its stored checkpoint and record them; the new
    checkpoint commits with them, so an answer is recorded once even if the worker dies."""
    reports: dict[str, PollReport] = {}
    for channel in channels:
        report = reports.setdefault(channel.name, PollReport())
        with engine.connect() as conn:
            old = get_checkpoint(conn, channel.name)
        try:
            outcomes, new = channel.fetch_outcomes(old)
        except ChannelError as error:
            log.warning("%s", error)
            report.errors.append(str(error))
            continue
        except Exception as error:
            # A bug in one adapter must not stop deliveries or the other channels' answers.
            log.exception("%s: fetch_outcomes raised", channel.name)
            report.errors.append(f"{channel.name}: fetch_outcomes raised {error!r}")
            continue
        if not outcomes and new == old:
            continue
        now = datetime.now(UTC)
        try:
            with engine.begin() as conn:
                _advance(conn, channel.name, old, new, now, actor)
                for item in outcomes:
                    problem = apply_outcome(conn, channel, item, actor=actor)
                    if problem is None:
                        report.recorded += 1
                    else:
                        report.rejected += 1
                        audit.record(
                            conn,
                            actor=actor,
                            action="channel.outcome_rejected",
                            entity="channel",
                            entity_id=channel.name,
                            after={"referral_id": item.referral_id, "problem": problem[:500]},
                        )
        except _CheckpointMoved:
            log.info("%s: another worker recorded these outcomes", channel.name)
        except (TidewatchError, ValueError) as error:
            # Nothing of the batch was kept and the checkpoint did not move: the next poll
            # fetches it again (a referral that changed state meanwhile is then refused).
            log.warning("%s: outcomes not recorded: %s", channel.name, error)
            report.recorded = report.rejected = 0
            report.errors.append(f"outcomes not recorded: {error}")
    return reports


def apply_outcome(
    conn: Connection, channel: PlatformChannel, item: Outcome, *, actor: str
) -> str | None:
    """Record one answer; returns why it was not recorded, or None. Everything that could
    refuse it is checked before anything is written, so one bad answer does not undo the
    rest of its batch."""
    if item.kind is OutcomeKind.INVALID:
        return item.detail
    row = conn.execute(
        select(t.referrals.c.id, t.referrals.c.platform, t.referrals.c.direction).where(
            t.referrals.c.public_id == item.referral_id
        )
    ).first()
    # A channel speaks for one recipient: it cannot touch another platform's referrals.
    if row is None or row.platform != channel.recipient.value or row.direction != "outbound":
        return f"no referral {item.referral_id!r} was sent to {channel.recipient.value}"
    referral = service.get(conn, row.id)
    if item.kind is OutcomeKind.DECISION:
        assert item.decision is not None
        try:
            item.decision.outcome()
        except ValueError as error:
            return str(error)
        known = {i.id for i in referral.items}
        if set(item.decision.item_ids) - known:
            return f"referral {referral.public_id} has no items {sorted(set(item.decision.item_ids) - known)}"
        if referral.status not in (*service.DECIDABLE, "approved"):
            return f"referral {referral.public_id} is {referral.status}; it cannot be decided now"
    referral = _delivered(conn, referral, actor)
    author = f"{channel.name}:{item.author}" if item.author else channel.name
    if item.kind is OutcomeKind.DECISION:
        assert item.decision is not None
        service.record_decision(
            conn, referral, item.decision, actor=author[:80], source=channel.name
        )
    elif item.kind is OutcomeKind.MESSAGE:
        # A request for information on a referral that is not waiting for an answer is kept
        # as a plain message: the text is never dropped.
        asks = item.information_request and referral.status in ("sent", "acknowledged")
        service.post_message(
            conn,
            referral,
            sender="platform",
            author=author[:80],
            body=item.body,
            information_request=asks,
        )
    else:
        liaison = Actor(author[:80], Role.LIAISON, channel.recipient.value)
        service.acknowledge(conn, referral, liaison)
    return None


def _delivered(conn: Connection, referral: service.Referral, actor: str) -> service.Referral:
    """An answer is proof of delivery: a referral still ``approved`` (its worker died after
    the platform took it) is marked sent before the answer is recorded."""
    if referral.status != "approved":
        return referral
    service.mark_sent(conn, referral.id, actor=actor)
    return service.get(conn, referral.id)


# --- the loop ---------------------------------------------------------------------------------


@dataclass
class WorkerReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    superseded: int = 0
    outcomes: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, result: DeliveryResult) -> None:
        setattr(self, result.status, getattr(self, result.status) + 1)


def run_worker(
    engine: Engine,
    channels: ChannelSet,
    *,
    once: bool = False,
    poll: float = 1.0,
    lease: timedelta | float = DEFAULT_LEASE,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: Backoff | None = None,
    outcomes_every: float = 60.0,
    stop: threading.Event | None = None,
    on_result: Callable[[DeliveryResult], None] | None = None,
    worker: str | None = None,
) -> WorkerReport:
    """Deliver what is due and poll for answers, every ``poll`` seconds until ``stop`` is
    set; with ``once``, deliver everything due now (each row at most once), poll once, and
    return."""
    lease = lease if isinstance(lease, timedelta) else timedelta(seconds=lease)
    slowest = max(channel.timeout for channel in channels)
    if lease.total_seconds() <= slowest:
        raise ConfigError(
            f"the lease ({lease.total_seconds():g} s) must be longer than the slowest channel's "
            f"timeout ({slowest:g} s), or a slow send would be taken over while in flight"
        )
    worker = worker or worker_name()
    backoff = backoff or Backoff()
    stop = stop or threading.Event()
    report = WorkerReport()
    next_poll = 0.0
    clock = datetime.now
    while not stop.is_set():
        handled: set[int] = set()
        while not stop.is_set():
            done = deliver_one(
                engine,
                channels,
                worker,
                lease=lease,
                backoff=backoff,
                max_attempts=max_attempts,
                exclude=handled if once else (),
            )
            if done is None:
                break
            handled.add(done[0])
            report.add(done[1])
            if on_result:
                on_result(done[1])
        now = clock(UTC).timestamp()
        if now >= next_poll:
            for name, polled in poll_outcomes(engine, channels, actor=worker).items():
                report.outcomes += polled.recorded
                report.rejected += polled.rejected
                report.errors += [f"{name}: {e}" for e in polled.errors]
            next_poll = now + outcomes_every
        if once:
            break
        stop.wait(poll)
    return report


@dataclass(frozen=True)
class OutboxStatus:
    counts: dict[str, int]
    failed: list[dict[str, Any]]
    retrying: list[dict[str, Any]]


def outbox_status(conn: Connection, *, limit: int = 50) -> OutboxStatus:
    counts = {
        status: count
        for status, count in conn.execute(
            select(o.c.status, func.count()).group_by(o.c.status).order_by(o.c.status)
        )
    }

    def rows(*conditions: Any) -> list[dict[str, Any]]:
        query = (
            select(
                o.c.idempotency_key,
                t.referrals.c.public_id.label("referral"),
                o.c.channel,
                o.c.attempts,
                o.c.next_attempt_at,
                o.c.last_error,
            )
            .join(t.referrals, t.referrals.c.id == o.c.referral_id)
            .where(*conditions)
            .order_by(o.c.id)
            .limit(limit)
        )
        return [dict(row._mapping) for row in conn.execute(query)]

    return OutboxStatus(
        counts,
        rows(o.c.status == "failed"),
        rows(o.c.status == "pending", o.c.last_error != ""),
    )
