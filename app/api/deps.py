"""The routes' service container (built once, in `app.main.build_services`) and its Annotated
dependency. Bodies are read in app.api.bodies; request models map themselves to engine inputs
(app.api.schemas, `to_input()`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Awaitable, Callable

from fastapi import APIRouter, Depends, Request

from app.engine.models import ModelHolder
from app.engine.pipeline import Detector, Limits
from app.execution.runner import InferenceRunner
from app.execution.service import Execution
from app.metrics import Metrics
from app.settings import Settings
from app.tasks.callbacks import CallbackPolicy
from app.tasks.manager import TaskManager
from app.tasks.remote import RemoteWorkers


@dataclass
class Services:
    """Everything the routes use, built once per app. Injected, never imported as globals."""

    settings: Settings
    models: ModelHolder
    runner: InferenceRunner
    limits: Limits
    tasks: TaskManager
    callback_policy: CallbackPolicy
    execution: Execution | RemoteWorkers  # where the routes' work runs: here, or on the workers (ROLE=api)
    metrics: Metrics = field(default_factory=Metrics)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # chosen by ROLE in app.main.build_services, the one place that reads it:
    load: Callable[[], None] = lambda: None  # the start-up loading (nothing on an API-only replica)
    routers: list[APIRouter] = field(default_factory=list)  # what this replica serves

    @property
    def detector(self) -> Detector | None:
        detector: Detector | None = self.models.detector
        return detector


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
