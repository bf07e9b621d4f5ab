"""The server's messages (API.md, WebSocket), and the publish/subscribe hub: the task manager
publishes, WebSocket connections listen.

A message is a dataclass of its kind; `encode` gives the JSON a WebSocket sends, `wire` the form a
relay to other replicas carries, and `parse` reads that form back (app.tasks.bus.RelayBus).

Subscriptions are kept by task id whether or not the task exists yet (backends subscribe before
they submit). Each subscriber has a bounded mailbox: a slow client loses intermediate
`progress_update`s (the next one supersedes them), never a final message, and never slows the
publisher; a client that cannot take even a final message is disconnected.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from app.engine.pipeline import Stage
from app.tasks.records import ItemStatus, Task, TaskSnapshot, TaskState
from app.wire import OMIT_NONE, plain, read

log = logging.getLogger("app.progress")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass(frozen=True, kw_only=True)
class Message:
    """A server message: every one carries `type` and `timestamp` (ISO 8601, UTC), then its fields."""

    type: str
    timestamp: str = field(default_factory=_now)


@dataclass(frozen=True, kw_only=True)
class Notice(Message):
    """The connection's own: task_subscribed, task_unsubscribed, pong, error (with its `message`)."""

    message: str | None = field(default=None, metadata=OMIT_NONE)
    task_id: str | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, kw_only=True)
class Welcome(Message):
    """A connection's first message."""

    type: str = "connection_established"
    connection_id: str
    task_id: str | None  # the task it follows from the start (/ws/progress/{task_id})


@dataclass(frozen=True, kw_only=True)
class ProgressUpdate(Message):
    """Where a task stands (its snapshot's fields, `progress` its overall progress)."""

    type: str = "progress_update"
    progress: float
    task_id: str
    status: TaskState
    stage: Stage | None
    overall_progress: float
    stage_progress: float
    current_region: int
    total_regions: int
    message: str
    elapsed_time: float
    estimated_remaining: float | None
    error: str | None
    result_path: str | None
    items: list[ItemStatus] | None = field(default=None, metadata=OMIT_NONE)  # a batch's
    # with a relay: the task's creation time, which tells a task from an older one with the same id
    created: float | None = field(default=None, metadata=OMIT_NONE)

    @classmethod
    def of(cls, s: TaskSnapshot, created: float | None = None) -> ProgressUpdate:
        return cls(progress=s.overall_progress, task_id=s.task_id, status=s.status, stage=s.stage,
                   overall_progress=s.overall_progress, stage_progress=s.stage_progress,
                   current_region=s.current_region, total_regions=s.total_regions, message=s.message,
                   elapsed_time=s.elapsed_time, estimated_remaining=s.estimated_remaining, error=s.error,
                   result_path=s.result_path, items=s.items, created=created)


@dataclass(frozen=True, kw_only=True)
class TaskCompleted(Message):
    type: str = "task_completed"
    task_id: str
    elapsed_time: float
    result_path: str | None
    total_regions: int


@dataclass(frozen=True, kw_only=True)
class TaskFailed(Message):
    type: str = "task_failed"
    task_id: str
    elapsed_time: float
    error: str | None
    error_message: str | None  # the same as `error` (older clients read this one)


@dataclass(frozen=True, kw_only=True)
class TaskCancelled(Message):
    type: str = "task_cancelled"
    task_id: str
    elapsed_time: float


_RELAYED: dict[str, type[Message]] = {"progress_update": ProgressUpdate, "task_completed": TaskCompleted,
                                      "task_failed": TaskFailed, "task_cancelled": TaskCancelled}


def final_message(task: Task) -> Message | None:
    """The message that ends a task's stream (None while it is live)."""
    if task.status == TaskState.COMPLETED:
        return TaskCompleted(task_id=task.task_id, elapsed_time=task.elapsed, result_path=task.result_path,
                             total_regions=task.total_regions)
    if task.status == TaskState.ERROR:
        return TaskFailed(task_id=task.task_id, elapsed_time=task.elapsed, error=task.error, error_message=task.error)
    if task.status == TaskState.CANCELLED:
        return TaskCancelled(task_id=task.task_id, elapsed_time=task.elapsed)
    return None


def wire(msg: Message) -> dict[str, Any]:
    """A message's JSON form: `type`, `timestamp`, then its fields in order."""
    form: dict[str, Any] = plain(msg)
    return form


def encode(msg: Message) -> str:
    """The text a WebSocket sends."""
    return json.dumps(wire(msg))


def parse(form: dict[str, Any]) -> Message:
    """A task's message heard from another replica (`wire`'s form) as the message it was; a
    ValidationError or a KeyError for anything else."""
    return read(_RELAYED[form["type"]], form)


class Subscriber:
    """One listener (a WebSocket connection) with its own bounded mailbox."""

    def __init__(self, connection_id: str, maxsize: int = 64, max_subscriptions: int = 1000):
        self.connection_id = connection_id
        self.mailbox: asyncio.Queue[Message] = asyncio.Queue(maxsize)
        self.tasks: set[str] = set()
        self.max_subscriptions = max_subscriptions
        self.close_requested = asyncio.Event()  # overflow or shutdown: the connection closes (1001)

    def offer(self, msg: Message) -> None:
        try:
            self.mailbox.put_nowait(msg)
        except asyncio.QueueFull:
            if isinstance(msg, ProgressUpdate):
                return  # superseded by the next update
            self.close_requested.set()  # a final message cannot be delivered: the connection closes


class LocalBus:
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

    def publish(self, task_id: str, msg: Message) -> None:
        """Fan out to the task's subscribers (event-loop thread only; never blocks)."""
        self.published += 1
        for sub in list(self._subs.get(task_id, ())):
            sub.offer(msg)

    def close_all(self) -> None:
        for sub in list(self.connections):
            sub.close_requested.set()
