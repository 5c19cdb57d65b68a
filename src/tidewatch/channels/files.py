"""File export for recipients reached by e-mail: one ``.eml`` per referral in a folder that
a mail system (or a person) sends from.

Each message has a short plain-text body and the package attached as ``referral.json``,
byte for byte what was approved (its SHA-256 is in the body and a header). The file is
named by the idempotency key and written to a temporary file first, then renamed into
place, so a reader never sees half a message and a re-send replaces the same file instead
of adding a second one.

Answers are JSON files dropped into ``<folder>/outcomes/``: each holds one outcome entry or
a list of them (the shape is in docs/channels.md). They are read in name order after the
checkpoint (the last file name read), so name them so that they sort in arrival order,
e.g. ``2026-12-01T10-00-00-meta-1.json``. Names starting with "." are skipped (files
still being written).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from tidewatch.channels.base import (
    ChannelError,
    Delivery,
    Outcome,
    PlatformChannel,
    SubmitResult,
    parse_outcome,
)
from tidewatch.model import Recipient


def _safe_name(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key).lstrip(".")


class EmailFileChannel(PlatformChannel):
    kind = "email_file"
    timeout = 5.0

    def __init__(
        self,
        recipient: Recipient | str,
        *,
        folder: Path | str,
        to: str = "",
        sender: str = "Tidewatch referral unit <referrals@tidewatch.invalid>",
        name: str | None = None,
    ) -> None:
        self.recipient = Recipient(recipient)
        self.name = name or f"{self.kind}:{self.recipient.value}"
        self.folder = Path(folder)
        self.to = to
        self.sender = sender

    @property
    def outcomes_folder(self) -> Path:
        return self.folder / "outcomes"

    def path_for(self, idempotency_key: str) -> Path:
        return self.folder / f"{_safe_name(idempotency_key)}.eml"

    def message(self, delivery: Delivery) -> EmailMessage:
        package = delivery.package
        message = EmailMessage()
        message["From"] = self.sender
        if self.to:
            message["To"] = self.to
        message["Subject"] = (
            f"[{package.get('tlp', 'TLP:AMBER')}] Referral {delivery.referral_id} "
            f"for {self.recipient.value}"
        )
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(idstring=_safe_name(delivery.idempotency_key))
        message["X-Tidewatch-Referral"] = delivery.referral_id
        message["X-Tidewatch-Idempotency-Key"] = delivery.idempotency_key
        message["X-Tidewatch-Package-Sha256"] = delivery.package_sha256
        items = package.get("items") or []
        message.set_content(
            f"Referral {delivery.referral_id} from {package.get('from', 'Tidewatch')}\n"
            f"Marking: {package.get('tlp', '')}\n"
            f"Items: {len(items)} accounts and posts\n"
            f"Please respond by: {package.get('respond_by', '')}\n\n"
            "The attached referral.json is the complete referral as approved.\n"
            f"Its SHA-256: {delivery.package_sha256}\n"
            f"Please quote {delivery.referral_id} in any reply.\n"
        )
        message.add_attachment(
            delivery.body, maintype="application", subtype="json", filename="referral.json"
        )
        return message

    def submit(self, delivery: Delivery) -> SubmitResult:
        target = self.path_for(delivery.idempotency_key)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            data = self.message(delivery).as_bytes()
            descriptor, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(descriptor, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            # A full disk or a missing mount may pass; the worker retries with backoff.
            return SubmitResult.retryable(f"{type(error).__name__}: {error}")
        return SubmitResult.accepted(str(target))

    def fetch_outcomes(self, checkpoint: str | None) -> tuple[list[Outcome], str | None]:
        if not self.outcomes_folder.is_dir():
            return [], checkpoint
        try:
            names = sorted(
                p.name
                for p in self.outcomes_folder.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix == ".json"
            )
        except OSError as error:
            raise ChannelError(
                f"{self.name}: cannot list {self.outcomes_folder}: {error}"
            ) from None
        outcomes: list[Outcome] = []
        last = checkpoint
        for name in names:
            if checkpoint is not None and name <= checkpoint:
                continue
            try:
                document = json.loads((self.outcomes_folder / name).read_text("utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as error:
                outcomes.append(Outcome.invalid("", f"{name}: {error}"))
            else:
                for entry in document if isinstance(document, list) else [document]:
                    outcome = parse_outcome(entry)
                    if outcome.detail:
                        outcome = Outcome.invalid(outcome.referral_id, f"{name}: {outcome.detail}")
                    outcomes.append(outcome)
            last = name
        return outcomes, last
