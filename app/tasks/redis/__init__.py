"""The task backend every replica shares (TASK_BACKEND=redis): its store (store.py, its Lua in
scripts.py), its relay bus (bus.py) and its stream dispatcher (dispatch.py), over one set of
connections (store.connect).
"""

from __future__ import annotations

from typing import Callable

from app.execution.runner import InferenceRunner
from app.tasks.backend import Backend, BuildBackend, Hooks
from app.tasks.redis.bus import RelayBus
from app.tasks.redis.dispatch import StreamDispatcher
from app.tasks.redis.store import Connections, RedisStore


def redis_backend(conns: Connections, runner: InferenceRunner, replica: str, *, retention: float,
                  max_result_bytes: int, max_records: int, claim_idle: float, runs_work: bool,
                  can_run: Callable[[], bool]) -> BuildBackend:
    """The Redis backend, for one manager. The store and the relay tell it whether Redis answers; the
    store, a relayed cancel and the dispatcher's cancel flags stop a run here; the dispatcher runs
    what it takes from the queue (`runs_work`: this replica takes work; `can_run`: it has a model
    now). `claim_idle` is also the lease of a new callback."""

    def build(hooks: Hooks) -> Backend:
        store = RedisStore(conns, retention, max_result_bytes, max_records, lease=claim_idle,
                           on_error=hooks.reached, gone=hooks.cancel_here)
        bus = RelayBus(conns, replica, on_error=hooks.reached, on_cancel=hooks.cancel_here)
        dispatcher = StreamDispatcher(store, runner, replica, hooks.execute, hooks.cancel_here, claim_idle=claim_idle,
                                      runs_work=runs_work, can_run=can_run)
        return Backend(store, bus, dispatcher)

    return build
