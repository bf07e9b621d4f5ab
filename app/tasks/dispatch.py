"""Where a task's work runs: the dispatcher hands admitted tasks to `TaskManager.execute`.

Two implementations, chosen at start-up (app.main.build_tasks):
- `LocalDispatcher` (app.tasks.local.dispatch, TASK_BACKEND=memory): a runner slot at submit, and
  the run starts at once.
- `StreamDispatcher` (app.tasks.redis.dispatch, TASK_BACKEND=redis): the store's stream is the
  queue, read by any replica with a free inference slot.
"""

from __future__ import annotations

from typing import Any, Callable, Coroutine, Protocol

from app.execution.runner import Slot

Execute = Callable[[str, Slot, "str | None"], Coroutine[Any, Any, bool]]  # TaskManager.execute: False when there was nothing to run
CancelHere = Callable[[str], None]


class Dispatcher(Protocol):
    hands_back: bool  # True: work still running at shutdown goes back to the queue (else it is cancelled)

    async def start(self) -> None: ...

    def dispatch(self, task_id: str) -> None:
        """A task was admitted: start it here now (Busy without a slot), or leave it to the queue."""
        ...

    def pause(self) -> None:
        """Take no new work (shutting down)."""
        ...

    async def hand_back(self, task_id: str) -> bool: ...

    async def close(self) -> None: ...

    def state(self) -> dict[str, Any]: ...
