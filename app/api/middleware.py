"""ASGI middleware that must see every request before a route does."""

from __future__ import annotations

import json

from app.errors import TooLarge


class BodySizeLimit:
    """Refuse bodies over `limit` bytes with 413 before they are read into memory: at once when
    Content-Length says so, and mid-stream for chunked uploads."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
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

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise TooLarge(f"request body is over the limit of {self.limit} bytes", code="request_too_large")
            return message

        await self.app(scope, limited_receive, send)
