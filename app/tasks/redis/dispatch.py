"""Where a task's work runs on Redis (TASK_BACKEND=redis): the store's stream is the queue. A
replica reads an entry only when it has a free inference slot, keeps the entries it runs claimed
with a heartbeat, takes over entries whose replica stopped heartbeating (QUEUE_CLAIM_IDLE), and on
a graceful stop hands back what it could not finish. An entry whose task has ended or vanished is
acknowledged and dropped. A Redis that came back empty loses its group: the store recreates it on
the first NOGROUP, and new entries run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from app.errors import Busy
from app.execution.runner import InferenceRunner, Slot
from app.tasks.dispatch import CancelHere, Execute
from app.tasks.redis.store import RedisStore
from app.tasks.store import StoreUnavailable

log = logging.getLogger("app.tasks.dispatch")


class StreamDispatcher:
    hands_back = True

    def __init__(self, store: RedisStore, runner: InferenceRunner, replica: str, execute: Execute,
                 cancel_here: CancelHere, *, claim_idle: float = 10.0, runs_work: bool = True,
                 can_run: Callable[[], bool] = lambda: True):
        self.store, self.runner, self.replica, self.claim_idle = store, runner, replica, claim_idle
        # the manager's: run a task taken from the queue here; stop the run here of one cancelled elsewhere
        self._execute, self._cancel_here = execute, cancel_here
        self.runs_work, self.can_run = runs_work, can_run
        self.entries: dict[str, str] = {}  # task id -> its queue entry, while it runs here
        self.queue_figures: dict[str, int] = {}
        self.taken_over = 0
        self._loops: list[asyncio.Task[None]] = []
        self._executing: set[asyncio.Task[None]] = set()
        self._paused = False
        self._freed = asyncio.Event()

    async def start(self) -> None:
        if self._loops:
            return
        self._loops = [asyncio.create_task(self._monitor())]
        if self.runs_work:
            self._loops.append(asyncio.create_task(self._consume()))

    def dispatch(self, task_id: str) -> None:
        pass  # the store's submit script queued it: a replica with a free slot takes it

    def pause(self) -> None:
        self._paused = True
        if len(self._loops) > 1:
            self._loops[1].cancel()

    def _free_slot(self) -> bool:
        q = self.runner.stats
        return q["queued"] + q["running"] < self.runner.workers

    async def _consume(self) -> None:
        idle_ms = int(self.claim_idle * 1000)
        while not self._paused:
            if not self.can_run() or not self._free_slot():
                self._freed.clear()
                try:  # woken when a run here ends; the timeout covers sync requests and model loading
                    await asyncio.wait_for(self._freed.wait(), 0.05)
                except asyncio.TimeoutError:
                    pass
                continue
            try:
                slot = self.runner.reserve()
            except Busy:
                await asyncio.sleep(0.05)
                continue
            try:
                got = await self.store.take_over(self.replica, idle_ms)
                if got is not None:
                    self.taken_over += 1
                    log.warning("taking over task_id=%s: its replica stopped (no heartbeat for %.0f s)",
                                got[1], self.claim_idle)
                else:
                    got = await self.store.take(self.replica, block_ms=500)
            except StoreUnavailable:
                slot.release()
                await asyncio.sleep(0.5)
                continue
            except Exception:  # an entry this code cannot read: logged, and the loop goes on
                slot.release()
                log.exception("the queue could not be read")
                await asyncio.sleep(0.5)
                continue
            except BaseException:
                slot.release()
                raise
            if got is None:
                slot.release()
                continue
            entry_id, task_id = got
            self.entries[task_id] = entry_id
            t = asyncio.create_task(self._consume_entry(task_id, slot, entry_id))
            self._executing.add(t)
            t.add_done_callback(self._executing.discard)

    async def _consume_entry(self, task_id: str, slot: Slot, entry_id: str) -> None:
        try:
            if not await self._execute(task_id, slot, entry_id):  # ended, or its record vanished
                await self.store.ack(entry_id)
        except Exception:  # the entry stays ours: taken over after the claim idle time
            log.exception("task %s could not be run here; another replica takes it over", task_id)
        finally:
            slot.release()  # a no-op once the runner has released it
            if self.entries.get(task_id) == entry_id:
                del self.entries[task_id]
            self._freed.set()

    async def _monitor(self) -> None:
        """Heartbeats for the entries run here, cancel flags, and the shared queue's figures."""
        period = max(0.2, min(1.0, self.claim_idle / 4))
        while True:
            try:
                ids = list(self.entries)
                if ids:
                    await self.store.heartbeat(self.replica, [self.entries[t] for t in ids if t in self.entries])
                    for tid, flag in zip(ids, await self.store.cancel_flags(ids)):
                        if flag:
                            self._cancel_here(tid)
                self.queue_figures = await self.store.queue_figures()
            except StoreUnavailable:
                pass  # the store has told the manager it is down
            except Exception:
                log.exception("the queue's heartbeat failed")
            await asyncio.sleep(period)

    async def hand_back(self, task_id: str) -> bool:
        entry = self.entries.get(task_id)
        try:
            await asyncio.wait_for(self.store.hand_back(task_id, entry), self.store.timeout + 1)
        except (StoreUnavailable, asyncio.TimeoutError):
            return False  # still held by this consumer: taken over after the claim idle time
        self.entries.pop(task_id, None)
        log.info("task handed back to the queue task_id=%s", task_id)
        return True

    async def close(self) -> None:
        self.pause()
        if not self.entries:  # nothing held here any more: this consumer can go
            try:
                await asyncio.wait_for(self.store.forget_consumer(self.replica), self.store.timeout)
            except (StoreUnavailable, asyncio.TimeoutError):
                pass
        for t in self._loops:
            t.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)

    def state(self) -> dict[str, Any]:
        return {"runs_work": self.runs_work, "taken_over": self.taken_over, "queue": self.queue_figures}
