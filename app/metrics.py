"""Prometheus metrics, one registry per app (so several apps in one process stay apart)."""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401  (re-exported for the route)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("iopaint_http_requests_total", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("iopaint_http_request_duration_seconds", "HTTP request latency by route",
                                 ["method", "route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.stage = Histogram("iopaint_pipeline_stage_seconds", "Pipeline time by model and stage",
                               ["model", "stage"], buckets=_LATENCY_BUCKETS, registry=r)
        self.jobs = Counter("iopaint_pipeline_jobs_total", "Images processed by model and outcome",
                            ["model", "outcome"], registry=r)
        self.queue = Gauge("iopaint_queue_jobs", "Jobs admitted to the inference queue", ["state"], registry=r)
        self.active_tasks = Gauge("iopaint_active_tasks",
                                  "Async tasks pending or running (the whole service's with TASK_BACKEND=redis)",
                                  registry=r)
        self.active_tasks_here = Gauge("iopaint_active_tasks_here", "Async tasks this replica runs now", registry=r)
        self.ws = Gauge("iopaint_websocket_connections", "Open WebSocket progress connections", registry=r)
        self.backend_up = Gauge("iopaint_task_backend_up", "1 when the task store answers (Redis; always 1 in memory)",
                                ["backend"], registry=r)
        self.shared_queue = Gauge("iopaint_shared_queue_jobs",
                                  "TASK_BACKEND=redis: the queue every replica shares (waiting, held by a replica, live)",
                                  ["state"], registry=r)
        self.model_state = Gauge("iopaint_model_loaded", "1 when the model is loaded and serving",
                                 ["requested", "active", "fallback"], registry=r)

    def observe_pipeline(self, model: str, timings: dict[str, float], outcome: str = "ok") -> None:
        for stage, seconds in timings.items():
            self.stage.labels(model, stage).observe(seconds)
        self.jobs.labels(model, outcome).inc()

    def render(self, refresh: Callable[[], None] | None = None) -> bytes:
        if refresh:
            refresh()
        return generate_latest(self.registry)
