"""The partner inbox: delivery is making the referral visible to the platform's partner API."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tests.channels.channel_kit import Harness, check_channel_contract
from tests.channels.support import seed
from tidewatch.channels.base import canonical_json
from tidewatch.channels.inbox import PartnerInboxChannel
from tidewatch.referrals import service


def test_partner_inbox_passes_the_channel_contract(engine: Engine, tmp_path: Path) -> None:
    seeded = seed(engine, tmp_path)

    def visible(key: str) -> list[bytes]:
        # What the partner API lists for the platform: referrals sent or later.
        with engine.connect() as conn:
            listed = service.list_referrals(conn, platform="meta", direction="outbound")
        return [
            canonical_json(r.package)
            for r in listed
            if r.status in service.PARTNER_VISIBLE
            and r.package
            and key.startswith(f"referral-{r.public_id}-")
        ]

    # Before delivery the platform sees nothing: approved is not a partner-visible status.
    assert "approved" not in service.PARTNER_VISIBLE
    check_channel_contract(
        Harness(seeded, PartnerInboxChannel("meta"), visible, None, other_recipient="x")
    )
