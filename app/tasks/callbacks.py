"""Callback delivery: where a callback may go, what it says, and POSTing it with bounded retries.

A task's callback is made once, when the task ends (`delivery_for`): its body and its delivery id
are fixed then, and written with the task's end to the store's outbox. Whoever delivers it (the
replica that finished the task, or any other once that one is gone) sends those same bytes under
that same X-IOPaint-Delivery id, so a receiver that drops duplicates sees each callback once.

By default private and loopback hosts are allowed (backends receive callbacks inside compose or
cluster networks); link-local and cloud-metadata targets and non-http(s) schemes are refused. What
is accepted is decided in code (`_target` reads a URL with urlsplit and ipaddress, CallbackPolicy
applies the policy), the same at submit and at each delivery; /openapi.json shows `format: uri`.
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
import socket
import string
import time
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from app.engine.stats import Stats
from app.errors import InvalidInput
from app.tasks.records import BatchStats, Task, TaskState
from app.wire import plain

log = logging.getLogger("app.callbacks")

_METADATA_HOSTS = {"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                   "instance-data.ec2.internal", "metadata.azure.com", "metadata.tencentyun.com"}
_REFUSED_NETS = [ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10", "fd00:ec2::/32", "100.100.100.200/32", "0.0.0.0/8", "224.0.0.0/4",
    "ff00::/8", "::/128")]


# What a callback URL is, in code: `_target` reads one, check_url applies the policy to what it
# reads, and check_at_delivery does both again before each attempt. /openapi.json shows
# `format: uri` and a sentence saying the same (app.api.schemas, API.md's Callback).

_LABEL_CHARS = frozenset(string.ascii_letters + string.digits + "-_")  # compose and cluster service names use _
_HEX_DIGITS = frozenset(string.hexdigits)
# printable ASCII but what would end the userinfo (@) or be read as a host ([ ] \)
_USERINFO_CHARS = frozenset(map(chr, range(0x21, 0x7F))) - set("@[]\\")
_NOT_A_HOST = "is not an ASCII host name, a plain dotted IPv4 address or a bracketed IPv6 address (API.md, Callback)"


def _invalid(why: str) -> InvalidInput:
    """A callback_url that is no URL this service calls (422 invalid_callback_url)."""
    return InvalidInput(f"callback_url {why}", code="invalid_callback_url")


def _refused(why: str) -> InvalidInput:
    """A well-formed callback_url whose target is refused (422 callback_refused)."""
    return InvalidInput(f"callback_url {why}", code="callback_refused")


@dataclass(frozen=True)
class Target:
    """Where a well-formed callback URL points: its host (lower case, without the trailing dot or
    an IPv6 address's brackets), the port to resolve it for, and its address when it is one."""

    host: str
    port: int
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None


def _target(url: str) -> Target:
    """Read `http(s)://[userinfo@]host[:port][/path][?query][#fragment]`; raise invalid_callback_url
    unless the URL is one. Refused targets are the policy's business (CallbackPolicy.check_url)."""
    if any(c <= " " or c == "\x7f" for c in url):
        # urlsplit would drop some of them: `meta\ndata` would reach the checks as `metadata`
        raise _invalid("has a space or a control character")
    try:
        parts = urlsplit(url)  # the netloc ends at the first / ? or #
    except ValueError:  # brackets that hold no IPv6 address, or only one of them
        raise _invalid("is not a valid URL") from None
    if parts.scheme not in ("http", "https"):  # in any case: urlsplit lowers it
        raise _invalid("must be http or https")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at and not _USERINFO_CHARS.issuperset(userinfo):
        raise _invalid("has a user:password@ part with a character other than printable ASCII or with @ [ ] \\")
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    if hostport.startswith("["):
        literal, _, after = hostport[1:].partition("]")
        if after and not after.startswith(":"):
            raise _invalid(f"has {after!r} after its [IPv6] address")
        host, ip, port = literal.lower(), _ipv6(literal), after[1:]
    else:
        host, _, port = hostport.partition(":")
        host, ip = _name_or_ipv4(host)
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535 and (port == "0" or port[0] != "0")):
        raise _invalid(f"port {port!r} is not a number 0-65535 without leading zeros")
    return Target(host, int(port or 0) or (443 if parts.scheme == "https" else 80), ip)  # none or 0: the scheme's


def _ipv6(literal: str) -> ipaddress.IPv6Address:
    """A bracketed host: an IPv6 address with no zone id (`%25eth0`: which interface is the sender's
    business). urlsplit let through only IP addresses and IPvFuture (`[v1.x]`), refused here."""
    try:
        ip = ipaddress.IPv6Address(literal)
    except ValueError:
        raise _invalid(f"host [{literal}] {_NOT_A_HOST}") from None
    if ip.scope_id is not None:
        raise _invalid(f"host [{literal}] has a zone id")
    return ip


def _name_or_ipv4(text: str) -> tuple[str, ipaddress.IPv4Address | None]:
    """An ASCII host name (labels of 1-63 letters, digits, - and _, the resolver's limit; one trailing
    dot allowed; an IDN in its xn-- form), in lower case without its trailing dot; or a dotted IPv4
    address. A name whose last label is a number (`2852039166`, `a.0x7f`, `1.2.3`) is neither: the
    C resolver and browsers read those as IPv4 addresses, each its own way. So is `169.254.01.1`:
    octal to the C resolver, decimal to others, refused by ipaddress; addresses are written plain."""
    if not text:
        raise _invalid("has no host")
    name = text.removesuffix(".")
    labels = name.split(".")
    if not all(0 < len(label) <= 63 and _LABEL_CHARS.issuperset(label) for label in labels):
        raise _invalid(f"host {text!r} {_NOT_A_HOST}")
    last = labels[-1]
    if not (last.isdigit() or (last[:2].lower() == "0x" and _HEX_DIGITS.issuperset(last[2:]))):
        return name.lower(), None
    try:
        return text, ipaddress.IPv4Address(text)  # none with a trailing dot
    except ValueError:
        raise _invalid(f"host {text!r} {_NOT_A_HOST}") from None


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
        """Validate at submit; raise InvalidInput (422): invalid_callback_url for no URL this service
        calls, callback_refused for a refused target."""
        self.target(url)
        return url

    def target(self, url: str) -> Target:
        """Where the URL points, unless it is malformed or its host refused (InvalidInput, 422)."""
        t = _target(url)
        if t.host in _METADATA_HOSTS:
            raise _refused(f"host {t.host!r} is a cloud-metadata endpoint")
        if t.ip is not None:
            self.check_address(t.ip, t.host)
            if t.ip.version == 6 and int(t.ip) >> 112 == 0 and t.host != "::1":
                # a first group of zero: the unspecified address, IPv4-mapped (::ffff:0:0/96) and
                # IPv4-compatible ones (`::169.254.169.254`), which would carry an IPv4 address past
                # the IPv4 checks; loopback is allowed, written `[::1]`
                raise _refused(f"target {t.host!r} is link-local, metadata or not routable")
        elif self.restricted and t.host not in self.allowed_hosts and not self.allowed_nets:
            # with allowed networks, a name may still be allowed once resolved: decided at delivery
            raise _refused(f"host {t.host!r} is not in CALLBACK_ALLOWED_HOSTS")
        return t

    def check_address(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str) -> None:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if any(ip in net for net in _REFUSED_NETS):
            raise _refused(f"target {ip} is link-local, metadata or not routable")
        if self.restricted and host not in self.allowed_hosts and not any(ip in n for n in self.allowed_nets):
            raise _refused(f"target {ip} is not in CALLBACK_ALLOWED_HOSTS")

    async def check_at_delivery(self, url: str) -> None:
        """check_url's checks, then resolve the host now and refuse if any address it resolves to is refused."""
        t = self.target(url)
        for address in await self.resolve(t.host, t.port):
            self.check_address(ipaddress.ip_address(address), t.host)


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
        stats = task.stats
        if isinstance(stats, (Stats, BatchStats)):  # API.md: the callback reports the verification and the lines
            if stats.verification is not None:
                payload["verification"] = plain(stats.verification)
            if stats.text_lines is not None:
                payload["text_lines"] = plain(stats.text_lines)
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
