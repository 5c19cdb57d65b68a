"""Capture, seal, export and verify: and every kind of tampering with a bundle is caught and
named."""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select, update

from tests.programme import seed_people, seed_posts, seed_shared_page
from tidewatch.cases import cases
from tidewatch.errors import Conflict
from tidewatch.evidence import custody, keys
from tidewatch.evidence.bundle import export_capture, verify_bundle
from tidewatch.evidence.capture import Artifact, add_artifact, capture_case
from tidewatch.store import make_engine, migrate
from tidewatch.store import tables as t

RFC3161 = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "evidence_rfc3161"


@pytest.fixture
def signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ed25519PrivateKey:
    path = tmp_path / "keys" / "unit.pem"
    monkeypatch.setenv("TIDEWATCH_EVIDENCE_KEY", str(path))
    return keys.load_or_create(path)


@pytest.fixture
def sealed(
    engine: Engine, tmp_path: Path, signing_key: Ed25519PrivateKey
) -> tuple[Engine, int, Path]:
    """A sealed capture of the case around the shared-number network, and its bundle."""
    seed_posts(engine, tmp_path)
    people = seed_people(engine)
    case_id = cases.open_case(
        engine,
        people["ana"],
        "Zuwara boats",
        accounts=[("x", "smug_x"), ("instagram", "smug_ig"), ("facebook", "smug_fb")],
    )
    capture_id = capture_case(engine, people["ana"], case_id)
    out = tmp_path / "bundle.zip"
    export_capture(engine, people["ana"], capture_id, out)
    return engine, capture_id, out


def test_a_capture_holds_raw_records_and_renderings_for_every_account_and_post(
    sealed: tuple[Engine, int, Path],
) -> None:
    engine, capture_id, out = sealed
    with engine.connect() as conn:
        paths = set(
            conn.execute(
                select(t.artifacts.c.path).where(t.artifacts.c.capture_id == capture_id)
            ).scalars()
        )
        post_ids = (
            conn.execute(
                select(t.posts.c.id).where(
                    t.posts.c.account_native_id.in_(["smug_x", "smug_ig", "smug_fb"])
                )
            )
            .scalars()
            .all()
        )
    assert len(post_ids) == 3
    for post_id in post_ids:
        assert {f"records/post-{post_id}.json", f"render/post-{post_id}.html"} <= paths
    assert sum(p.startswith("raw/source-") for p in paths) >= 1
    assert sum(p.startswith("records/account-") for p in paths) == 3
    report = verify_bundle(out)
    assert report.ok, report.problem
    assert report.artifacts == len(paths)
    # captured x each artifact, sealed, exported
    assert report.custody_events == len(paths) + 2
    # Each post's record carries its detection and reasons, not the store's working copies.
    with zipfile.ZipFile(out) as bundle:
        records = [
            json.loads(bundle.read(f"artifacts/records/post-{post_id}.json"))
            for post_id in post_ids
        ]
    detections = [r["detection"] for r in records if r.get("detection")]
    assert detections and all(d["reasons"] for d in detections)
    assert not any("entity_reasons" in d for d in detections)


def test_a_sealed_capture_takes_no_new_artifacts(sealed: tuple[Engine, int, Path]) -> None:
    engine, capture_id, _ = sealed
    with engine.begin() as conn, pytest.raises(Conflict, match="sealed"):
        add_artifact(
            conn,
            capture_id,
            Artifact("raw/late.json", "raw", b"{}", "application/json", "case:1"),
            actor="ana",
        )


def test_the_seal_is_a_signature_over_the_manifest_with_the_unit_key(
    sealed: tuple[Engine, int, Path], signing_key: Ed25519PrivateKey
) -> None:
    engine, capture_id, _ = sealed
    with engine.connect() as conn:
        capture = conn.execute(select(t.captures).where(t.captures.c.id == capture_id)).one()
    assert capture.status == "sealed"
    assert keys.signature_ok(signing_key.public_key(), capture.signature, capture.manifest.encode())
    manifest = json.loads(capture.manifest)
    assert manifest["key_fingerprint"] == keys.fingerprint(signing_key.public_key())
    assert all(len(a["sha256"]) == 64 for a in manifest["artifacts"])


def test_third_parties_are_masked_in_exports_and_the_sealed_original_is_named(
    engine: Engine, tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    seed_shared_page(engine, tmp_path)
    people = seed_people(engine)
    case_id = cases.open_case(engine, people["ana"], "one", accounts=[("x", "smug_x")])
    capture_id = capture_case(engine, people["ana"], case_id)
    out = tmp_path / "b.zip"
    export = export_capture(engine, people["ana"], capture_id, out)
    redacted = [f for f in export["files"] if "redacted_from" in f]
    assert [f["path"] for f in redacted] == ["artifacts/raw/source-1.json"]
    with zipfile.ZipFile(out) as bundle:
        raw = bundle.read("artifacts/raw/source-1.json").decode()
    assert "amina_k" not in raw and "two children" not in raw
    assert "smug_x" in raw and "2500 euro" in raw  # the suspect's own words stay
    assert verify_bundle(out).ok
    # Disclosing the original needs a reason and is its own custody event.
    with pytest.raises(ValueError, match="reason"):
        export_capture(engine, people["ana"], capture_id, tmp_path / "c.zip", redact=False)
    export_capture(
        engine,
        people["ana"],
        capture_id,
        tmp_path / "c.zip",
        redact=False,
        reason="court order 2026/123",
    )
    with zipfile.ZipFile(tmp_path / "c.zip") as bundle:
        assert "amina_k" in bundle.read("artifacts/raw/source-1.json").decode()
    with engine.connect() as conn:
        events = [e.event for e in custody.events(conn, capture_id)]
    assert events[-2:] == ["exported", "disclosed"]


# --- tampering: each part of a bundle in turn ----------------------------------------------

Edit = Callable[[dict[str, bytes]], None]


def _rewrite(source: Path, target: Path, edit: Edit) -> Path:
    with zipfile.ZipFile(source) as bundle:
        files = {name: bundle.read(name) for name in bundle.namelist()}
    edit(files)
    with zipfile.ZipFile(target, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return target


def _first_artifact(files: dict[str, bytes]) -> str:
    return sorted(n for n in files if n.startswith("artifacts/records/"))[0]


def _flip_byte(files: dict[str, bytes]) -> None:
    name = _first_artifact(files)
    data = bytearray(files[name])
    data[len(data) // 2] ^= 0x01
    files[name] = bytes(data)


def _custody(files: dict[str, bytes], change: Callable[[list[str]], list[str]]) -> None:
    lines = files["custody.jsonl"].decode().splitlines()
    files["custody.jsonl"] = ("\n".join(change(lines)) + "\n").encode()


def _edit_custody_actor(lines: list[str]) -> list[str]:
    event = json.loads(lines[1])
    event["actor"] = "mallory"
    return [lines[0], json.dumps(event), *lines[2:]]


def _resign_export(key: Ed25519PrivateKey) -> Edit:
    """An attacker with a different key re-signs everything: the key no longer matches."""

    def edit(files: dict[str, bytes]) -> None:
        from cryptography.hazmat.primitives import serialization

        files["unit_public_key.pem"] = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        files["manifest.sig"] = key.sign(files["manifest.json"]).hex().encode()

    return edit


OTHER_KEY = Ed25519PrivateKey.generate()

TAMPERING: list[tuple[str, Edit, str]] = [
    ("a changed byte", _flip_byte, "was changed (SHA-256"),
    ("a missing artifact", lambda f: f.pop(_first_artifact(f)), "missing file artifacts/records/"),
    (
        "an extra file",
        lambda f: f.update({"artifacts/records/extra.json": b"{}"}),
        "extra file artifacts/records/extra.json",
    ),
    ("a missing manifest", lambda f: f.pop("manifest.json"), "missing file manifest.json"),
    (
        "a changed manifest",
        lambda f: f.update(
            {"manifest.json": f["manifest.json"].replace(b'"title":"', b'"title":"X')}
        ),
        "manifest's signature does not verify",
    ),
    (
        "a broken signature",
        lambda f: f.update({"manifest.sig": b"00" * 64}),
        "manifest's signature does not verify",
    ),
    ("another key", _resign_export(OTHER_KEY), "not the key the manifest names"),
    (
        "a changed export list",
        lambda f: f.update(
            {"export.json": f["export.json"].replace(b'"redacted":true', b'"redacted":false')}
        ),
        "export list's signature does not verify",
    ),
    (
        "a changed custody event",
        lambda f: _custody(f, _edit_custody_actor),
        "custody event 2 (captured) was changed",
    ),
    (
        "reordered custody events",
        lambda f: _custody(f, lambda ls: [ls[1], ls[0], *ls[2:]]),
        "custody event 1 is missing or out of order",
    ),
    (
        "a removed custody event",
        lambda f: _custody(f, lambda ls: [ls[0], *ls[2:]]),
        "custody event 2 is missing or out of order",
    ),
    (
        "custody events cut from the end",
        lambda f: _custody(f, lambda ls: ls[:-1]),
        "events removed from the end",
    ),
    (
        "a timestamp of other bytes",
        lambda f: f.update(
            {"timestamps/0.tsr": (RFC3161 / "auto_archiver_valid_timestamp.tsr").read_bytes()}
        ),
        "extra file timestamps/0.tsr",
    ),
]


@pytest.fixture(scope="module")
def bundle_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One good bundle (SQLite) that each tampering test copies and changes: tampering is
    about the file, so one database is enough here."""
    folder = tmp_path_factory.mktemp("bundle")
    key = keys.load_or_create(folder / "unit.pem")
    engine = make_engine(f"sqlite:///{folder / 'db.sqlite'}")
    migrate(engine)
    seed_posts(engine, folder)
    people = seed_people(engine)
    case_id = cases.open_case(engine, people["ana"], "c", accounts=[("x", "smug_x")])
    capture_id = capture_case(engine, people["ana"], case_id, signing_key=key)
    out = folder / "bundle.zip"
    export_capture(engine, people["ana"], capture_id, out, signing_key=key)
    engine.dispose()
    return out


@pytest.mark.parametrize(("what", "edit", "message"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_verify_names_the_first_problem_of_a_tampered_bundle(
    bundle_file: Path, tmp_path: Path, what: str, edit: Edit, message: str
) -> None:
    out = bundle_file
    assert verify_bundle(out).ok
    report = verify_bundle(_rewrite(out, tmp_path / "tampered.zip", edit))
    assert not report.ok, what
    assert report.problem is not None and message in report.problem


def test_not_a_bundle_at_all(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert "not a readable bundle" in (verify_bundle(junk).problem or "")


def test_real_rfc3161_tokens_verify_and_one_over_other_bytes_is_named(
    sealed: tuple[Engine, int, Path], tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    from tidewatch.evidence import timestamps

    for token_file in sorted(RFC3161.iterdir()):
        if token_file.suffix == ".md":
            continue
        token = token_file.read_bytes()
        stamp = timestamps.parse(token)
        assert stamp.hash_name == "sha512" and stamp.gen_time.year == 2025
        assert stamp.authority.startswith("CN=")
        # The tokens stamp auto-archiver's test data, whose digest they carry: sound for it...
        assert timestamps.problem(token, digest=stamp.imprint) is None
        # ...and not for anything else.
        assert "does not cover" in (timestamps.problem(token, b"our manifest") or "")
        altered = bytearray(token)
        at = bytes(altered).find(stamp.gen_time.strftime("%Y%m%d").encode())
        altered[at + 7] ^= 0x01
        assert "altered token" in (timestamps.problem(bytes(altered), digest=stamp.imprint) or "")
    # A real token put into a bundle's seal for our manifest is caught by verify.
    engine, capture_id, _ = sealed
    token = (RFC3161 / "auto_archiver_valid_timestamp.tsr").read_bytes()
    with engine.begin() as conn:
        conn.execute(
            update(t.captures)
            .where(t.captures.c.id == capture_id)
            .values(
                timestamps=[
                    {"tsa": "https://tsa.example", "token": base64.b64encode(token).decode()}
                ]
            )
        )
    from tests.programme import seed_people as _  # noqa: F401 - people exist already
    from tidewatch.store.users import get_actor

    with engine.connect() as conn:
        ana = get_actor(conn, "ana")
    out = tmp_path / "stamped.zip"
    export_capture(engine, ana, capture_id, out)
    assert "timestamps/0.tsr: the timestamp does not cover these bytes" in (
        verify_bundle(out).problem or ""
    )
