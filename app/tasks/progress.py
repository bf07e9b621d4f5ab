"""The publish/subscribe hub: the task manager publishes, WebSocket connections listen.

Subscriptions are kept by task id whether or not the task exists yet (backends subscribe before
they submit). Each subscriber has a bounded outbox: a slow client loses intermediate
`progress_update`s (the next one supersedes them), never a final message, and never slows the
publisher; a client that cannot take even a final message is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from app.tasks.records import Task, TaskState

log = logging.getLogger("app.progress")

def message(type_: str, **fields: Any) -> dict[str, Any]:
    """A server message: every one carries `type` and `timestamp` (ISO 8601, UTC)."""
    return {"type": type_, "timestamp": datetime.now(timezone.utc).isoformat(), **fields}


def final_message(task: Task) -> dict[str, Any] | None:
    """The message that ends a task's stream (None while it is live)."""
    base = {"task_id": task.task_id, "elapsed_time": task.elapsed}
    if task.status == TaskState.COMPLETED:
        return message("task_completed", **base, result_path=task.result_path, total_regions=task.total_regions)
    if task.status == TaskState.ERROR:
        return message("task_failed", **base, error=task.error, error_message=task.error)
    if task.status == TaskState.CANCELLED:
        return message("task_cancelled", **base)
    return None


class Subscriber:
    """One listener (a WebSocket connection) with its own bounded outbox."""

    def __init__(self, connection_id: str, maxsize: int = 64, max_subscriptions: int = 1000):
        self.connection_id = connection_id
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.tasks: set[str] = set()
        self.max_subscriptions = max_subscriptions
        self.close_requested = asyncio.Event()  # overflow or shutdown: the connection closes (1001)

    def offer(self, msg: dict[str, Any]) -> None:
        try:
            self.outbox.put_nowait(msg)
        except asyncio.QueueFull:
            if msg["type"] == "progress_update":
                return  # superseded by the next update
            self.close_requested.set()  # a final message cannot be delivered: the connection closes


class ProgressHub:
    """This process's fan-out: the event bus of TASK_BACKEND=memory (app.tasks.redis.bus.RelayBus adds
    the other replicas)."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscriber]] = defaultdict(set)
        self.connections: set[Subscriber] = set()
        self.published = 0
        self.relays = False  # True when what is published here reaches other replicas too

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def connect(self, sub: Subscriber) -> None:
        self.connections.add(sub)

    def disconnect(self, sub: Subscriber) -> None:
        self.connections.discard(sub)
        for tid in list(sub.tasks):
            self.unsubscribe(tid, sub)

    def subscribe(self, task_id: str, sub: Subscriber) -> bool:
        if task_id not in sub.tasks and len(sub.tasks) >= sub.max_subscriptions:
            return False
        self._subs[task_id].add(sub)
        sub.tasks.add(task_id)
        return True

    def unsubscribe(self, task_id: str, sub: Subscriber) -> None:
        subs = self._subs.get(task_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[task_id]
        sub.tasks.discard(task_id)

    def subscribers(self, task_id: str) -> int:
        return len(self._subs.get(task_id, ()))

    def publish(self, task_id: str, msg: dict[str, Any]) -> None:
        """Fan out to the task's subscribers (event-loop thread only; never blocks)."""
        self.published += 1
        for sub in list(self._subs.get(task_id, ())):
            sub.offer(msg)

    def close_all(self) -> None:
        for sub in list(self.connections):
            sub.close_requested.set()
