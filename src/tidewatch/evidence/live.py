"""Live capture of the case's reachable URLs as WARC, and the fetcher that media downloads share.

The URLs come from hostile data (a smuggler chooses what his post links to, and a crafted
payload can claim any "url"), so the fetcher is strict:

* only ``http`` and ``https``, no user name or password in the URL, no control characters;
* the host is resolved once and every address it resolves to must be public (not private,
  loopback, link-local, shared, multicast, reserved or unspecified, including IPv4 addresses
  hidden in IPv6 forms); the connection then goes to the checked address, so a second DNS
  answer cannot steer it elsewhere. Hosts named in ``allow_hosts`` (as written in the URL:
  ``127.0.0.1`` allows that literal, not ``localhost``) skip the address check: the loopback
  platform of the tests, a staging mirror;
* every redirect hop is checked the same way, and there are at most ``max_redirects``;
* one deadline bounds each URL (connect, every read, every hop), and at most ``max_bytes`` of
  response are kept (a longer one is kept truncated and marked so in the WARC).

The client speaks plain HTTP/1.1 over a socket and keeps the bytes exactly as they came, which
is what a WARC ``response`` record is meant to hold.

Each URL gives one WARC (``live/post-<id>.warc.gz``, ``live/account-<id>.warc.gz``): a
``warcinfo`` record, then a ``request`` and a ``response`` record per hop, and when the capture
failed or was refused a ``metadata`` record saying why, so the sealed capture records every
attempt, not only the ones that worked.

WACZ is not made: py-wacz 0.6.0 has no library API (its ``create`` is the argparse command,
which reads and writes files and prints to stdout), importing it pulls in frictionless and
its ~20 dependencies (requests, petl, jsonschema, typer...) plus cdxj-indexer and boilerpy3
(1.2 s of imports), and what WACZ adds (an index and a signed datapackage) the sealed
manifest and the export bundle already give. A WARC can be packed into a WACZ later with
``wacz create`` if a court's viewer wants one.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from tidewatch.evidence.capture import Artifact, CaseContent, Producer

USER_AGENT = "Tidewatch-evidence/0.1 (+preservation of public posts for law enforcement)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CHUNK = 65536


class UnsafeURL(ValueError):
    """A URL the fetcher refuses: a scheme, form or address it must never be pointed at."""


class FetchError(OSError):
    """The fetch itself failed: refused connection, timeout, a reply that is not HTTP."""


@dataclass(frozen=True)
class FetchPolicy:
    allow_hosts: frozenset[str] = frozenset()
    timeout_s: float = 20.0
    max_bytes: int = 25 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = USER_AGENT

    @classmethod
    def of(cls, allow_hosts: Iterable[str] = (), **settings: Any) -> FetchPolicy:
        return cls(allow_hosts=frozenset(h.strip().lower() for h in allow_hosts), **settings)


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # IDNA-encoded, lower case, no brackets
    port: int
    request_target: str
    addresses: tuple[str, ...]


@dataclass
class Exchange:
    """One request and its response, as sent and received."""

    url: str
    address: str
    started: datetime
    request: bytes
    response: bytes
    truncated: bool = False
    problem: str = ""  # why the response stops short (timeout, size limit, dropped connection)
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), "")


@dataclass
class FetchResult:
    url: str
    exchanges: list[Exchange] = field(default_factory=list)
    error: str = ""
    refused: bool = False

    @property
    def final(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None


def public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not public_address(embedded):
            return False
    return bool(
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_unspecified
    )


def check_url(url: str, policy: FetchPolicy) -> Target:
    """The target of ``url`` if the fetcher may go there; :class:`UnsafeURL` otherwise."""
    if not url or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise UnsafeURL("empty URL, or spaces or control characters in it")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeURL(f"malformed URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL(f"scheme {scheme or '(none)'!r} is not fetched (http and https only)")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("credentials in a URL are not fetched")
    if not parts.hostname:
        raise UnsafeURL("no host in the URL")
    try:
        host = parts.hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UnsafeURL("host name is not a valid international domain name") from None
    port = port or (443 if scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise FetchError(f"cannot resolve {host}: {error}") from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if host not in policy.allow_hosts:
        for address in addresses:
            if not public_address(ipaddress.ip_address(address.split("%", 1)[0])):
                named = host if host == address else f"{host} resolves to {address}, which"
                raise UnsafeURL(
                    f"{named} is an internal address (not fetched unless allow_hosts names the host)"
                )
    if not addresses:
        raise FetchError(f"{host} resolves to no address")
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return Target(url, scheme, host, port, path + (f"?{query}" if query else ""), addresses)


def _connect(target: Target, deadline: float) -> tuple[socket.socket, str]:
    last: OSError | None = None
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(remaining)
        try:
            sock.connect((address, target.port))
        except OSError as error:
            sock.close()
            last = error
            continue
        if target.scheme == "https":
            context = ssl.create_default_context()
            try:
                sock = context.wrap_socket(sock, server_hostname=target.host)
            except (OSError, ssl.SSLError) as error:
                sock.close()
                raise FetchError(f"TLS with {target.host} failed: {error}") from None
        return sock, address
    if last is None:
        raise FetchError(f"timed out connecting to {target.host}")
    raise FetchError(f"cannot connect to {target.host}: {last}")


class _Framing:
    """Knows when a whole response has arrived, so a keep-alive server need not close first."""

    def __init__(self) -> None:
        self.body_at = -1
        self.length: int | None = None
        self.chunked = False
        self.bodiless = False

    def complete(self, raw: bytearray) -> bool:
        if self.body_at < 0:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                return False
            self.body_at = end + 4
            head = bytes(raw[:end]).decode("latin-1").split("\r\n")
            parts = head[0].split(" ", 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            self.bodiless = 100 <= status < 200 or status in (204, 304)
            for line in head[1:]:
                name, _, value = line.partition(":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == "transfer-encoding" and "chunked" in value:
                    self.chunked = True
                elif name == "content-length" and value.isdigit():
                    self.length = int(value)
        if self.bodiless:
            return True
        if self.chunked:
            # The last-chunk marker can also end a chunk's data by chance: parse to be sure.
            return raw.endswith(b"0\r\n\r\n") and _whole(bytes(raw))
        return self.length is not None and len(raw) - self.body_at >= self.length


def _whole(raw: bytes) -> bool:
    response = http.client.HTTPResponse(_Replay(raw))  # type: ignore[arg-type]
    try:
        response.begin()
        response.read()
    except (http.client.HTTPException, ValueError):
        return False
    return True


class _Replay:
    """A socket stand-in that replays received bytes to :class:`http.client.HTTPResponse`."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    def makefile(self, *args: object, **kwargs: object) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self._raw))


def _parse(exchange: Exchange) -> None:
    response = http.client.HTTPResponse(_Replay(exchange.response))  # type: ignore[arg-type]
    try:
        response.begin()
    except (http.client.HTTPException, ValueError) as error:
        exchange.problem = exchange.problem or f"the reply is not HTTP: {error!r}"
        return
    exchange.status = response.status
    exchange.headers = list(response.getheaders())
    try:
        exchange.body = response.read()
    except http.client.IncompleteRead as partial:
        exchange.body = partial.partial
        exchange.truncated = True
    except (http.client.HTTPException, ValueError):
        exchange.truncated = True


def _exchange(target: Target, policy: FetchPolicy, deadline: float) -> Exchange:
    default_port = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    authority = host if target.port == default_port else f"{host}:{target.port}"
    request = (
        f"GET {target.request_target} HTTP/1.1\r\nHost: {authority}\r\n"
        f"User-Agent: {policy.user_agent}\r\nAccept: */*\r\nAccept-Encoding: identity\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    started = datetime.now(UTC)
    sock, address = _connect(target, deadline)
    received = bytearray()
    framing = _Framing()
    problem = ""
    with sock:
        try:
            sock.sendall(request)
            while not framing.complete(received):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                chunk = sock.recv(_CHUNK)
                if not chunk:
                    break
                received += chunk
                if len(received) > policy.max_bytes:
                    del received[policy.max_bytes :]
                    problem = f"longer than {policy.max_bytes} bytes: kept the first ones"
                    break
        except TimeoutError:
            problem = f"timed out after {policy.timeout_s:g} s"
        except OSError as error:
            problem = f"connection to {target.host} failed: {error}"
    if not received:
        raise FetchError(problem or f"{target.host} closed the connection without a reply")
    exchange = Exchange(target.url, address, started, request, bytes(received), problem=problem)
    _parse(exchange)
    exchange.truncated = exchange.truncated or bool(problem)
    return exchange


def fetch(url: str, policy: FetchPolicy) -> FetchResult:
    """GET ``url`` following redirects, every hop checked; never raises for a bad URL or a
    failed fetch: the result says what happened."""
    result = FetchResult(url)
    deadline = time.monotonic() + policy.timeout_s
    current = url
    for _hop in range(policy.max_redirects + 1):
        try:
            target = check_url(current, policy)
            exchange = _exchange(target, policy, deadline)
        except UnsafeURL as error:
            result.error, result.refused = f"refused {current}: {error}", True
            return result
        except FetchError as error:
            result.error = f"{current}: {error}"
            return result
        result.exchanges.append(exchange)
        if exchange.problem:
            result.error = f"{current}: {exchange.problem}"
            return result
        location = exchange.header("location")
        if exchange.status not in _REDIRECTS or not location:
            return result
        current = urljoin(current, location)
    result.error = f"more than {policy.max_redirects} redirects"
    return result


def warc(result: FetchResult, *, filename: str, about: dict[str, Any]) -> bytes:
    """The WARC (gzip per record) of one fetch: warcinfo, request/response per hop, and a
    metadata record saying why the capture failed or stopped short, if it did."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True, warc_version="1.1")
    info = {"software": USER_AGENT, "format": "WARC File Format 1.1", **about}
    writer.write_record(writer.create_warcinfo_record(filename, info))
    for exchange in result.exchanges:
        date = datetime_to_iso_date(exchange.started, use_micros=True)
        headers = {"WARC-Date": date, "WARC-IP-Address": exchange.address}
        if exchange.truncated:
            headers["WARC-Truncated"] = "time" if "timed out" in exchange.problem else "length"
        # Bytes that do not parse as HTTP are kept as they came, as a resource record.
        response = writer.create_warc_record(
            exchange.url,
            "response" if exchange.status is not None else "resource",
            payload=io.BytesIO(exchange.response),
            length=len(exchange.response),
            warc_content_type="" if exchange.status is not None else "application/octet-stream",
            warc_headers_dict=headers,
        )
        request = writer.create_warc_record(
            exchange.url,
            "request",
            payload=io.BytesIO(exchange.request),
            length=len(exchange.request),
            warc_headers_dict={
                "WARC-Date": date,
                "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
            },
        )
        writer.write_record(request)
        writer.write_record(response)
    if result.error:
        note = json.dumps(
            {"url": result.url, "error": result.error, "refused": result.refused},
            ensure_ascii=False,
        ).encode()
        writer.write_record(
            writer.create_warc_record(
                result.url,
                "metadata",
                payload=io.BytesIO(note),
                length=len(note),
                warc_content_type="application/json",
                warc_headers_dict={
                    "WARC-Date": datetime_to_iso_date(datetime.now(UTC), use_micros=True)
                },
            )
        )
    return buffer.getvalue()


def targets(content: CaseContent) -> list[tuple[str, str, str]]:
    """(path stem, subject, url) of every account and post of the case that has a URL."""
    found = [
        (f"account-{a['id']}", f"account:{a['id']}", a.get("url") or "") for a in content.accounts
    ]
    found += [(f"post-{p['id']}", f"post:{p['id']}", p.get("url") or "") for p in content.posts]
    return [target for target in found if target[2]]


def live_producer(policy: FetchPolicy, *, workers: int = 4) -> Producer:
    """Fetch every account's and post's URL and keep each as a WARC. A live platform page
    shows other people (comments, likes, suggestions) and a WARC cannot be masked, so these
    artifacts are marked as holding third parties' data: withheld from redacted exports."""

    def produce(content: CaseContent) -> list[Artifact]:
        wanted = targets(content)
        results = fetch_all([url for _, _, url in wanted], policy, workers=workers)
        made = []
        for (stem, subject, url), result in zip(wanted, results, strict=True):
            filename = f"{stem}.warc.gz"
            body = warc(
                result,
                filename=filename,
                about={"isPartOf": f"case {content.case_id}", "subject": subject},
            )
            made.append(
                Artifact(f"live/{filename}", "warc", body, "application/warc", subject, url, True)
            )
        return made

    return produce


def fetch_all(urls: Sequence[str], policy: FetchPolicy, *, workers: int = 4) -> list[FetchResult]:
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda url: fetch(url, policy), urls))
