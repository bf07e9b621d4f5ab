"""The HTTP API's shapes: request bodies (`requests`, each with `to_input()`) and answers
(`responses`, each built `.of(...)` from the engine's, the service's or the tasks' dataclasses).
The app imports each from its module; the names below are those imported from the package itself."""

from app.api.schemas.requests import FONT_FORMAT, IMAGE_FORMAT, LINE_TEXT_FORMAT, TEXT_PATTERN_FORMAT, AsyncOptions, RegionIn

__all__ = ["FONT_FORMAT", "IMAGE_FORMAT", "LINE_TEXT_FORMAT", "TEXT_PATTERN_FORMAT", "AsyncOptions", "RegionIn"]
