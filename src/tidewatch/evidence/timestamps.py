"""RFC 3161 timestamps: request one from an authority, and check one as proof.

Parsing uses asn1crypto, which reads real tokens as authorities issue them (strict DER
parsers refuse some, e.g. certificate sets not in DER order). A timestamp is proof for some
bytes when: it parses (as a TimeStampResp or a bare TimeStampToken), it was granted, its
message imprint is the hash of exactly those bytes, the token's messageDigest attribute is
the hash of its TSTInfo, and the signature over the signed attributes verifies with the
signing certificate the token carries. Whether that certificate chains to a trusted root is
a question for the verifier's trust store; the report names the authority so it can be asked.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import rfc3161_client
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

_HASHLIB = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
_CRYPTO: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class Timestamp:
    gen_time: datetime
    hash_name: str
    imprint: bytes
    authority: str  # the signing certificate's subject
    serial: int


def _token(data: bytes) -> tuple[Any, str | None]:
    """The TimeStampToken (CMS ContentInfo) in ``data`` and the response status, if any."""
    try:
        response = tsp.TimeStampResp.load(data)
        status = response["status"]["status"].native
        token = response["time_stamp_token"]
        token["content"].native  # noqa: B018 - parse now, so garbage fails here
        return token, status
    except Exception:
        token = cms.ContentInfo.load(data)
        token["content"]["encap_content_info"].native  # noqa: B018
        return token, None


def parse(data: bytes) -> Timestamp:
    token, _status = _token(data)
    signed = token["content"]
    info = signed["encap_content_info"]["content"].parsed
    signer = _signer_certificate(signed)
    return Timestamp(
        gen_time=info["gen_time"].native,
        hash_name=info["message_imprint"]["hash_algorithm"]["algorithm"].native,
        imprint=info["message_imprint"]["hashed_message"].native,
        authority=signer.subject.rfc4514_string() if signer else "",
        serial=int(info["serial_number"].native),
    )


def _signer_certificate(signed: Any) -> x509.Certificate | None:
    sid = signed["signer_infos"][0]["sid"]
    for choice in signed["certificates"] or []:
        certificate = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                certificate.serial_number == wanted["serial_number"].native
                and certificate.issuer == wanted["issuer"]
            ):
                return x509.load_der_x509_certificate(certificate.dump())
        elif certificate.key_identifier == sid.chosen.native:
            return x509.load_der_x509_certificate(certificate.dump())
    return None


def problem(
    token_bytes: bytes, data: bytes | None = None, *, digest: bytes | None = None
) -> str | None:
    """What stops ``token_bytes`` proving when ``data`` (or the bytes ``digest`` hashes)
    existed, or None when it is sound proof."""
    try:
        token, status = _token(token_bytes)
    except Exception as error:  # asn1crypto raises several types on garbage
        return f"not an RFC 3161 timestamp ({type(error).__name__})"
    if status is not None and status not in ("granted", "granted_with_mods"):
        return f"the authority did not grant the timestamp (status {status})"
    signed = token["content"]
    info = signed["encap_content_info"]["content"]
    tst = info.parsed
    name = tst["message_imprint"]["hash_algorithm"]["algorithm"].native
    if name not in _HASHLIB:
        return f"unsupported imprint hash {name}"
    expected = digest if digest is not None else _HASHLIB[name](data or b"").digest()
    if tst["message_imprint"]["hashed_message"].native != expected:
        return "the timestamp does not cover these bytes (its message imprint differs)"
    return _signature_problem(signed, info.contents)


def _signature_problem(signed: Any, tst_der: bytes) -> str | None:
    signer_info = signed["signer_infos"][0]
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHLIB:
        return f"unsupported signature digest {digest_name}"
    attributes = signer_info["signed_attrs"]
    message_digest = next(
        (a["values"][0].native for a in attributes if a["type"].native == "message_digest"), None
    )
    if message_digest != _HASHLIB[digest_name](tst_der).digest():
        return "the token's signed digest does not match its content (altered token)"
    certificate = _signer_certificate(signed)
    if certificate is None:
        return "the token does not carry its signing certificate"
    # The signature covers the signed attributes as a DER SET (tag 0x31), not as [0].
    to_verify = b"\x31" + attributes.dump()[1:]
    signature = signer_info["signature"].native
    key = certificate.public_key()
    algorithm = _CRYPTO[digest_name]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if signer_info["signature_algorithm"]["algorithm"].native == "rsassa_pss":
                return "RSASSA-PSS timestamp signatures are not supported"
            key.verify(signature, to_verify, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, to_verify, ec.ECDSA(algorithm))
        else:
            return f"unsupported signing key {type(key).__name__}"
    except InvalidSignature:
        return "the timestamp's signature does not verify"
    return None


def request(url: str, data: bytes, *, timeout: float = 15.0) -> dict[str, Any]:
    """Ask the authority at ``url`` to stamp SHA-256(data). A failure is recorded, not
    raised: the signature seals a capture; a timestamp adds independent proof of when."""
    query = rfc3161_client.TimestampRequestBuilder().data(data).nonce(nonce=True).build()
    try:
        response = httpx.post(
            url,
            content=query.as_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
            timeout=timeout,
        )
        response.raise_for_status()
    except httpx.HTTPError as error:
        return {"tsa": url, "token": None, "error": f"{type(error).__name__}: {error}"[:300]}
    found = problem(response.content, data)
    if found:
        return {"tsa": url, "token": None, "error": found}
    stamp = parse(response.content)
    return {
        "tsa": url,
        "token": base64.b64encode(response.content).decode(),
        "gen_time": stamp.gen_time.isoformat(),
        "authority": stamp.authority,
    }
