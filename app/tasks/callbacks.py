"""Callback delivery: where a callback may go, what it says, and POSTing it with bounded retries.

A task's callback is made once, when the task ends (`delivery_for`): its body and its delivery id
are fixed then, and written with the task's end to the store's outbox. Whoever delivers it (the
replica that finished the task, or any other once that one is gone) sends those same bytes under
that same X-IOPaint-Delivery id, so a receiver that drops duplicates sees each callback once.

By default private and loopback hosts are allowed (backends receive callbacks inside compose or
cluster networks); link-local and cloud-metadata targets and non-http(s) schemes are refused. What
is accepted at submit is one pattern, CALLBACK_URL_PATTERN, which /openapi.json shows as it is.
`CALLBACK_ALLOWED_HOSTS` narrows callbacks to listed host names and networks. Addresses are
checked at submit (for literal IPs and known names) and again at each delivery, after resolving,
so a name that later resolves to a refused address is still refused.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from app.errors import InvalidInput
from app.tasks.records import Task, TaskState

log = logging.getLogger("app.callbacks")

_METADATA_HOSTS = {"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                   "instance-data.ec2.internal", "metadata.azure.com", "metadata.tencentyun.com"}
_REFUSED_NETS = [ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10", "fd00:ec2::/32", "100.100.100.200/32", "0.0.0.0/8", "224.0.0.0/4",
    "ff00::/8", "::/128")]


# The callback URL's grammar, as one regular expression that /openapi.json shows and check_url
# enforces. It is written in the subset Python `re` and ECMA-262 (JSON Schema) read alike: no
# inline flags, so letters of either case are spelled out (`_anycase`), no \d or \w.

def _anycase(word: str) -> str:
    r"""`meta.x` -> `[Mm][Ee][Tt][Aa]\.[Xx]`: a literal in any case (host names: letters, digits, . and -)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else "\\." if c == "." else c for c in word)


def _one_of(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


def _printable_ascii_but(excluded: str) -> str:
    """A class of the printable ASCII characters (`!` to `~`) but `excluded`, written as ranges."""
    kept = [c for c in map(chr, range(0x21, 0x7F)) if c not in excluded]
    runs: list[list[str]] = []
    for c in kept:
        if runs and ord(c) == ord(runs[-1][-1]) + 1:
            runs[-1].append(c)
        else:
            runs.append([c])

    def esc(c: str) -> str:
        return "\\" + c if c in "\\]^-[" else c

    return "[" + "".join(esc(r[0]) + ("-" + esc(r[-1]) if len(r) > 1 else "") for r in runs) + "]"


_HEX = "[0-9A-Fa-f]"
_LABEL_CHAR = "[A-Za-z0-9_-]"  # letters, digits, - and _ (compose and cluster service names use _)
_LABEL = f"{_LABEL_CHAR}{{1,63}}"  # the resolver's limit (longer labels fail to encode at delivery)
_NAME_END = r"(?![A-Za-z0-9_.-])"  # the host name ends here: a port, a path or the end follows
# 0-255 in plain decimal: a leading zero (`169.254.01.1`) is octal to the C resolver, decimal to
# others and refused by Python's ipaddress, so it is no address this service can check
_OCTET = _one_of("25[0-5]", "2[0-4][0-9]", "1[0-9]{2}", "[1-9]?[0-9]")
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H16 = f"{_HEX}{{1,4}}"


def _ipv6() -> str:
    """RFC 3986's IPv6address: eight groups, or fewer around one `::`, the last 32 bits possibly
    a dotted IPv4 address. No zone id (`%25eth0`): which interface is the sender's business."""
    group, ls32 = f"{_H16}:", _one_of(f"{_H16}:{_H16}", _IPV4)

    def groups(n: int) -> str:
        return "" if n == 0 else group if n == 1 else f"(?:{group}){{{n}}}"

    def at_most(n: int) -> str:  # up to n groups before `::`, the last one without its colon
        return "" if n == 0 else f"(?:{_H16})?" if n == 1 else f"(?:(?:{group}){{0,{n - 1}}}{_H16})?"

    tails = [(groups(n) + ls32, n + 2) for n in range(5, -1, -1)] + [(_H16, 1), ("", 0)]
    # `::` stands for one group or more, so at most 7 are written around it
    forms = [groups(6) + ls32] + [f"{at_most(7 - written)}::{tail}" for tail, written in tails]
    return _one_of(*forms)


_IPV6 = _ipv6()

# Refused targets, as negative lookaheads at the start of the host (the same as _METADATA_HOSTS
# and _REFUSED_NETS, which check_address keeps for the addresses a name resolves to at delivery)
_REFUSED_NAME = _one_of(*(_anycase(h) for h in sorted(_METADATA_HOSTS))) + r"\.?" + _NAME_END
_REFUSED_IPV4 = _one_of(
    r"0\.",                           # 0.0.0.0/8: "this network"; 0.0.0.0 reaches the local host
    r"169\.254\.",                    # 169.254.0.0/16, link-local: the cloud metadata endpoints
    r"22[4-9]\.", r"23[0-9]\.",       # 224.0.0.0/4, multicast
    r"100\.100\.100\.200(?![0-9])",  # Alibaba Cloud's metadata endpoint
)
_REFUSED_IPV6 = _one_of(
    # a first group of zero, or a leading `::`: the unspecified address, IPv4-mapped (::ffff:0:0/96,
    # which would carry a refused IPv4 address past this check) and IPv4-compatible addresses;
    # loopback is allowed, spelled `::1`
    "0{1,4}:", "::",
    f"[Ff][Ee][89AaBb]{_HEX}:",       # fe80::/10, link-local
    f"[Ff][Ff]{_HEX}{{2}}:",          # ff00::/8, multicast
    "[Ff][Dd]00:0?[Ee][Cc]2:",        # fd00:ec2::/32, AWS's metadata endpoint (fd00:ec2::254)
)


def _callback_url(refusing: bool) -> str:
    """http(s)://[userinfo@]host[:port][/path][?query][#fragment], anchored at both ends.

    The netloc is ASCII (urlsplit refuses some non-ASCII, and an IDN host is sent in its xn-- form);
    no control character or space anywhere, as urlsplit would drop some of them (`meta\\ndata`
    would reach the checks as `metadata`). With `refusing`, the refused targets are left out."""
    def unless(refused: str) -> str:
        return f"(?!{refused})" if refusing else ""

    userinfo = _printable_ascii_but("@/?#[]\\")  # what would end the netloc or open a host
    # a host name's last label is no number (`2852039166`, `a.0x7f`): the C resolver and browsers
    # read those as IPv4 addresses, so numbers are IPv4 literals, written as above
    name = rf"(?:{_LABEL}\.)*(?!(?:[0-9]+|0[Xx]{_HEX}*)\.?{_NAME_END}){_LABEL}\.?"
    host = _one_of(unless(_REFUSED_IPV4) + _IPV4,
                   unless(_REFUSED_NAME) + name,
                   r"\[" + _one_of("::1", unless(_REFUSED_IPV6) + _IPV6) + r"\]")
    port = _one_of("[1-9][0-9]{0,3}", "[1-5][0-9]{4}", "6[0-4][0-9]{3}", "65[0-4][0-9]{2}", "655[0-2][0-9]",
                   "6553[0-5]", "0") + "?"  # 0-65535, no leading zero; empty (`host:/`) as RFC 3986 allows
    rest = r"[/?#][^\x00-\x20\x7f]*"  # path, query, fragment: any text but controls and spaces
    return rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:{userinfo}*@)?{host}(?::{port})?(?:{rest})?$"


CALLBACK_URL_PATTERN = _callback_url(refusing=True)
_ACCEPTED = re.compile(CALLBACK_URL_PATTERN)
_WELL_FORMED = re.compile(_callback_url(refusing=False))  # to tell malformed from refused


def _invalid(why: str) -> InvalidInput:
    """A callback_url that is no URL this service calls (422 invalid_callback_url)."""
    return InvalidInput(f"callback_url {why}", code="invalid_callback_url")


def _refused(why: str) -> InvalidInput:
    """A well-formed callback_url whose target is refused (422 callback_refused)."""
    return InvalidInput(f"callback_url {why}", code="callback_refused")


def _malformed(url: str) -> str:
    """What is wrong with a URL that is not well formed (CALLBACK_URL_PATTERN's grammar), in words."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for a port that is no number 0-65535)
    except ValueError:  # a bracketed host that is no IPv6 address, a bad port...
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be http or https"
    if not parts.hostname:
        return "has no host"
    return ("is not an http(s) URL this service calls: an ASCII host name, an IPv4 or [IPv6] address, "
            "a port 0-65535, no spaces or control characters (API.md, Callback)")


Resolve = Callable[[str, int], Awaitable[list[str]]]  # a host and port -> the addresses it names


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses a host name resolves to now (the system's resolver)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%")[0] for info in infos]


class CallbackPolicy:
    """Where callbacks may go. `resolve` names a host's addresses at delivery (the system's
    resolver; a test's own where nothing may be reached)."""

    def __init__(self, allowed: str = "", resolve: Resolve = resolve_host):
        self.resolve = resolve
        self.allowed_hosts: set[str] = set()
        self.allowed_nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in (x.strip() for x in allowed.split(",") if x.strip()):
            try:
                self.allowed_nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.allowed_hosts.add(item.lower())

    @property
    def restricted(self) -> bool:
        return bool(self.allowed_hosts or self.allowed_nets)

    def check_url(self, url: str) -> str:
        """Validate at submit; raise InvalidInput (422) unless CALLBACK_URL_PATTERN, the pattern
        /openapi.json shows, matches. The checks after it refuse nothing it matches (it is written
        from their tables), except what CALLBACK_ALLOWED_HOSTS, the operator's choice, leaves out."""
        if not _WELL_FORMED.fullmatch(url):
            raise _invalid(_malformed(url))
        host = (urlsplit(url).hostname or "").lower().rstrip(".")  # well formed: it splits, with a host
        if host in _METADATA_HOSTS:
            raise _refused(f"host {host!r} is a cloud-metadata endpoint")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None:
            self.check_address(ip, host)
        if not _ACCEPTED.fullmatch(url):  # a refused address spelled otherwise (::ffff:169.254.169.254...)
            raise _refused(f"target {host!r} is link-local, metadata or not routable")
        if ip is None and self.restricted and host not in self.allowed_hosts and not self.allowed_nets:
            # with allowed networks, a name may still be allowed once resolved: decided at delivery
            raise _refused(f"host {host!r} is not in CALLBACK_ALLOWED_HOSTS")
        return url

    def check_address(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str) -> None:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if any(ip in net for net in _REFUSED_NETS):
            raise _refused(f"target {ip} is link-local, metadata or not routable")
        if self.restricted and host not in self.allowed_hosts and not any(ip in n for n in self.allowed_nets):
            raise _refused(f"target {ip} is not in CALLBACK_ALLOWED_HOSTS")

    async def check_at_delivery(self, url: str) -> None:
        """Resolve the host now and refuse if any address it resolves to is refused."""
        self.check_url(url)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        for address in await self.resolve(host, port):
            self.check_address(ipaddress.ip_address(address), host)


SIGNATURE_HEADER = "X-IOPaint-Signature"
DELIVERY_HEADER = "X-IOPaint-Delivery"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the scheme payment and
    code-hosting webhooks use. The timestamp is signed too, so an old delivery cannot be replayed
    as new; receivers check it with the clients' verify_signature."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass(frozen=True)
class Delivery:
    """One callback: where it goes, the exact bytes, and the id every attempt carries."""

    task_id: str
    url: str
    body: bytes
    delivery_id: str

    def encode(self) -> str:
        return json.dumps({"t": self.task_id, "u": self.url, "b": self.body.decode(), "d": self.delivery_id})

    @classmethod
    def decode(cls, raw: str | bytes) -> Delivery:
        d = json.loads(raw)
        return cls(task_id=d["t"], url=d["u"], body=d["b"].encode(), delivery_id=d["d"])


def delivery_for(task: Task) -> Delivery | None:
    """The callback of an ended task (API.md, callbacks); none when it has no URL or was cancelled."""
    if not task.callback_url or task.status == TaskState.CANCELLED:
        return None
    payload: dict[str, Any]
    if task.status == TaskState.COMPLETED:
        payload = {"task_id": task.task_id, "status": TaskState.COMPLETED,
                   "image_data": base64.b64encode(task.result or b"").decode(),
                   "timestamp": time.time(), "processing_time": task.elapsed,
                   "regions_processed": task.total_regions, "media_type": task.media_type}
        for key in ("verification", "text_lines"):  # API.md: the callback reports both
            if task.stats and key in task.stats:
                payload[key] = task.stats[key]
    else:
        payload = {"task_id": task.task_id, "status": TaskState.ERROR, "error": task.error, "timestamp": time.time()}
    body = json.dumps(payload, separators=(",", ":")).encode()  # the exact bytes that are signed
    return Delivery(task.task_id, task.callback_url, body, uuid.uuid4().hex)


class CallbackSender:
    """POSTs callbacks off the task's path: bounded retries with exponential backoff. Every
    delivery carries an id (X-IOPaint-Delivery), the same on each of its retries so a receiver can
    drop duplicates, and with a secret a signature (X-IOPaint-Signature) made afresh per attempt."""

    def __init__(self, policy: CallbackPolicy, retries: int = 3, backoff: float = 1.0, timeout: float = 10.0,
                 secret: str | None = None, transport: httpx.AsyncBaseTransport | None = None):
        """`transport`: how the POSTs go out (the network; a test's own where nothing may be reached)."""
        self.policy, self.retries, self.backoff, self.timeout = policy, retries, backoff, timeout
        self.transport = transport
        self.secret = secret or None
        self._client: httpx.AsyncClient | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._sending: set[str] = set()  # delivery ids on their way from this process
        self.delivered = self.failed = 0

    def send(self, d: Delivery, settled: Callable[[], Any] | None = None) -> asyncio.Task[None] | None:
        """Fire and forget: never blocks or fails the caller. `settled()` runs (awaited when it is a
        coroutine) once the callback is delivered or given up. The delivery's task, or None when
        this process is delivering it already."""
        if d.delivery_id in self._sending:
            return None
        self._sending.add(d.delivery_id)
        t = asyncio.create_task(self._deliver_then(d, settled))
        self._pending.add(t)
        t.add_done_callback(self._pending.discard)
        return t

    async def _deliver_then(self, d: Delivery, settled: Callable[[], Any] | None) -> None:
        try:
            await self._deliver(d)
            if settled is not None:
                done = settled()
                if asyncio.iscoroutine(done):
                    await done
        except Exception as e:  # the outbox keeps it: another attempt after the lease
            log.warning("callback of task_id=%s not settled: %s: %s", d.task_id, type(e).__name__, e)
        finally:
            self._sending.discard(d.delivery_id)

    async def _deliver(self, d: Delivery) -> bool:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False,
                                             transport=self.transport)
        url, body, delivery, task_id = d.url, d.body, d.delivery_id, d.task_id
        for attempt in range(1, self.retries + 2):
            headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery}
            if self.secret:
                headers[SIGNATURE_HEADER] = sign(self.secret, body, int(time.time()))
            try:
                await self.policy.check_at_delivery(url)
                r = await self._client.post(url, content=body, headers=headers)
                if r.status_code < 400:
                    self.delivered += 1
                    log.info("callback delivered task_id=%s delivery=%s status=%s attempt=%d", task_id, delivery,
                             r.status_code, attempt)
                    return True
                reason = f"HTTP {r.status_code}"
            except InvalidInput as e:
                self.failed += 1
                log.warning("callback refused task_id=%s: %s", task_id, e.detail)
                return False
            except (httpx.InvalidURL, UnicodeError) as e:
                # a URL the HTTP client cannot send to (an xn-- label that is no valid IDN): no retry helps
                self.failed += 1
                log.warning("callback given up task_id=%s: %s: %s", task_id, type(e).__name__, e)
                return False
            except (httpx.HTTPError, OSError) as e:
                reason = f"{type(e).__name__}: {e}"
            log.warning("callback failed task_id=%s attempt=%d: %s", task_id, attempt, reason)
            if attempt <= self.retries:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        self.failed += 1
        return False

    async def close(self, grace: float = 5.0) -> None:
        if self._pending:
            await asyncio.wait(self._pending, timeout=grace)
            for t in self._pending:
                t.cancel()
        if self._client is not None:
            await self._client.aclose()
