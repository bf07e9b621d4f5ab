"""Ids carried through the logs of one request (and the tasks it submits), without passing them
down every call: a contextvar set by the request middleware and read where a line is logged."""

from __future__ import annotations

import contextvars

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
