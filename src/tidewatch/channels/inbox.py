"""The partner inbox: the platform pulls its referrals from the partner API.

Nothing travels at submit time. A referral becomes visible to the platform's partner keys
when its status is ``sent`` or later (``referrals.service.PARTNER_VISIBLE``), and the outbox
worker sets ``sent`` in the same transaction that records this channel's acceptance. So
submit is accepted at once, and a repeat is harmless: the partner API lists a referral once,
however often it was "delivered".

Answers come the other way through the same API: a liaison acknowledges, asks for more
information or records a decision there, directly in the database. ``fetch_outcomes``
therefore has nothing to add and returns no outcomes and the checkpoint it was given.
"""

from __future__ import annotations

from tidewatch.channels.base import Delivery, Outcome, PlatformChannel, SubmitResult
from tidewatch.model import Recipient


class PartnerInboxChannel(PlatformChannel):
    kind = "partner_inbox"
    timeout = 0.0

    def __init__(self, recipient: Recipient | str) -> None:
        self.recipient = Recipient(recipient)
        self.name = f"{self.kind}:{self.recipient.value}"

    def submit(self, delivery: Delivery) -> SubmitResult:
        if delivery.recipient is not self.recipient:
            return SubmitResult.permanent(
                f"{self.name} serves {self.recipient.value}, not {delivery.recipient.value}"
            )
        return SubmitResult.accepted(f"{self.name}/{delivery.referral_id}")

    def fetch_outcomes(self, checkpoint: str | None) -> tuple[list[Outcome], str | None]:
        return [], checkpoint
