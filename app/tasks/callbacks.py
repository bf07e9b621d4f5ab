"""Callback delivery: where a callback may go, what it says, and POSTing it with bounded retries.

A task's callback is made once, when the task ends (`delivery_for`): its body and its delivery id
are fixed then, and written with the task's end to the store's outbox. Whoever delivers it (the
replica that finished the task, or any other once that one is gone) sends those same bytes under
that same X-IOPaint-Delivery id, so a receiver that drops duplicates sees each callback once.

By default private and loopback hosts are allowed (backends receive callbacks inside compose or
cluster networks); link-local and cloud-metadata targets and non-http(s) schemes are refused.
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
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

import httpx

from app.errors import InvalidInput

if TYPE_CHECKING:
    from app.tasks.records import Task

log = logging.getLogger("app.callbacks")

_METADATA_HOSTS = {"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                   "instance-data.ec2.internal", "metadata.azure.com", "metadata.tencentyun.com"}
_REFUSED_NETS = [ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32", "0.0.0.0/8", "224.0.0.0/4",
    "ff00::/8", "::/128")]


class CallbackPolicy:
    def __init__(self, allowed: str = ""):
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
        """Validate at submit; raise InvalidInput (422) for a refused target."""
        try:
            parts = urlsplit(url)
        except ValueError:  # a bracketed host that is no IPv6 address, a bad port...
            raise InvalidInput("callback_url is not a valid URL", code="invalid_callback_url") from None
        if parts.scheme not in ("http", "https"):
            raise InvalidInput("callback_url must be http or https", code="invalid_callback_url")
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise InvalidInput("callback_url has no host", code="invalid_callback_url")
        if host in _METADATA_HOSTS:
            raise InvalidInput(f"callback_url host {host!r} is a cloud-metadata endpoint", code="callback_refused")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None:
            self.check_address(ip, host)
        elif self.restricted and host not in self.allowed_hosts:
            # a name may still be allowed by network once resolved: decided at delivery
            if not self.allowed_nets:
                raise InvalidInput(f"callback_url host {host!r} is not in CALLBACK_ALLOWED_HOSTS",
                                   code="callback_refused")
        return url

    def check_address(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str) -> None:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if any(ip in net for net in _REFUSED_NETS):
            raise InvalidInput(f"callback_url target {ip} is link-local, metadata or not routable",
                               code="callback_refused")
        if self.restricted and host not in self.allowed_hosts and not any(ip in n for n in self.allowed_nets):
            raise InvalidInput(f"callback_url target {ip} is not in CALLBACK_ALLOWED_HOSTS", code="callback_refused")

    async def check_at_delivery(self, url: str) -> None:
        """Resolve the host now and refuse if any address it resolves to is refused."""
        self.check_url(url)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        for info in infos:
            self.check_address(ipaddress.ip_address(str(info[4][0]).split("%")[0]), host)


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
    if not task.callback_url or task.status == "cancelled":
        return None
    payload: dict[str, Any]
    if task.status == "completed":
        payload = {"task_id": task.task_id, "status": "completed",
                   "image_data": base64.b64encode(task.result or b"").decode(),
                   "timestamp": time.time(), "processing_time": task.elapsed,
                   "regions_processed": task.total_regions, "media_type": task.media_type}
        for key in ("verification", "text_lines"):  # API.md: the callback reports both
            if task.stats and key in task.stats:
                payload[key] = task.stats[key]
    else:
        payload = {"task_id": task.task_id, "status": "error", "error": task.error, "timestamp": time.time()}
    body = json.dumps(payload, separators=(",", ":")).encode()  # the exact bytes that are signed
    return Delivery(task.task_id, task.callback_url, body, uuid.uuid4().hex)


class CallbackSender:
    """POSTs callbacks off the task's path: bounded retries with exponential backoff. Every
    delivery carries an id (X-IOPaint-Delivery), the same on each of its retries so a receiver can
    drop duplicates, and with a secret a signature (X-IOPaint-Signature) made afresh per attempt."""

    def __init__(self, policy: CallbackPolicy, retries: int = 3, backoff: float = 1.0, timeout: float = 10.0,
                 secret: str | None = None):
        self.policy, self.retries, self.backoff, self.timeout = policy, retries, backoff, timeout
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
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False)
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
