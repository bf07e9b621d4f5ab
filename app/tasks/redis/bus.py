"""The event bus on Redis (TASK_BACKEND=redis): this replica's fan-out (app.tasks.progress's hub),
and a relay through Redis pub/sub, so that what is published on one replica reaches the
subscribers of all, and cancels reach the replica running the task.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from app.tasks.bus import FINALS
from app.tasks.progress import LocalBus, Message, ProgressUpdate, parse, wire
from app.tasks.records import FINISHED, TaskState
from app.tasks.redis.store import CANCELS, EVENTS, OUTAGE, Connections, is_outage

log = logging.getLogger("app.tasks.bus")

MAX_UNPUBLISHED = 10_000  # messages waiting to be published; beyond it intermediate progress is dropped


@dataclass
class Seen:
    """What Freshness remembers of one task: enough to tell a stale message from a fresh one."""

    created: float  # the task's `created`: a larger one is a new task under the same id
    progress: float  # the highest overall_progress passed on
    started: bool  # a status past pending was passed on (pending again is stale)
    ended: bool  # a finished status or a final message was passed on: no progress after it
    final: bool  # the final message was passed on (one per task)


class Freshness:
    """Messages about one task can come from two replicas (the one that admitted it, the one that
    runs it, or a new one after a crash), so they may cross on the way. A stale one is dropped, so
    subscribers see progress that never goes down and one final message. Progress messages carry
    the task's `created`, which tells a new task that reuses an id from the old one."""

    def __init__(self, remember: int = 10_000):
        self._seen: OrderedDict[str, Seen] = OrderedDict()
        self._remember = remember

    def fresh(self, task_id: str, msg: Message) -> bool:
        seen = self._seen.get(task_id)
        if isinstance(msg, ProgressUpdate):
            created = msg.created or 0.0
            if seen is None or created > seen.created:  # the first message of this task (or of a new one)
                seen = Seen(created, 0.0, started=False, ended=False, final=False)
            elif created < seen.created or seen.ended:  # an older task's, or after this one ended
                return False
            progress, status = msg.overall_progress or 0.0, msg.status
            if progress < seen.progress or (seen.started and status == TaskState.PENDING):
                return False
            seen.progress, seen.started = progress, seen.started or status != TaskState.PENDING
            seen.ended = status in FINISHED
        elif msg.type in FINALS:
            if seen is not None and seen.final:
                return False  # one final message per task
            seen = seen or Seen(0.0, 100.0, started=True, ended=True, final=False)
            seen.ended = seen.final = True
        else:
            return True
        self._seen[task_id] = seen
        self._seen.move_to_end(task_id)
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return True


class RelayBus(LocalBus):
    """This replica's fan-out, and a relay through Redis pub/sub to and from the others."""

    def __init__(self, conns: Connections, replica: str, on_error: Callable[[Exception | None], None] = lambda _: None,
                 on_cancel: Callable[[str], None] = lambda _: None):
        super().__init__()
        self.conns, self.replica = conns, replica
        self.on_error = on_error  # the relay's reachability
        self.on_cancel = on_cancel  # a cancel asked on another replica
        self._freshness = Freshness()
        self._own_prefix = json.dumps({"o": replica}, separators=(",", ":"))[:-1].encode() + b","
        self._events: list[str] = []
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self.closing = False
        self.relays = True

    async def start(self) -> None:
        if not self._loops:
            self._loops = [asyncio.create_task(self._write()), asyncio.create_task(self._listen())]

    async def close(self) -> None:
        self.closing = True
        self._wake.set()  # let the last messages out
        await asyncio.sleep(0.05)
        for t in self._loops:
            t.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)

    def publish(self, task_id: str, msg: Message) -> None:
        self.deliver(task_id, msg)
        if len(self._events) >= MAX_UNPUBLISHED and isinstance(msg, ProgressUpdate):
            return
        self._events.append(json.dumps({"o": self.replica, "t": task_id, "m": wire(msg)}, separators=(",", ":")))
        self._wake.set()

    def deliver(self, task_id: str, msg: Message) -> None:
        """A message for this replica's subscribers (published here, or heard from another)."""
        if self._freshness.fresh(task_id, msg):
            super().publish(task_id, msg)

    async def _write(self) -> None:
        """Publishes in batches: one round trip per batch, order kept."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            events, self._events = self._events, []
            if not events:
                continue
            try:
                async with self.conns.redis.pipeline(transaction=False) as pipe:
                    for ev in events:
                        pipe.publish(EVENTS, ev)
                    await pipe.execute()
                self.on_error(None)
            except OUTAGE as e:  # these messages are lost; the next ones go out once Redis is back
                if not is_outage(e):
                    raise
                self.on_error(e)
                await asyncio.sleep(0.5)

    async def _listen(self) -> None:
        """Hears other replicas' messages and cancels; subscribes again after an outage or failover."""
        while not self.closing:
            pubsub = self.conns.pubsub.pubsub()
            try:
                await pubsub.subscribe(EVENTS, CANCELS)
                self.on_error(None)
                while not self.closing:
                    m = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if m is None:
                        continue
                    if m["channel"] == CANCELS.encode():
                        self.on_cancel(m["data"].decode())
                    elif not m["data"].startswith(self._own_prefix):  # this replica's own: delivered already
                        ev = json.loads(m["data"])
                        self.deliver(ev["t"], parse(ev["m"]))
            except asyncio.CancelledError:
                raise
            except (*OUTAGE, OSError, ValueError, KeyError, TypeError) as e:  # an outage, or a message not ours
                if isinstance(e, RuntimeError) and not is_outage(e):
                    raise
                self.on_error(e)
                await asyncio.sleep(0.5)
            finally:
                try:
                    await asyncio.wait_for(pubsub.aclose(), 1)  # type: ignore[no-untyped-call]
                except Exception:
                    pass
