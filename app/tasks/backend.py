"""A task backend: a store, an event bus and a dispatcher, built together for one TaskManager.

The manager is built over a `BuildBackend` (app.tasks.local.local_backend, or
app.tasks.redis.redis_backend; app.main.build_tasks chooses). It calls the builder once, with its
`Hooks`: each part is given the calls it makes back at construction, and nothing is bound to a
part afterwards. The parts' interfaces are app.tasks.store, app.tasks.bus and app.tasks.dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from app.tasks.bus import EventBus
from app.tasks.dispatch import CancelHere, Dispatcher, Execute
from app.tasks.store import TaskStore


@dataclass(frozen=True)
class Hooks:
    """What the parts of a backend tell their manager."""

    reached: Callable[[Exception | None], None]  # the store or the relay answered (None), or failed: health's state
    cancel_here: CancelHere  # a cancel asked on another replica, or a live task whose record vanished
    execute: Execute  # run an admitted task here, under the slot the dispatcher reserved


@dataclass(frozen=True)
class Backend:
    store: TaskStore
    bus: EventBus
    dispatcher: Dispatcher


BuildBackend = Callable[[Hooks], Backend]
