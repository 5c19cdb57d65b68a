"""Which recipient is reached through which channel, from a YAML file named by
``TIDEWATCH_CHANNELS``. A recipient the file does not name (and every recipient when there is
no file) uses the partner inbox. Secrets are never in the file: it names the environment
variable that holds each one. Example::

    recipients:
      meta:
        channel: webhook
        url: https://referrals.example.com/tidewatch
        outcomes_url: https://referrals.example.com/tidewatch/outcomes
        secret_env: TIDEWATCH_META_WEBHOOK_SECRET
        timeout: 10
      telegram:
        channel: email_file
        folder: /var/lib/tidewatch/mail/telegram
        to: abuse@telegram.org

The file is checked as a whole when it is loaded: an unknown recipient, channel or setting,
a missing secret or an inline secret stops start-up with a message naming it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tidewatch.channels.base import PlatformChannel
from tidewatch.channels.inbox import PartnerInboxChannel
from tidewatch.errors import ConfigError
from tidewatch.model import Recipient

ENV_VAR = "TIDEWATCH_CHANNELS"

Builder = Callable[[Recipient, "Settings"], PlatformChannel]


@dataclass
class Settings:
    """One recipient's settings, read field by field so every problem names its field."""

    where: str
    values: dict[str, Any]
    env: Mapping[str, str]

    def text(self, key: str, default: str | None = None) -> str:
        value = self.values.pop(key, default)
        if value is None:
            raise ConfigError(f"{self.where}.{key} is required")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.where}.{key} must be a non-empty string")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if key in self.values else None

    def number(self, key: str, default: float) -> float:
        value = self.values.pop(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{self.where}.{key} must be a positive number of seconds")
        return float(value)

    def secret(self, key: str = "secret_env") -> str:
        variable = self.text(key)
        secret = self.env.get(variable, "")
        if not secret:
            raise ConfigError(f"{self.where}.{key}: environment variable {variable} is not set")
        return secret

    def done(self) -> None:
        if self.values:
            raise ConfigError(f"{self.where}: unknown settings {', '.join(sorted(self.values))}")


def _inbox(recipient: Recipient, settings: Settings) -> PlatformChannel:
    return PartnerInboxChannel(recipient)


def _webhook(recipient: Recipient, settings: Settings) -> PlatformChannel:
    # Imported here: httpx is only needed where a webhook is configured.
    from tidewatch.channels.webhook import WebhookChannel

    url = settings.text("url")
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"{settings.where}.url must be an http(s) URL, not {url!r}")
    return WebhookChannel(
        recipient,
        url=url,
        secret=settings.secret(),
        outcomes_url=settings.optional_text("outcomes_url"),
        timeout=settings.number("timeout", 10.0),
    )


def _email_file(recipient: Recipient, settings: Settings) -> PlatformChannel:
    from tidewatch.channels.files import EmailFileChannel

    sender = settings.optional_text("from")
    return EmailFileChannel(
        recipient,
        folder=Path(settings.text("folder")).expanduser(),
        to=settings.optional_text("to") or "",
        **({"sender": sender} if sender else {}),
    )


CHANNEL_TYPES: dict[str, Builder] = {}


def register_channel_type(kind: str, builder: Builder) -> None:
    """Add a kind of channel; a name can be registered once."""
    if kind in CHANNEL_TYPES:
        raise ConfigError(f"channel type {kind!r} is registered twice")
    CHANNEL_TYPES[kind] = builder


register_channel_type("partner_inbox", _inbox)
register_channel_type("webhook", _webhook)
register_channel_type("email_file", _email_file)


class ChannelSet:
    """One channel per recipient."""

    def __init__(self, channels: Mapping[Recipient, PlatformChannel] | None = None) -> None:
        self._by_recipient = {r: PartnerInboxChannel(r) for r in Recipient} | dict(channels or {})
        names = [c.name for c in self._by_recipient.values()]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ConfigError(f"channel names must be unique: {', '.join(duplicated)}")
        for recipient, channel in self._by_recipient.items():
            if channel.recipient is not recipient:
                raise ConfigError(f"channel {channel.name} is set up for {recipient.value}")
            if len(channel.name) > 40:
                raise ConfigError(f"channel name {channel.name!r} is longer than 40 characters")

    def for_recipient(self, recipient: Recipient | str) -> PlatformChannel:
        return self._by_recipient[Recipient(recipient)]

    def __iter__(self) -> Iterator[PlatformChannel]:
        return iter(self._by_recipient.values())

    def close(self) -> None:
        for channel in self:
            channel.close()


def parse_channels(document: Any, *, env: Mapping[str, str], where: str = "channels") -> ChannelSet:
    """``where`` (the file) starts every error message, followed by the setting's path."""
    if document is None:
        return ChannelSet()
    if not isinstance(document, dict) or set(document) - {"recipients"}:
        raise ConfigError(f"{where}: expected a mapping with one key, 'recipients'")
    recipients = document.get("recipients") or {}
    if not isinstance(recipients, dict):
        raise ConfigError(f"{where}: recipients must be a mapping of recipient to settings")
    channels: dict[Recipient, PlatformChannel] = {}
    for key, values in recipients.items():
        try:
            recipient = Recipient(str(key))
        except ValueError:
            known = ", ".join(r.value for r in Recipient)
            raise ConfigError(
                f"{where}: recipients: {key!r} is not a recipient ({known})"
            ) from None
        here = f"{where}: recipients.{recipient.value}"
        if not isinstance(values, dict):
            raise ConfigError(f"{here} must be a mapping of settings")
        if "secret" in values:
            raise ConfigError(
                f"{here}.secret: secrets are never written in the file; "
                "name the environment variable that holds it with secret_env"
            )
        settings = Settings(here, dict(values), env)
        kind = settings.text("channel", "partner_inbox")
        if kind not in CHANNEL_TYPES:
            raise ConfigError(
                f"{here}.channel {kind!r} is not one of {', '.join(sorted(CHANNEL_TYPES))}"
            )
        channels[recipient] = CHANNEL_TYPES[kind](recipient, settings)
        settings.done()
    return ChannelSet(channels)


def load_channels(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None
) -> ChannelSet:
    """The configured channels: ``path``, else the file named by ``TIDEWATCH_CHANNELS``, else
    the partner inbox for everyone."""
    env = os.environ if env is None else env
    path = path or env.get(ENV_VAR) or None
    if path is None:
        return ChannelSet()
    try:
        text = Path(path).read_text("utf-8")
    except OSError as error:
        raise ConfigError(f"channels file {path}: {error.strerror or error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"channels file {path} is not valid YAML: {error}") from None
    return parse_channels(document, env=env, where=str(path))
