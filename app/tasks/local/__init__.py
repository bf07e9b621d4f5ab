"""The task backend of this process (TASK_BACKEND=memory, the default): its store (store.py), its
dispatcher (dispatch.py), and this process's hub as its bus (app.tasks.progress, which the Redis
bus builds on too; nothing to relay here).
"""

from __future__ import annotations

from app.execution.runner import InferenceRunner
from app.tasks.backend import Backend, BuildBackend, Hooks
from app.tasks.local.dispatch import LocalDispatcher
from app.tasks.local.store import MemoryStore
from app.tasks.progress import LocalBus


def local_backend(store: MemoryStore, runner: InferenceRunner) -> BuildBackend:
    """The memory backend, for one manager. Memory always answers and never loses a live record, and
    no cancel comes from elsewhere: only the dispatcher calls back (to run a task it started)."""

    def build(hooks: Hooks) -> Backend:
        return Backend(store, LocalBus(), LocalDispatcher(runner, hooks.execute))

    return build
