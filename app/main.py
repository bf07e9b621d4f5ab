"""create_app(): settings, services, lifespan (model loading), middleware, routers, error handlers.

A request's way: `app.api.*` (parse, validate) -> `app.tasks.runner` (bounded queue, worker
thread) -> `app.engine.pipeline.run` (pixels). Async tasks add `app.tasks` between the two.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from app import SERVICE_NAME, __version__
from app.api import detect, info, inpaint, metrics as metrics_route, playground, tasks as task_routes, ws
from app.api.deps import Services
from app.metrics import Metrics
from app.api.middleware import ApiKeyAuth, BodySizeLimit, RequestContext
from app.api.openapi import install_openapi
from app.engine.detect import load_detector
from app.engine.models import ModelHolder, apply_model_dir
from app.engine.pipeline import Limits
from app.errors import install_error_handlers
from app.settings import Settings, get_settings
from app.tasks.callbacks import CallbackPolicy, CallbackSender
from app.tasks.manager import TaskManager
from app.tasks.progress import ProgressHub
from app.tasks.redis_store import RedisStore
from app.tasks.registry import TaskRegistry
from app.tasks.replicated import RedisTaskManager
from app.tasks.runner import InferenceRunner

log = logging.getLogger("app")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")


def build_services(settings: Settings) -> Services:
    apply_model_dir(settings.model_dir)
    models = ModelHolder(settings.model, settings.device)
    runner = InferenceRunner(settings.inference_workers, settings.max_queue)
    limits = Limits.from_settings(settings)
    metrics = Metrics()
    policy = CallbackPolicy(settings.callback_allowed_hosts)
    callbacks = CallbackSender(policy, settings.callback_retries, settings.callback_backoff, settings.callback_timeout)
    registry = TaskRegistry(settings.task_retention, settings.task_result_max_bytes, settings.task_max_records)
    if settings.task_backend == "redis":  # shared by every replica: see app/tasks/replicated.py
        store = RedisStore(settings.redis_url, settings.redis_timeout, settings.task_retention,
                           settings.task_result_max_bytes, settings.task_max_records)
        tasks: TaskManager = RedisTaskManager(
            store, registry, runner, callbacks, limits, model=lambda: models.model,
            detector=lambda: models.detector, observe=metrics.observe_pipeline, max_live=settings.max_queue,
            claim_idle=settings.queue_claim_idle, runs_work=settings.role != "api", replica=settings.replica_name)
    else:
        tasks = TaskManager(registry, runner, ProgressHub(), callbacks, limits,
                            model=lambda: models.model, detector=lambda: models.detector,
                            observe=metrics.observe_pipeline)

    async def stop_tasks():
        await tasks.shutdown(settings.shutdown_grace)
        tasks.hub.close_all()
        await callbacks.close()

    services = Services(settings=settings, models=models, runner=runner, limits=limits, tasks=tasks,
                        callback_policy=policy, metrics=metrics, on_shutdown=[stop_tasks])
    if isinstance(tasks, RedisTaskManager):  # detect-text asked on an API-only replica runs here
        tasks.detect_job = functools.partial(detect.run_detection, services)
    return services


@asynccontextmanager
async def lifespan(app: FastAPI):
    s: Services = app.state.services
    cfg = s.settings
    loop = asyncio.get_running_loop()

    def load():
        if cfg.text_detection and s.models.detector is None:
            s.models.detector = load_detector(max_side=cfg.detect_max_side, small_text_side=cfg.detect_small_text_side)
        s.models.load(fallback=cfg.model_fallback, low_mem=cfg.low_mem, cpu_offload=cfg.cpu_offload)

    if s.models.model is None and cfg.role != "api":  # an API-only replica loads no model
        if cfg.model_fallback == "none":
            # no fallback: refuse to start, with the one-line reason, rather than serve nothing
            try:
                await loop.run_in_executor(None, load)
            except Exception as e:
                raise RuntimeError(f"refusing to start: {e}") from None
        else:  # load in the background: /health says "starting" meanwhile
            app.state.model_loader = loop.run_in_executor(None, load)
    await s.tasks.start()
    try:
        yield
    finally:
        for hook in reversed(s.on_shutdown):
            await hook()
        s.runner.shutdown(wait=False)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or get_settings()
    services = services or build_services(settings)
    app = FastAPIOffline(
        title=SERVICE_NAME,
        version=__version__,
        description="Removes text from images: send an image and the text regions (or a mask); "
        "get the image back with the text gone. See README.md.",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    install_openapi(app)
    # outermost last: CORS -> request id, log line, metrics -> API key -> body size -> routes
    app.add_middleware(BodySizeLimit, limit=max_request_bytes(settings))
    if settings.api_key:
        app.add_middleware(ApiKeyAuth, key=settings.api_key)
    app.add_middleware(RequestContext, metrics=services.metrics)
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=["*"],
                       allow_headers=["*"], expose_headers=["*"])
    if settings.role == "worker":  # takes queued work only: health and metrics, no API
        app.add_api_route("/api/v1/health", info.health, methods=["GET"], tags=["info"],
                          summary="Readiness of this worker")
        app.include_router(metrics_route.router)
        return app
    app.include_router(info.root)
    app.include_router(info.router)
    app.include_router(inpaint.router)
    app.include_router(detect.router)
    app.include_router(task_routes.router)
    app.include_router(ws.router)
    app.include_router(metrics_route.router)
    app.include_router(playground.router)
    return app


def max_request_bytes(settings: Settings) -> int:
    """An image and a mask, both base64 (4/3 of their size), plus room for the JSON around them."""
    return 2 * (settings.max_file_size * 4 // 3 + 4) + 1024 * 1024
