"""The bounded queue in front of the model, and the worker threads that run the pipeline.

Sync routes and async tasks share it: a job first reserves a slot (admission: at most
`max_queue` jobs waiting or running, otherwise `Busy` -> 503 with Retry-After), then runs in a
worker thread, never on the event loop. A slot is released when its work really ends, not when
a client stops waiting, so the bound always counts the work the machine is doing.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from app.errors import queue_full


class Slot:
    """A place in the queue. Release it once (the runner does, when the work ends)."""

    def __init__(self, runner: InferenceRunner):
        self._runner = runner
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._runner._release()


class InferenceRunner:
    def __init__(self, workers: int, max_queue: int):
        self.workers = workers
        self.max_queue = max_queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inference")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self._avg_seconds = 1.0  # moving average of job time, for Retry-After and estimates
        self.completed = 0

    # --- admission ---
    def reserve(self) -> Slot:
        with self._lock:
            if self._admitted >= self.max_queue:
                raise queue_full(self._admitted, self.max_queue, self.retry_after())
            self._admitted += 1
        return Slot(self)

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def retry_after(self) -> int:
        return max(1, math.ceil(self._avg_seconds * max(1, self._admitted) / self.workers))

    # --- execution ---
    def submit(self, slot: Slot, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Queue fn(*args) for a worker thread; the slot is released when it ends, or at once if
        the returned future is cancelled before a worker took it."""

        def work() -> Any:
            started = time.perf_counter()
            with self._lock:
                self._running += 1
            try:
                return fn(*args)
            finally:
                took = time.perf_counter() - started
                with self._lock:
                    self._running -= 1
                    self.completed += 1
                    self._avg_seconds = 0.8 * self._avg_seconds + 0.2 * took
                slot.release()

        try:
            cf = self._executor.submit(work)
        except BaseException:
            slot.release()
            raise
        def release_if_dropped(f: Future[Any]) -> None:
            if f.cancelled():  # dropped before a worker took it
                slot.release()

        cf.add_done_callback(release_if_dropped)
        return cf

    def execute(self, slot: Slot, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """submit(), awaitable from the event loop."""
        return asyncio.wrap_future(self.submit(slot, fn, *args))

    def estimate_seconds(self, ahead: int | None = None) -> float:
        """A rough time until a job admitted now finishes: what is ahead of it, plus itself."""
        ahead = self._admitted if ahead is None else ahead
        return round(self._avg_seconds * (ahead / self.workers + 1), 2)

    @property
    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "queued": self._admitted - self._running,
                "running": self._running,
                "capacity": self.max_queue,
                "workers": self.workers,
            }

    def shutdown(self, wait: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=True)
