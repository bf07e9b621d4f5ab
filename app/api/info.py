"""Service information: /, /api/v1/health, /api/v1/model, /api/v1/info."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import ServicesDep
from app.api.schemas.responses import Health, ModelInfo, ServiceInfo, ServiceRoot

root = APIRouter(tags=["info"])
router = APIRouter(prefix="/api/v1", tags=["info"])
worker = APIRouter(prefix="/api/v1", tags=["info"])  # ROLE=worker serves its health (and metrics) only


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
async def index(s: ServicesDep) -> ServiceRoot:
    return ServiceRoot.of(s.models.status)


@router.get("/health", summary="Readiness: 200 and status=healthy once requests can be served, else 503",
            response_model=Health, responses={503: {"model": Health, "description": "starting, or the model failed"}})
async def health(s: ServicesDep) -> JSONResponse:
    answer = Health.of(s.models.status, elsewhere=s.execution.runs_elsewhere(), detector=s.detector,
                       queue=s.runner.stats, memory_mb=_memory_mb(), activity=await s.tasks.activity(),
                       backend=s.tasks.backend_state(), workers=s.settings.inference_workers,
                       model_time=s.metrics.model_time_summary())
    return JSONResponse(answer.body(), status_code=200 if answer.status == "healthy" else 503,
                        headers={"Cache-Control": "no-store"})


worker.add_api_route("/health", health, methods=["GET"], summary="Readiness of this worker")


@router.get("/model", summary="The active model", response_model=ModelInfo)
async def model_info(s: ServicesDep) -> ModelInfo:
    return ModelInfo.of(s.models.status, s.settings)


@router.get("/info", summary="Capabilities and limits", response_model=ServiceInfo)
async def info(s: ServicesDep) -> ServiceInfo:
    return ServiceInfo.of(s.models.status, s.settings, s.detector)
