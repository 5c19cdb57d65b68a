"""An outbound webhook: the package is POSTed as JSON to the platform's URL, signed.

Every request carries

* ``Idempotency-Key``: the same on every attempt at one delivery; the receiver keeps the
  first and answers a repeat with success without storing it again;
* ``X-Tidewatch-Timestamp``: Unix seconds when the request was signed;
* ``X-Tidewatch-Signature``: ``sha256=`` + hex HMAC-SHA256(secret, timestamp + "." + body);
* ``X-Tidewatch-Package-Sha256``: the SHA-256 of the body, the hash frozen at approval.

Answers: 2xx accepted (the receipt is the JSON body's ``receipt``, else the ``Location``
header); 408, 425, 429, 5xx, timeouts and connection errors retryable (``Retry-After`` is
honoured); any other status (other 4xx, a redirect) permanent. Redirects are not followed:
a referral goes only to the URL that was configured.

Outcomes: ``GET <outcomes_url>?since=<checkpoint>`` (no ``since`` the first time), signed
the same way over timestamp + "." + the request path and query, answered with
``{"outcomes": [...], "checkpoint": "..."}`` (see docs/channels.md for an entry's shape).
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from tidewatch.channels.base import (
    ChannelError,
    Delivery,
    Outcome,
    PlatformChannel,
    SubmitResult,
    SubmitStatus,
    parse_outcome,
)
from tidewatch.model import Recipient

RETRYABLE_STATUSES = frozenset({408, 425, 429})
DEFAULT_TOLERANCE = 300.0


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(_key(secret), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str | None,
    body: bytes,
    header: str | None,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> bool:
    """For receivers: whether ``header`` is our signature of ``body`` at ``timestamp``, and
    the timestamp is within ``tolerance`` seconds of now (a captured request cannot be
    replayed later). The comparison takes the same time however much of it matches."""
    if not timestamp or not header:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), header.encode())


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def classify(status_code: int) -> SubmitStatus:
    if 200 <= status_code < 300:
        return SubmitStatus.ACCEPTED
    if status_code in RETRYABLE_STATUSES or status_code >= 500:
        return SubmitStatus.RETRYABLE
    return SubmitStatus.PERMANENT


class WebhookChannel(PlatformChannel):
    kind = "webhook"

    def __init__(
        self,
        recipient: Recipient | str,
        *,
        url: str,
        secret: str | bytes,
        outcomes_url: str | None = None,
        timeout: float = 10.0,
        name: str | None = None,
    ) -> None:
        self.recipient = Recipient(recipient)
        self.name = name or f"{self.kind}:{self.recipient.value}"
        self.url = url
        self.outcomes_url = outcomes_url
        self.timeout = timeout
        self._secret = _key(secret)
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _signed(self, signed_part: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        return {
            "X-Tidewatch-Timestamp": timestamp,
            "X-Tidewatch-Signature": sign(self._secret, timestamp, signed_part),
        }

    def submit(self, delivery: Delivery) -> SubmitResult:
        body = delivery.body
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": delivery.idempotency_key,
            "X-Tidewatch-Referral": delivery.referral_id,
            "X-Tidewatch-Package-Sha256": delivery.package_sha256,
            **self._signed(body),
        }
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as error:  # timeouts, refused, reset, DNS
            return SubmitResult.retryable(f"{type(error).__name__}: {error}")
        except httpx.HTTPError as error:  # an unusable URL: trying again will not help
            return SubmitResult.permanent(f"{type(error).__name__}: {error}")
        status = classify(response.status_code)
        if status is SubmitStatus.ACCEPTED:
            return SubmitResult.accepted(_receipt(response))
        detail = f"HTTP {response.status_code}: {response.text[:300]}"
        if status is SubmitStatus.RETRYABLE:
            return SubmitResult(status, detail=detail, retry_after=_retry_after(response))
        return SubmitResult.permanent(detail)

    def fetch_outcomes(self, checkpoint: str | None) -> tuple[list[Outcome], str | None]:
        if not self.outcomes_url:
            return [], checkpoint
        request = self.client.build_request(
            "GET", self.outcomes_url, params={"since": checkpoint} if checkpoint else None
        )
        request.headers.update(self._signed(request.url.raw_path))
        try:
            response = self.client.send(request)
        except httpx.HTTPError as error:
            raise ChannelError(f"{self.name}: outcomes not fetched: {error}") from None
        if response.status_code != 200:
            raise ChannelError(
                f"{self.name}: outcomes answered HTTP {response.status_code}: {response.text[:300]}"
            )
        try:
            document: Any = response.json()
        except ValueError:
            raise ChannelError(f"{self.name}: outcomes answer is not JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("outcomes"), list):
            raise ChannelError(f"{self.name}: outcomes answer has no 'outcomes' list")
        outcomes = [parse_outcome(entry) for entry in document["outcomes"]]
        new_checkpoint = document.get("checkpoint")
        if new_checkpoint is not None and not isinstance(new_checkpoint, str):
            raise ChannelError(f"{self.name}: outcomes 'checkpoint' must be a string")
        if outcomes and not new_checkpoint:
            # Without a checkpoint the same outcomes would come back on every poll.
            raise ChannelError(f"{self.name}: outcomes answer has outcomes but no 'checkpoint'")
        return outcomes, new_checkpoint or checkpoint


def _receipt(response: httpx.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("receipt"), str):
        return str(document["receipt"])[:500]
    return response.headers.get("Location", f"HTTP {response.status_code}")[:500]
