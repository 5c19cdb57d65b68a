"""Which recipient uses which channel: a YAML file with no secrets in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.channels.support import write_channels
from tidewatch.channels.config import load_channels, parse_channels
from tidewatch.channels.files import EmailFileChannel
from tidewatch.channels.inbox import PartnerInboxChannel
from tidewatch.channels.webhook import WebhookChannel
from tidewatch.errors import ConfigError
from tidewatch.model import Recipient

WEBHOOK = {"channel": "webhook", "url": "https://platform.example/in", "secret_env": "META_SECRET"}


def test_without_a_file_every_recipient_uses_the_partner_inbox() -> None:
    channels = load_channels(env={})
    assert all(isinstance(channels.for_recipient(r), PartnerInboxChannel) for r in Recipient)
    assert len({c.name for c in channels}) == len(Recipient)


def test_the_file_named_by_the_environment_sets_channels_and_secrets_come_from_it(
    tmp_path: Path,
) -> None:
    path = write_channels(
        tmp_path / "channels.yaml",
        {
            "recipients": {
                "meta": WEBHOOK | {"timeout": 3},
                "telegram": {"channel": "email_file", "folder": str(tmp_path / "tg")},
            }
        },
    )
    channels = load_channels(env={"TIDEWATCH_CHANNELS": str(path), "META_SECRET": "abc"})
    meta = channels.for_recipient("meta")
    assert isinstance(meta, WebhookChannel) and meta.timeout == 3.0
    assert meta._secret == b"abc"
    assert isinstance(channels.for_recipient("telegram"), EmailFileChannel)
    assert isinstance(channels.for_recipient("x"), PartnerInboxChannel)


@pytest.mark.parametrize(
    ("recipients", "env", "message"),
    [
        ({"meta": WEBHOOK | {"secret": "abc"}}, {}, "secrets are never written in the file"),
        ({"meta": WEBHOOK}, {}, "META_SECRET is not set"),
        ({"meta": WEBHOOK | {"retries": 3}}, {"META_SECRET": "s"}, "unknown settings retries"),
        ({"myspace": {"channel": "webhook"}}, {}, "'myspace' is not a recipient"),
        ({"x": {"channel": "fax"}}, {}, "channel 'fax' is not one of"),
        ({"x": WEBHOOK | {"url": "ftp://x"}}, {"META_SECRET": "s"}, "x.url must be an http"),
        ({"x": {"channel": "email_file"}}, {}, "recipients.x.folder is required"),
        ({"x": WEBHOOK | {"timeout": -1}}, {"META_SECRET": "s"}, "timeout must be a positive"),
    ],
)
def test_a_bad_setting_stops_start_up_and_names_the_field(
    recipients: dict[str, dict[str, object]], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_channels({"recipients": recipients}, env=env)


def test_a_missing_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="channels file"):
        load_channels(tmp_path / "absent.yaml", env={})
    broken = tmp_path / "broken.yaml"
    broken.write_text("recipients: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_channels(broken, env={})
