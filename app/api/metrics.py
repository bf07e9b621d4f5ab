"""GET /metrics: Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from app.api.deps import Services, ServicesDep
from app.tasks.manager import Activity
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter(tags=["info"])


def _refresh(s: Services, activity: Activity) -> None:
    """Gauges that are read, not counted: set them at scrape time."""
    m, q = s.metrics, s.runner.stats
    m.queue.labels("queued").set(q["queued"])
    m.queue.labels("running").set(q["running"])
    m.active_tasks.set(activity.active_tasks)
    m.active_tasks_here.set(activity.active_tasks_here)
    m.ws.set(activity.websocket_connections)
    backend = s.tasks.backend_state()
    m.backend_up.clear()
    m.backend_up.labels(backend.reach.backend).set(1 if backend.reach.state == "up" else 0)
    for state, n in (backend.queue or {}).items():
        m.shared_queue.labels(state).set(n)
    st = s.models.status
    m.model_state.clear()
    m.model_state.labels(st.requested, st.active or "", str(st.fallback).lower()).set(1 if st.state == "ready" else 0)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, responses={200: {
    "description": "Prometheus text exposition format",
    "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def metrics(s: ServicesDep) -> Response:
    activity = await s.tasks.activity()
    return Response(s.metrics.render(lambda: _refresh(s, activity)), media_type=CONTENT_TYPE_LATEST)
