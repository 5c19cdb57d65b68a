"""E-mail file export: one .eml per referral, written atomically, answers from dropped files."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tests.channels.channel_kit import REMOVED, Harness, check_channel_contract
from tests.channels.support import approved, seed
from tidewatch.channels import ChannelSet
from tidewatch.channels import outbox as worker
from tidewatch.channels.base import Delivery, Outcome, OutcomeKind, outcome_json
from tidewatch.channels.files import EmailFileChannel
from tidewatch.model import Recipient
from tidewatch.store import audit


def read_eml(path: Path) -> email.message.EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def attachment(message: email.message.EmailMessage) -> bytes:
    parts = [p for p in message.iter_attachments() if p.get_filename() == "referral.json"]
    assert len(parts) == 1
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def test_email_file_channel_passes_the_channel_contract(engine: Engine, tmp_path: Path) -> None:
    seeded = seed(engine, tmp_path)
    folder = tmp_path / "mail"
    channel = EmailFileChannel("telegram", folder=folder, to="abuse@telegram.example")
    counter = iter(range(1000))

    def received(key: str) -> list[bytes]:
        return [
            attachment(m)
            for m in map(read_eml, folder.glob("*.eml"))
            if m["X-Tidewatch-Idempotency-Key"] == key
        ]

    def publish(entry: dict[str, Any]) -> None:
        channel.outcomes_folder.mkdir(parents=True, exist_ok=True)
        name = f"2026-12-01-{next(counter):04d}.json"
        (channel.outcomes_folder / name).write_text(json.dumps(entry), "utf-8")

    check_channel_contract(Harness(seeded, channel, received, publish, other_recipient="meta"))
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "no temporary files left"


def delivery(key: str = "referral-abc-1", summary: str = "first") -> Delivery:
    package = {"referral_id": "abc", "tlp": "TLP:AMBER", "summary": summary, "items": [{"id": 1}]}
    body = json.dumps(package, sort_keys=True, separators=(",", ":")).encode()
    return Delivery("abc", Recipient.TELEGRAM, key, package, hashlib.sha256(body).hexdigest())


def test_the_message_carries_the_exact_package_and_says_how_to_check_it(tmp_path: Path) -> None:
    channel = EmailFileChannel("telegram", folder=tmp_path, to="abuse@telegram.example")
    sent = delivery()
    result = channel.submit(sent)
    message = read_eml(Path(result.receipt))
    assert message["To"] == "abuse@telegram.example"
    assert "abc" in message["Subject"] and "TLP:AMBER" in message["Subject"]
    assert attachment(message) == sent.body
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and sent.package_sha256 in body.get_content()


def test_a_resend_replaces_the_same_file_instead_of_adding_one(tmp_path: Path) -> None:
    channel = EmailFileChannel("telegram", folder=tmp_path)
    channel.submit(delivery(summary="first"))
    channel.submit(delivery(summary="second"))
    files = list(tmp_path.glob("*.eml"))
    assert [f.name for f in files] == ["referral-abc-1.eml"]
    assert json.loads(attachment(read_eml(files[0])))["summary"] == "second"


def test_a_folder_that_cannot_be_written_is_a_retryable_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    result = EmailFileChannel("telegram", folder=blocker / "mail").submit(delivery())
    assert result.status == "retryable" and "Error" in result.detail


def test_outcome_files_are_read_in_name_order_after_the_checkpoint(tmp_path: Path) -> None:
    channel = EmailFileChannel("telegram", folder=tmp_path)
    channel.outcomes_folder.mkdir()
    ack = {"referral_id": "r1", "type": "acknowledgement"}
    (channel.outcomes_folder / "b.json").write_text(json.dumps([ack, {**ack, "referral_id": "r2"}]))
    (channel.outcomes_folder / "a.json").write_text(json.dumps({**ack, "referral_id": "r0"}))
    (channel.outcomes_folder / ".c.json").write_text("{still being writ")
    outcomes, checkpoint = channel.fetch_outcomes(None)
    assert [o.referral_id for o in outcomes] == ["r0", "r1", "r2"]
    assert checkpoint == "b.json"
    assert channel.fetch_outcomes(checkpoint) == ([], "b.json")
    (channel.outcomes_folder / "c.json").write_text("not json")
    outcomes, checkpoint = channel.fetch_outcomes(checkpoint)
    assert [o.kind for o in outcomes] == [OutcomeKind.INVALID]
    assert "c.json" in outcomes[0].detail and checkpoint == "c.json"


def test_an_unreadable_answer_is_recorded_as_rejected_and_the_rest_are_kept(
    engine: Engine, tmp_path: Path
) -> None:
    seeded = seed(engine, tmp_path)
    channel = EmailFileChannel("telegram", folder=tmp_path / "mail")
    channels = ChannelSet({Recipient.TELEGRAM: channel})
    sent = approved(seeded, "telegram")
    assert worker.deliver_one(engine, channels, "w") is not None
    channel.outcomes_folder.mkdir()
    bad = {"referral_id": sent.public_id, "type": "decision", "decision": {"no_violation": "yes"}}
    good = outcome_json(Outcome(sent.public_id, OutcomeKind.DECISION, decision=REMOVED))
    (channel.outcomes_folder / "1.json").write_text(json.dumps([bad, good]))
    report = worker.poll_outcomes(engine, channels)[channel.name]
    assert (report.recorded, report.rejected) == (1, 1)
    with engine.connect() as conn:
        rejected = [e for e in audit.entries(conn) if e.action == "channel.outcome_rejected"]
        assert len(rejected) == 1
        assert "no_violation must be true or false" in rejected[0].after["problem"]
        assert audit.verify(conn).ok
