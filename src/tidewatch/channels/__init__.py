"""Channels to platforms: one interface (:class:`PlatformChannel`), the partner inbox, an
outbound webhook and e-mail file export, configured per recipient, fed by the outbox worker."""

from tidewatch.channels.base import (
    ChannelError,
    Delivery,
    Outcome,
    OutcomeKind,
    PlatformChannel,
    SubmitResult,
    SubmitStatus,
)
from tidewatch.channels.config import ChannelSet, load_channels

__all__ = [
    "ChannelError",
    "ChannelSet",
    "Delivery",
    "Outcome",
    "OutcomeKind",
    "PlatformChannel",
    "SubmitResult",
    "SubmitStatus",
    "load_channels",
]
