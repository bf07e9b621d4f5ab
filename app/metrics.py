"""Prometheus metrics, one registry per app (so several apps in one process stay apart)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass(frozen=True)
class ModelTime:
    """The model's own time against the rest, per image since start (health's `inference`); the
    means are None before the first image."""

    images: int
    model_seconds_mean: float | None
    other_seconds_mean: float | None
    model_share: float | None


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
        self.model_time = Histogram(
            "iopaint_model_seconds", "The model's own time per image: every forward pass, verification's repaints "
            "included (the rest of the request is iopaint_image_seconds minus this)", ["model"],
            buckets=_LATENCY_BUCKETS, registry=r)
        self.image_time = Histogram("iopaint_image_seconds", "Pipeline time per image, decode to encode", ["model"],
                                    buckets=_LATENCY_BUCKETS, registry=r)
        self._lock = threading.Lock()
        self._images, self._model_sum, self._image_sum = 0, 0.0, 0.0
        self.model_state = Gauge("iopaint_model_loaded", "1 when the model is loaded and serving",
                                 ["requested", "active", "fallback"], registry=r)

    def observe_pipeline(self, model: str, timings: dict[str, float], outcome: str = "ok") -> None:
        for stage, seconds in timings.items():
            self.stage.labels(model, stage).observe(seconds)
        self.jobs.labels(model, outcome).inc()
        if "model" in timings:  # an image through the pipeline (detect-text jobs have no model stage)
            total = sum(timings.values())
            self.model_time.labels(model).observe(timings["model"])
            self.image_time.labels(model).observe(total)
            with self._lock:
                self._images += 1
                self._model_sum += timings["model"]
                self._image_sum += total

    def model_time_summary(self) -> ModelTime:
        """The model's own time against the rest, per image since start (health's `inference`)."""
        with self._lock:
            n, model, total = self._images, self._model_sum, self._image_sum
        if not n:
            return ModelTime(images=0, model_seconds_mean=None, other_seconds_mean=None, model_share=None)
        return ModelTime(images=n, model_seconds_mean=round(model / n, 4),
                         other_seconds_mean=round((total - model) / n, 4),
                         model_share=round(model / total, 4) if total > 0 else None)

    def render(self, refresh: Callable[[], None] | None = None) -> bytes:
        if refresh:
            refresh()
        return generate_latest(self.registry)
