"""The export bundle for prosecutors, and its verifier.

One zip file:

    README.txt            how to check the bundle, in plain words
    manifest.json         the sealed manifest (the exact bytes that were signed)
    manifest.sig          its Ed25519 signature (hex)
    unit_public_key.pem   the unit's public key (compare its fingerprint with the published one)
    timestamps/<n>.tsr    RFC 3161 timestamps over manifest.json, if any were taken
    custody.jsonl         the capture's custody log, one event a line, hash-chained
    export.json           this export: every file with its SHA-256, redactions, the custody head
    export.sig            Ed25519 signature of export.json
    artifacts/...         the artifacts (third parties' data masked unless disclosed)

``verify`` checks, in this order, and stops at the first problem, which it names: the files
are there; both signatures verify; every file has the hash export.json gives and no file is
unlisted; every artifact of the manifest is present (or its redacted copy, or named as
purged); the custody chain is whole up to the head export.json recorded; every timestamp
covers manifest.json.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from tidewatch.errors import Conflict, NotFound
from tidewatch.evidence import custody, keys, objects, timestamps
from tidewatch.evidence.capture import _third_parties
from tidewatch.evidence.redact import NotRedactable, redact_bytes
from tidewatch.evidence.seal import canonical
from tidewatch.store import audit
from tidewatch.store import tables as t
from tidewatch.store.users import Actor, Role

REQUIRED = (
    "README.txt",
    "manifest.json",
    "manifest.sig",
    "unit_public_key.pem",
    "export.json",
    "export.sig",
    "custody.jsonl",
)

README = """Tidewatch evidence bundle
=========================

Capture {capture_id}: {title}
Sealed {sealed_at} by the unit key with fingerprint
    {fingerprint}
Exported {exported_at} by {exported_by}. {redaction}

What is in it
-------------
artifacts/          what was preserved: raw platform payloads (raw/), normalised records
                    (records/), renderings of each post as a person saw it (render/) and
                    anything captured live or downloaded.
manifest.json       the list of every artifact with its SHA-256 hash, as sealed.
manifest.sig        the unit's Ed25519 signature of manifest.json.
timestamps/         RFC 3161 timestamps of manifest.json from independent authorities, if any.
custody.jsonl       every event on these artifacts (captured, sealed, viewed, exported,
                    disclosed, deleted): who, when; each line carries the hash of the one before.
export.json/.sig    this export's own list of files and hashes, signed.

How to check it
---------------
1. With Tidewatch:  tidewatch evidence verify THIS_FILE.zip
   It exits 0 when everything holds, and otherwise names the first problem.
2. By hand: compute the SHA-256 of each file under artifacts/ (sha256sum on Linux,
   shasum -a 256 on macOS, Get-FileHash in PowerShell) and compare it with export.json;
   compare export.json's manifest_sha256 with the SHA-256 of manifest.json; verify
   manifest.sig over manifest.json with unit_public_key.pem (Ed25519, e.g.
   `openssl pkeyutl -verify -pubin -inkey unit_public_key.pem -rawin -in manifest.json
   -sigfile <(xxd -r -p manifest.sig)`), and ask the unit to confirm the key fingerprint.
3. Redacted files: personal data of people who are not suspects is masked in the copies
   here; export.json gives for each such file the hash of the sealed original
   ("redacted_from"), which the unit can disclose to the court on request.
"""


@dataclass
class VerifyReport:
    problem: str | None = None
    files: int = 0
    artifacts: int = 0
    custody_events: int = 0
    timestamps: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem is None


def export_capture(
    engine: Engine,
    actor: Actor,
    capture_id: int,
    out: Path,
    *,
    redact: bool = True,
    signing_key: Any = None,
    reason: str = "",
) -> dict[str, Any]:
    """Write the bundle of a sealed capture to ``out``; returns export.json."""
    actor.require(Role.ANALYST, Role.SUPERVISOR)
    if not redact and not reason.strip():
        raise ValueError("disclosing third parties' data unredacted needs a stated reason")
    key = signing_key or keys.load_or_create()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        capture = conn.execute(select(t.captures).where(t.captures.c.id == capture_id)).first()
        if capture is None:
            raise NotFound(f"no capture {capture_id}")
        if capture.status != "sealed":
            raise Conflict(f"capture {capture_id} is not sealed: seal it before it leaves")
        if capture.key_fingerprint != keys.fingerprint(key.public_key()):
            raise Conflict("the unit key differs from the one that sealed this capture")
        manifest_bytes = capture.manifest.encode()
        manifest = json.loads(manifest_bytes)
        suspects = _suspects(conn, manifest)
        files: list[dict[str, Any]] = []
        contents: dict[str, bytes] = {}
        withheld: list[dict[str, Any]] = []
        for entry in manifest["artifacts"]:
            path = f"artifacts/{entry['path']}"
            try:
                content = objects.get(conn, entry["sha256"])
            except NotFound as error:
                withheld.append({"path": path, "sha256": entry["sha256"], "reason": str(error)})
                continue
            listed: dict[str, Any] = {"path": path}
            if redact and entry["third_party_data"]:
                names, texts = _third_party_identifiers(conn, entry, suspects)
                try:
                    content = redact_bytes(content, _media_type(entry), names, texts)
                    listed["redacted_from"] = entry["sha256"]
                except NotRedactable as error:
                    withheld.append(
                        {
                            "path": path,
                            "sha256": entry["sha256"],
                            "reason": f"third-party data that cannot be masked: {error}",
                        }
                    )
                    continue
            listed |= {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
            files.append(listed)
            contents[path] = content
        stamps = [s for s in capture.timestamps if s.get("token")]
        for number, stamp in enumerate(stamps):
            path = f"timestamps/{number}.tsr"
            contents[path] = base64.b64decode(stamp["token"])
            files.append(
                {
                    "path": path,
                    "sha256": hashlib.sha256(contents[path]).hexdigest(),
                    "size": len(contents[path]),
                    "authority": stamp.get("authority", ""),
                }
            )
        event = "exported" if redact else "disclosed"
        custody.record(
            conn,
            capture_id,
            actor=actor.username,
            event=event,
            detail={"bundle": out.name, "redacted": redact, "reason": reason, "files": len(files)},
            at=now,
        )
        chain = custody.events(conn, capture_id)
        audit.record(
            conn,
            actor=actor.username,
            action=f"evidence.{event}",
            entity="capture",
            entity_id=capture_id,
            after={"bundle": out.name, "redacted": redact},
        )
    export = {
        "schema": "tidewatch.export/1",
        "capture_id": capture_id,
        "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        "exported_at": now.isoformat(),
        "exported_by": actor.username,
        "redacted": redact,
        "custody_head": chain[-1].hash,
        "files": files,
        "withheld": withheld,
    }
    export_bytes = canonical(export)
    readme = README.format(
        capture_id=capture_id,
        title=manifest.get("title", ""),
        sealed_at=manifest["sealed_at"],
        fingerprint=manifest["key_fingerprint"],
        exported_at=export["exported_at"],
        exported_by=actor.username,
        redaction="Third parties' personal data is masked."
        if redact
        else f"Disclosed without redaction: {reason}",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".part")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("README.txt", readme)
        bundle.writestr("manifest.json", manifest_bytes)
        bundle.writestr("manifest.sig", capture.signature)
        bundle.writestr("unit_public_key.pem", capture.public_key)
        bundle.writestr("export.json", export_bytes)
        bundle.writestr("export.sig", key.sign(export_bytes).hex())
        bundle.writestr(
            "custody.jsonl", "".join(json.dumps(e.to_json(), sort_keys=True) + "\n" for e in chain)
        )
        for path, content in contents.items():
            bundle.writestr(path, content)
    temporary.replace(out)
    return export


def _media_type(entry: dict[str, Any]) -> str:
    path = entry["path"]
    if path.endswith(".json"):
        return "application/json"
    if path.endswith(".html"):
        return "text/html"
    if path.endswith(".csv"):
        return "text/csv"
    return "application/octet-stream"


def _suspects(conn: Any, manifest: dict[str, Any]) -> set[tuple[str, str]]:
    ids = [
        int(a["subject"].split(":")[1])
        for a in manifest["artifacts"]
        if a["subject"].startswith("account:")
    ]
    rows = conn.execute(
        select(t.accounts.c.platform, t.accounts.c.native_id, t.accounts.c.handle).where(
            t.accounts.c.id.in_(ids)
        )
    ).all()
    return {(r.platform, r.native_id) for r in rows} | {
        ("handle", (r.handle or "").lstrip("@").lower()) for r in rows
    }


def _third_party_identifiers(
    conn: Any, entry: dict[str, Any], suspects: set[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    kind, _, number = entry["subject"].partition(":")
    if kind == "source":
        found = _third_parties(conn, int(number), {s for s in suspects if s[0] != "handle"})
        return found["names"], found["texts"]
    if kind == "post":
        mentions = (
            conn.execute(select(t.posts.c.mentions).where(t.posts.c.id == int(number))).scalar()
            or []
        )
        own = {s[1] for s in suspects if s[0] == "handle"}
        return [m for m in mentions if m.lstrip("@").lower() not in own], []
    return [], []


def verify_bundle(path: Path) -> VerifyReport:
    report = VerifyReport()
    try:
        bundle = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        report.problem = f"{path.name} is not a readable bundle: {error}"
        return report
    with bundle:
        names = bundle.namelist()
        if len(names) != len(set(names)):
            report.problem = "the bundle holds two files with the same name"
            return report
        for required in REQUIRED:
            if required not in names:
                report.problem = f"missing file {required}"
                return report
        read = bundle.read
        manifest_bytes, export_bytes = read("manifest.json"), read("export.json")
        try:
            public = keys.load_public(read("unit_public_key.pem"))
            manifest = json.loads(manifest_bytes)
            export = json.loads(export_bytes)
        except ValueError as error:
            report.problem = f"a bundle file is unreadable: {error}"
            return report
        if manifest.get("key_fingerprint") != keys.fingerprint(public):
            report.problem = "unit_public_key.pem is not the key the manifest names"
            return report
        if not keys.signature_ok(
            public, read("manifest.sig").decode(errors="replace"), manifest_bytes
        ):
            report.problem = "the manifest's signature does not verify (manifest.json or manifest.sig was changed)"
            return report
        if not keys.signature_ok(public, read("export.sig").decode(errors="replace"), export_bytes):
            report.problem = "the export list's signature does not verify (export.json or export.sig was changed)"
            return report
        if export.get("manifest_sha256") != hashlib.sha256(manifest_bytes).hexdigest():
            report.problem = "export.json names a different manifest"
            return report
        listed = {f["path"]: f for f in export["files"]}
        for entry in export["files"]:
            if entry["path"] not in names:
                report.problem = f"missing file {entry['path']}"
                return report
            actual = hashlib.sha256(read(entry["path"])).hexdigest()
            if actual != entry["sha256"]:
                report.problem = (
                    f"{entry['path']} was changed (SHA-256 {actual}, expected {entry['sha256']})"
                )
                return report
            report.files += 1
        for name in names:
            if name not in REQUIRED and name not in listed and not name.endswith("/"):
                report.problem = f"extra file {name} is not in the export list"
                return report
        withheld = {w["path"]: w for w in export.get("withheld", [])}
        for artifact in manifest["artifacts"]:
            member = f"artifacts/{artifact['path']}"
            entry = listed.get(member)
            if entry is None:
                if member in withheld and withheld[member]["sha256"] == artifact["sha256"]:
                    continue
                report.problem = f"{member} of the manifest is missing from the bundle"
                return report
            if artifact["sha256"] not in (entry["sha256"], entry.get("redacted_from")):
                report.problem = (
                    f"{member} is not the sealed artifact (its hash is not in the manifest)"
                )
                return report
            report.artifacts += 1
        chain = []
        for number, line in enumerate(read("custody.jsonl").decode().splitlines(), start=1):
            try:
                chain.append(json.loads(line))
            except json.JSONDecodeError:
                report.problem = f"custody.jsonl line {number} is not JSON"
                return report
        problem = custody.chain_problem(
            int(manifest["capture_id"]), chain, export.get("custody_head")
        )
        if problem:
            report.problem = problem
            return report
        report.custody_events = len(chain)
        for name in sorted(n for n in names if n.startswith("timestamps/")):
            problem = timestamps.problem(read(name), manifest_bytes)
            if problem:
                report.problem = f"{name}: {problem}"
                return report
            report.timestamps += 1
    return report
