"""The HTTP API's shapes: request bodies (`requests`, each with `to_input()`) and answers
(`responses`, each built `.of(...)` from the engine's, the service's or the tasks' dataclasses).
The app imports each from its module; the names below are those imported from the package itself."""

from app.api.schemas.requests import IMAGE_FORMAT, TEXT_PATTERN_FORMAT, AsyncOptions, RegionIn

__all__ = ["IMAGE_FORMAT", "TEXT_PATTERN_FORMAT", "AsyncOptions", "RegionIn"]
