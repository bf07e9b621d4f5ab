"""Service information: /, /api/v1/health, /api/v1/model, /api/v1/info."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app import SERVICE_NAME, __version__
from app.api.deps import ServicesDep
from app.api.schemas.responses import Health, ModelInfo, ServiceInfo, ServiceRoot

root = APIRouter(tags=["info"])
router = APIRouter(prefix="/api/v1", tags=["info"])
worker = APIRouter(prefix="/api/v1", tags=["info"])  # ROLE=worker serves its health (and metrics) only


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _memory_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


@root.get("/", summary="Service summary", response_model=ServiceRoot)
async def index(s: ServicesDep) -> dict[str, Any]:
    st = s.models.status
    return {
        "name": SERVICE_NAME,
        "version": __version__,
        "status": "running",
        "docs": "/docs",
        "health": "/api/v1/health",
        "model": st.active or st.requested,
        "device": st.device,
    }


@router.get("/health", summary="Readiness: 200 and status=healthy once requests can be served, else 503",
            response_model=Health, responses={503: {"model": Health, "description": "starting, or the model failed"}})
async def health(s: ServicesDep) -> JSONResponse:
    st = s.models.status
    elsewhere = s.execution.runs_elsewhere()
    if elsewhere is not None:  # no model here: the workers run the work
        status, code, message = "healthy", 200, elsewhere
    elif st.state == "ready":
        status, code = "healthy", 200
        if st.fallback:
            message = (f"serving fallback model {st.active!r} because {st.requested!r} could not load: {st.reason}")
        else:
            message = f"model {st.active!r} loaded on {st.device}"
    elif st.state == "loading":
        status, code, message = "starting", 503, f"loading model {st.requested!r}"
    else:
        status, code, message = "unhealthy", 503, f"model {st.requested!r} failed to load: {st.reason}"
    body = {
        "status": status,
        "message": message,
        "timestamp": _now(),
        "version": __version__,
        "model": st.active,
        "requested_model": st.requested,
        "fallback": st.fallback,
        "fallback_reason": st.reason if st.fallback else None,
        "device": st.device,
        "model_state": st.state,
        "text_detector": getattr(s.detector, "name", None),
        "text_recognizer": getattr(getattr(s.detector, "reader", None), "name", None),
        "queue": s.runner.stats,
        "memory_mb": _memory_mb(),
        **(await s.tasks.stats()),  # active_tasks: the whole service's; *_here and connections: this replica's
        "task_backend": s.tasks.backend_state(),
        "inference": {
            **st.details.get("inference", {}),
            "workers": s.settings.inference_workers,
            "model_time": s.metrics.model_time_summary(),
        },
    }
    return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})


worker.add_api_route("/health", health, methods=["GET"], summary="Readiness of this worker")


@router.get("/model", summary="The active model", response_model=ModelInfo)
async def model_info(s: ServicesDep) -> dict[str, Any]:
    st = s.models.status
    return {
        "name": st.active or st.requested,
        "device": st.device,
        "status": {"ready": "loaded"}.get(st.state, st.state),
        "parameters": {
            "requested": st.requested,
            "fallback": st.fallback,
            "reason": st.reason,
            "device_note": st.device_note,
            "load_seconds": st.load_seconds,
            "low_mem": s.settings.low_mem,
            "cpu_offload": s.settings.cpu_offload,
            **st.details,
        },
    }


@router.get("/info", summary="Capabilities and limits", response_model=ServiceInfo)
async def info(s: ServicesDep) -> dict[str, Any]:
    cfg = s.settings
    caps = ["inpaint", "inpaint-regions", "inpaint-regions-json", "polygon-regions", "multipart-upload",
            "text-aware-mask", "output-formats"]
    caps += ["async-tasks", "batch", "websocket-progress", "callbacks"]
    if s.detector is not None:
        caps.append("text-detection")
        if getattr(s.detector, "reader", None) is not None:
            caps.append("text-recognition")
    return {
        "name": SERVICE_NAME,
        "version": __version__,
        "model": await model_info(s),
        "capabilities": caps,
        "limits": {
            "max_image_size": cfg.max_image_size,
            "max_file_size": cfg.max_file_size,
            "request_timeout": cfg.request_timeout,
            "max_image_pixels": cfg.max_image_pixels,
            "max_queue_size": cfg.max_queue,
            "max_regions": cfg.max_regions,
            "output_formats": ["png", "jpeg", "webp", "original"],
            "mask_modes": ["box", "text"],
        },
    }
