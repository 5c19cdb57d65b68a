"""The extra artifact producers a capture can run, as the CLI offers them."""

from __future__ import annotations

from collections.abc import Sequence

from tidewatch.evidence.capture import Producer
from tidewatch.evidence.live import FetchPolicy, live_producer
from tidewatch.evidence.media_fetch import media_producer
from tidewatch.evidence.screenshot import screenshot_producer


def standard_producers(
    screenshots: bool,
    live: bool,
    media: bool,
    allow_hosts: Sequence[str] = (),
    *,
    timeout_s: float = 20.0,
    max_bytes: int = 25 * 1024 * 1024,
    workers: int = 4,
) -> list[Producer]:
    """Producers for ``tidewatch evidence capture CASE [--screenshots] [--live] [--media]
    [--allow-host HOST]``: PNG screenshots of the renderings, a WARC of every account's and
    post's URL, and the posts' media files. ``allow_hosts`` names hosts the fetcher may reach
    even at internal addresses; every fetch is bounded by ``timeout_s`` and ``max_bytes``."""
    policy = FetchPolicy.of(allow_hosts, timeout_s=timeout_s, max_bytes=max_bytes)
    made: list[Producer] = []
    if screenshots:
        made.append(screenshot_producer())
    if live:
        made.append(live_producer(policy, workers=workers))
    if media:
        made.append(media_producer(policy, workers=workers))
    return made
