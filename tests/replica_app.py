"""One replica for tests/test_replicas.py: the real app (settings from the environment, so
TASK_BACKEND=redis, REDIS_URL, ROLE, ...) served by uvicorn, with a stand-in model that takes
TEST_MODEL_DELAY seconds per call, so that tasks last long enough to be followed, cancelled and
killed mid-run. Run as `python -m tests.replica_app` from the repository root."""

from __future__ import annotations

import os

import uvicorn

from app.main import build_services, create_app
from app.settings import Settings
from tests.support import SlowModel, services_with_model


def main() -> None:
    settings = Settings()
    if settings.role == "api":  # no model on an API-only replica
        services = build_services(settings)
    else:
        services = services_with_model(SlowModel(delay=float(os.environ.get("TEST_MODEL_DELAY", "0"))))
        if os.environ.get("TEST_DETECTOR"):  # the real offline text detector, for detect-text
            from app.engine.ocr import load_ocr

            services.models.detector = load_ocr(max_side=settings.detect_max_side)
    uvicorn.run(create_app(services.settings, services), host="127.0.0.1", port=settings.port, log_level="warning",
                timeout_graceful_shutdown=int(settings.shutdown_grace) + 5)


if __name__ == "__main__":
    main()
