"""ASGI middleware that must see every request before a route does."""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import Metrics
from app.errors import TooLarge

access = logging.getLogger("app.access")
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


class BodySizeLimit:
    """Refuse bodies over `limit` bytes with 413 before they are read into memory: at once when
    Content-Length says so, and mid-stream for chunked uploads."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            body = json.dumps({"detail": f"request body is {int(length)} bytes, over the limit of {self.limit}",
                               "error": "request_too_large"}).encode()
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise TooLarge(f"request body is over the limit of {self.limit} bytes", code="request_too_large")
            return message

        await self.app(scope, limited_receive, send)


class RequestContext:
    """Per request: an id (the caller's X-Request-ID, or a new one; echoed back), one structured
    log line, and the request metrics by route template (not raw path, to keep labels bounded)."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:128]
        if not rid or not _SAFE_ID.fullmatch(rid):
            rid = uuid.uuid4().hex
        started = time.perf_counter()
        status = {"code": 101 if scope["type"] == "websocket" else 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            took = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "WS")
            if self.metrics is not None and scope["type"] == "http":
                self.metrics.requests.labels(method, template, str(status["code"])).inc()
                self.metrics.latency.labels(method, template).observe(took)
            access.info(json.dumps({
                "event": "request", "request_id": rid, "method": method, "path": scope.get("path"),
                "route": template, "status": status["code"], "duration_ms": round(took * 1000, 1),
                "client": (scope.get("client") or ("", 0))[0],
            }))


class ApiKeyAuth:
    """With IOPAINT_API_KEY set, every route but health, metrics, docs and the playground page needs
    the key: `X-API-Key: <key>` or `Authorization: Bearer <key>`; WebSockets may also pass
    `?api_key=<key>`. Compared in constant time."""

    OPEN = ("/api/v1/health", "/metrics", "/docs", "/redoc", "/openapi.json", "/static-offline-docs/",
            "/playground")

    def __init__(self, app: ASGIApp, key: str):
        self.app, self.key = app, key.encode()

    def _presented(self, scope: Scope) -> bytes | None:
        headers: dict[bytes, bytes] = dict(scope["headers"])
        if b"x-api-key" in headers:
            return headers[b"x-api-key"]
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() == b"bearer ":
            return auth[7:].strip()
        if scope["type"] == "websocket":
            from urllib.parse import parse_qs

            values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key")
            if values:
                return str(values[0]).encode("latin-1")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(self.OPEN) \
                or scope.get("method") == "OPTIONS":
            return await self.app(scope, receive, send)
        given = self._presented(scope)
        if given is not None and hmac.compare_digest(given, self.key):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":  # refused before the handshake: the client sees HTTP 403
            await send({"type": "websocket.close", "code": 1008, "reason": "invalid or missing API key"})
            return
        body = json.dumps({"detail": "a valid API key is required (X-API-Key header)",
                           "error": "unauthorized"}).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="iopaint"')]})
        await send({"type": "http.response.body", "body": body})
