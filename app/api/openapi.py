"""OpenAPI for routes that read their body by hand (JSON or multipart), so /docs still shows
both forms with their full schemas."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

_MODELS: dict[str, type[BaseModel]] = {}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    _MODELS[model.__name__] = model
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def request_body(json_model: type[BaseModel], form_model: type[BaseModel] | None = None,
                 files: tuple[str, ...] = ("image",)) -> dict:
    """openapi_extra for a route taking `json_model` as JSON or `form_model`'s fields + files as multipart."""
    if form_model is None:
        return {"requestBody": {"required": True, "content": {"application/json": {"schema": _ref(json_model)}}}}
    form_schema = {
        "allOf": [
            _ref(form_model),
            {"type": "object", "properties": {f: {"type": "string", "format": "binary"} for f in files},
             "required": ["image"]},
        ]
    }
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": _ref(json_model)},
        "multipart/form-data": {"schema": form_schema},
    }}}


def install_openapi(app: FastAPI) -> None:
    """Add the hand-parsed bodies' models to the generated components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, model in _MODELS.items():
            js = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
            for dname, d in js.pop("$defs", {}).items():
                comps.setdefault(dname, d)
            comps[name] = js
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
