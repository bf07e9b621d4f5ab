"""Where a task's work runs in this process (TASK_BACKEND=memory): a runner slot at submit (503
`queue_full` when there is none; sync requests share the slots), and the run starts at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.execution.runner import InferenceRunner
from app.tasks.dispatch import Execute


class LocalDispatcher:
    hands_back = False

    def __init__(self, runner: InferenceRunner, execute: Execute):
        self.runner = runner
        self._execute = execute  # the manager's: run the task here, under the slot reserved for it
        self._executing: set[asyncio.Task[bool]] = set()

    async def start(self) -> None:
        pass

    def dispatch(self, task_id: str) -> None:
        slot = self.runner.reserve()  # Busy: 503 queue_full (the store forgets the task)
        t = asyncio.create_task(self._execute(task_id, slot, None))
        self._executing.add(t)
        t.add_done_callback(self._executing.discard)

    def pause(self) -> None:
        pass

    async def hand_back(self, task_id: str) -> bool:
        return False

    async def close(self) -> None:
        pass

    def state(self) -> dict[str, Any]:
        return {}
