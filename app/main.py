"""create_app(): settings, services, lifespan (model loading), middleware, routers, error handlers.

A request's way: `app.api.*` (parse, validate) -> `app.execution` (bounded queue, worker
thread) -> `app.engine.pipeline.inpaint` (pixels). Async tasks add `app.tasks` between the two
(api -> tasks -> execution), and so does a sync request on an API-only replica (app.tasks.remote).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from app import SERVICE_NAME, __version__
from app.api import (bodies, detect, info, inpaint, metrics as metrics_route, playground, replace, tasks as task_routes,
                     ws)
from app.api.deps import Services
from app.api.errors import install_error_handlers
from app.api.middleware import ApiKeyAuth, BodySizeLimit, RequestContext
from app.api.openapi import install_openapi
from app.engine.models import ModelHolder, Tuning, apply_model_dir
from app.engine.ocr import load_ocr
from app.engine.pipeline import Limits
from app.execution.runner import InferenceRunner
from app.execution.service import Execution
from app.metrics import Metrics
from app.settings import Settings, get_settings
from app.tasks.backend import BuildBackend
from app.tasks.callbacks import CallbackPolicy, CallbackSender
from app.tasks.local import local_backend
from app.tasks.local.store import MemoryStore
from app.tasks.manager import TaskManager, TaskPolicy
from app.tasks.redis import redis_backend
from app.tasks.redis.store import connect
from app.tasks.remote import RemoteWorkers
from app.tasks.work import Tools

log = logging.getLogger("app")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")


def build_services(settings: Settings, callbacks: CallbackSender | None = None) -> Services:
    """Every service of the app, and the one place that reads ROLE: it chooses what is loaded at
    start-up, where the routes' work runs (here, or on the workers) and which routes are served.
    `callbacks`: the sender (and its policy) to use instead of the settings' own."""
    apply_model_dir(settings.model_dir)
    models = ModelHolder(settings.model, settings.device)
    runner = InferenceRunner(settings.inference_workers, settings.max_queue_size)
    limits = Limits.from_settings(settings)
    metrics = Metrics()
    if callbacks is None:
        callbacks = CallbackSender(CallbackPolicy(settings.callback_allowed_hosts), settings.callback_retries,
                                   settings.callback_backoff, settings.callback_timeout, secret=settings.callback_secret)
    policy = callbacks.policy
    api_only = settings.role == "api"  # no model here: the routes' jobs run on the workers, through the queue
    tasks = build_tasks(settings, runner, callbacks, limits, models, metrics, runs_work=not api_only)

    async def stop_tasks() -> None:
        await tasks.shutdown(settings.shutdown_grace)
        tasks.bus.close_all()

    execution = Execution(runner, models, limits, metrics, settings.request_timeout,
                          text_detection=settings.text_detection)
    routes_run: Execution | RemoteWorkers = RemoteWorkers(tasks, execution) if api_only else execution
    routers = [info.worker, metrics_route.router] if settings.role == "worker" else [  # worker: queued work only
        info.root, info.router, inpaint.router, replace.router, detect.router, task_routes.router, ws.router,
        metrics_route.router, playground.router]
    services = Services(settings=settings, models=models, runner=runner, limits=limits, tasks=tasks,
                        callback_policy=policy, execution=routes_run, metrics=metrics, on_shutdown=[stop_tasks],
                        routers=routers)
    if not api_only:
        services.load = functools.partial(load_models, settings, models)
    return services


def build_tasks(settings: Settings, runner: InferenceRunner, callbacks: CallbackSender, limits: Limits,
                models: ModelHolder, metrics: Metrics, *, runs_work: bool = True) -> TaskManager:
    """The task layer: one manager over a backend (store, event bus, dispatcher) chosen here."""
    replica = settings.replica_name or f"{socket.gethostname()}-{os.getpid()}"
    backend: BuildBackend
    if settings.task_backend == "redis":  # shared by every replica
        conns = connect(settings.redis_url, settings.redis_timeout, settings.redis_sentinels,
                        settings.redis_sentinel_service)
        backend = redis_backend(conns, runner, replica, retention=settings.task_retention,
                                max_result_bytes=settings.task_result_max_bytes, max_records=settings.task_max_records,
                                claim_idle=settings.queue_claim_idle, runs_work=runs_work,
                                can_run=lambda: models.model is not None)
        require_model: Callable[[], Any] = lambda: None  # any replica with a model takes the work
    else:
        backend = local_backend(MemoryStore(settings.task_retention, settings.task_result_max_bytes,
                                            settings.task_max_records), runner)
        require_model = models.require  # 503 model_loading until it is loaded
    tools = Tools(model=lambda: models.model, detector=lambda: models.detector, limits=limits,
                  observe=metrics.observe_pipeline)
    policy = TaskPolicy(max_live=settings.max_queue_size, replica=replica, lease=settings.queue_claim_idle,
                        require_model=require_model)
    return TaskManager(backend, runner, callbacks, tools, policy)


def load_engine(services: Services) -> None:
    """The one start-up path, for every entry point: what this replica loads (`Services.load`)."""
    services.load()


def load_models(cfg: Settings, models: ModelHolder) -> None:
    """The text detector (when TEXT_DETECTION is on), then the model (or its fallback). Loads only
    what is not loaded yet, so calling it twice is free."""
    if cfg.text_detection and models.detector is None:
        models.detector = load_ocr(max_side=cfg.detect_max_side, small_text_side=cfg.detect_small_text_side,
                                   recognize=cfg.text_recognition)
    if models.model is None:
        tuning = Tuning(cfg.torch_threads, cfg.torch_interop_threads, cfg.model_precision, cfg.model_channels_last,
                        cfg.model_warmup)
        models.load(fallback=cfg.model_fallback, low_mem=cfg.low_mem, cpu_offload=cfg.cpu_offload, tuning=tuning)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    s: Services = app.state.services
    loop = asyncio.get_running_loop()
    if s.settings.model_fallback == "none":
        # no fallback: refuse to start, with the one-line reason, rather than serve nothing
        try:
            await loop.run_in_executor(None, load_engine, s)
        except Exception as e:
            raise RuntimeError(f"refusing to start: {e}") from None
    else:  # load in the background: /health says "starting" meanwhile
        app.state.model_loader = loop.run_in_executor(None, load_engine, s)
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
    install_openapi(app, bodies.BODIES, ApiKeyAuth.OPEN,
                    api_key=bool(settings.api_key), max_regions=settings.max_regions,
                    max_batch_items=settings.max_batch_items, max_patterns=settings.text_patterns_max,
                    max_pattern_length=settings.text_pattern_max_length)
    # outermost last: CORS -> request id, log line, metrics -> API key -> body size -> routes
    app.add_middleware(BodySizeLimit, limit=max_request_bytes(settings))
    if settings.api_key:
        app.add_middleware(ApiKeyAuth, key=settings.api_key)
    app.add_middleware(RequestContext, metrics=services.metrics)
    if settings.cors_origin_list:  # none by default: same-origin only (backends call server to server)
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["*"])
    for router in services.routers:
        app.include_router(router)
    return app


def max_request_bytes(settings: Settings) -> int:
    """An image and a mask, both base64 (4/3 of their size), plus room for the JSON around them."""
    return 2 * (settings.max_file_size * 4 // 3 + 4) + 1024 * 1024


_app: FastAPI | None = None


def get_app() -> FastAPI:
    """The process's app, built once from the environment's settings (logging included). It is what
    `python -m uvicorn app.main:app`, `fastapi run app/main.py` and `python -m app serve` all serve."""
    global _app
    if _app is None:
        settings = get_settings()
        configure_logging(settings.log_level)
        _app = create_app(settings)
    return _app


def __getattr__(name: str) -> Any:
    # `app` is built on first use, not at import: tests and tools import this module for
    # create_app() without building a second service from the environment.
    if name == "app":
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "app"])  # so that tools that look for an `app` (fastapi-cli) find it
