"""The event bus: progress and final messages to every WebSocket subscriber, on every replica.

Two implementations, chosen at start-up: `LocalBus` (app.tasks.progress: this process only,
TASK_BACKEND=memory) and `RelayBus` (app.tasks.redis.bus, Redis pub/sub: what is published on one
replica reaches the subscribers of all, and cancels reach the replica running the task).
"""

from __future__ import annotations

from typing import Protocol

from app.tasks.progress import Message, Subscriber

FINALS = ("task_completed", "task_failed", "task_cancelled")


class EventBus(Protocol):
    connections: set[Subscriber]
    relays: bool  # messages reach other replicas (their subscribers are not counted here)

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def connect(self, sub: Subscriber) -> None: ...

    def disconnect(self, sub: Subscriber) -> None: ...

    def subscribe(self, task_id: str, sub: Subscriber) -> bool: ...

    def unsubscribe(self, task_id: str, sub: Subscriber) -> None: ...

    def subscribers(self, task_id: str) -> int: ...

    def publish(self, task_id: str, msg: Message) -> None: ...

    def close_all(self) -> None: ...
