"""Both WebSocket progress channels. A connection is a hub subscriber with a bounded mailbox and
one sender; the receive loop answers client messages. A bad client message gets an `error`
message, never a dropped connection. The service closes connections with 1000 or 1001 only."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.errors import ServiceError
from app.tasks.manager import TaskManager
from app.tasks.progress import Message, Notice, Subscriber, Welcome, encode
from app.tasks.records import Task

log = logging.getLogger("app.ws")
router = APIRouter(prefix="/api/v1")

SEND_TIMEOUT = 10.0  # seconds a send may take before the client counts as dead
MAX_MESSAGE = 64 * 1024  # bytes of one client message


class Connection:
    def __init__(self, ws: WebSocket, tasks: TaskManager):
        self.ws, self.tasks, self.hub = ws, tasks, tasks.bus
        self.sub = Subscriber(uuid.uuid4().hex[:12])

    def send(self, msg: Message) -> None:
        self.sub.offer(msg)

    async def sender(self) -> None:
        while True:
            msg = await self.sub.mailbox.get()
            await asyncio.wait_for(self.ws.send_text(encode(msg)), SEND_TIMEOUT)

    async def subscribe(self, task_id: str) -> None:
        if not self.hub.subscribe(task_id, self.sub):
            self.send(Notice(type="error", message="too many subscriptions on this connection", task_id=task_id))
            return
        self.send(Notice(type="task_subscribed", task_id=task_id))
        task = await self._find(task_id)
        if task is not None:  # a late subscriber learns the current (or final) state at once
            for msg in self.tasks.state_messages(task):
                self.send(msg)

    async def _find(self, task_id: str) -> Task | None:
        try:
            return await self.tasks.find(task_id)
        except ServiceError:  # the task store is unreachable: no current state to tell
            return None

    async def handle(self, raw: str) -> None:
        if raw.strip().lower() == "ping":
            return self.send(Notice(type="pong"))
        try:
            msg = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            return self.send(Notice(type="error", message="messages must be JSON objects with a `type`"))
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            return self.send(Notice(type="error", message="messages must be JSON objects with a `type`"))
        kind = msg["type"]
        task_id = msg.get("task_id")
        if kind == "ping":
            return self.send(Notice(type="pong"))
        if kind not in ("subscribe_task", "unsubscribe_task", "get_task_status", "cancel_task"):
            return self.send(Notice(type="error", message=f"unknown message type {kind!r}"))
        if not isinstance(task_id, str) or not task_id or len(task_id) > 200:
            return self.send(Notice(type="error", message=f"{kind} needs a task_id"))
        if kind == "subscribe_task":
            return await self.subscribe(task_id)
        if kind == "unsubscribe_task":
            self.hub.unsubscribe(task_id, self.sub)
            return self.send(Notice(type="task_unsubscribed", task_id=task_id))
        task = await self._find(task_id)
        if task is None:
            return self.send(Notice(type="error", message=f"unknown task {task_id!r}", task_id=task_id))
        if kind == "get_task_status":
            return self.send(self.tasks.progress_message(task))
        was_subscribed = task_id in self.sub.tasks
        try:
            task = await self.tasks.cancel_task(task_id)
        except ServiceError as e:
            return self.send(Notice(type="error", message=e.detail, task_id=task_id))
        if not was_subscribed:  # subscribers hear it from the hub; tell the asker directly
            self.send(self.tasks.progress_message(task))

    async def serve(self, task_id: str | None) -> None:
        self.hub.connect(self.sub)
        sender = asyncio.create_task(self.sender())
        closer = asyncio.create_task(self.sub.close_requested.wait())
        self.send(Welcome(connection_id=self.sub.connection_id, task_id=task_id))
        if task_id:
            await self.subscribe(task_id)
        try:
            while True:
                receive = asyncio.create_task(self.ws.receive())
                done, _ = await asyncio.wait({receive, sender, closer}, return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    receive.cancel()
                    if closer in done:  # shutdown, or a client too slow for a final message
                        sender.cancel()
                        await self._flush()  # what is queued (a task's end at shutdown) goes first
                        await self._close(1001, "going away")
                    break  # the sender ended: the client is gone or stalled
                event = receive.result()
                if event["type"] == "websocket.disconnect":
                    break
                text = event.get("text")
                if text is None and event.get("bytes") is not None:
                    text = event["bytes"].decode("utf-8", "replace")
                if text is None or len(text) > MAX_MESSAGE:
                    self.send(Notice(type="error", message=f"messages must be text JSON under {MAX_MESSAGE} bytes"))
                    continue
                await self.handle(text)
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            pass
        finally:
            for t in (sender, closer):
                t.cancel()
                if t.done() and not t.cancelled():
                    t.exception()  # a dead client's send error: expected, not worth a log line
            self.hub.disconnect(self.sub)

    async def _flush(self, timeout: float = 2.0) -> None:
        """Send what the mailbox still holds, within `timeout` in all."""
        async def drain() -> None:
            while not self.sub.mailbox.empty():
                await self.ws.send_text(encode(self.sub.mailbox.get_nowait()))
        try:
            await asyncio.wait_for(drain(), timeout)
        except Exception:
            pass  # a client too slow or gone: it is closed all the same

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code, reason), 2)
        except Exception:
            pass


async def _serve(ws: WebSocket, task_id: str | None) -> None:
    tasks: TaskManager = ws.app.state.services.tasks
    limit = ws.app.state.services.settings.ws_max_connections
    await ws.accept()
    if tasks.connections() >= limit or tasks.closing:
        await ws.close(1001, "too many connections" if not tasks.closing else "shutting down")
        return
    await Connection(ws, tasks).serve(task_id)


@router.websocket("/ws/progress/{task_id}")
async def progress_for_task(websocket: WebSocket, task_id: str) -> None:
    """Subscribed to `task_id` from the start (it may be submitted after connecting)."""
    await _serve(websocket, task_id)


@router.websocket("/ws/progress")
async def progress_channel(websocket: WebSocket) -> None:
    """The general channel: subscribe with {"type": "subscribe_task", "task_id": ...}."""
    await _serve(websocket, None)
