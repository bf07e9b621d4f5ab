"""OpenAPI for routes that read their body by hand (JSON or multipart), so that /openapi.json
describes both forms as they are parsed: the JSON model as it is, and the multipart form as
text fields (JSON text for lists and objects) plus files, without the `null`s a form cannot send."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from app.api.schemas.responses import ErrorBody

IMAGE_FILES = "image/*"  # an image file Pillow decodes (PNG, JPEG, WebP, GIF, BMP, TIFF...); else 400


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


@dataclass(frozen=True)
class Body:
    """A body a route reads by hand (app.api.bodies): `json_model` as JSON, or `form_model`'s fields
    plus `files` as multipart/form-data. app.api.bodies declares them (BODIES); install_openapi adds
    their schemas to the components."""

    json_model: type[BaseModel]
    form_model: type[BaseModel] | None = None
    files: tuple[str, ...] = ("image",)
    required_files: tuple[str, ...] = ("image",)

    def openapi_extra(self) -> dict[str, Any]:
        """The route's `openapi_extra`: its requestBody, by reference."""
        content: dict[str, Any] = {"application/json": {"schema": _ref(self.json_model.__name__)}}
        if self.form_model is not None:
            as_json = {k: {"contentType": "application/json"} for k in _JSON_PARTS if k in self.form_model.model_fields}
            content["multipart/form-data"] = {"schema": _ref(f"{self.form_model.__name__}Form"), "encoding": {
                **as_json, **{f: {"contentType": IMAGE_FILES} for f in self.files}}}
        return {"requestBody": {"required": True, "content": content}}

    def components(self) -> dict[str, dict[str, Any]]:
        """The schemas the references name."""
        out = {self.json_model.__name__: self.json_model.model_json_schema(
            ref_template="#/components/schemas/{model}", mode="validation")}
        if self.form_model is not None:
            out[f"{self.form_model.__name__}Form"] = _form_schema(self.form_model, self.files, self.required_files)
        return out


_JSON_PARTS = ("regions", "lines")  # the form parts that carry a list of objects as JSON text


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A form field can be left out but not sent as null: drop the null branch and null default."""
    prop = dict(prop)
    options = prop.get("anyOf")
    if options and any(o.get("type") == "null" for o in options):
        rest = [o for o in options if o.get("type") != "null"]
        prop.pop("anyOf")
        if len(rest) == 1:
            prop.update(rest[0])
        else:
            prop["anyOf"] = rest
    if prop.get("default", 0) is None:
        prop.pop("default")
    if prop.get("type") == "boolean":  # sent as text: exactly true or false
        prop["type"], prop["enum"] = "string", ["true", "false"]
        if "default" in prop:
            prop["default"] = str(prop["default"]).lower()
    return prop


def _form_schema(model: type[BaseModel], files: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any]:
    js = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    props = {k: _without_null(v) for k, v in js.get("properties", {}).items()}
    props.update({f: {"type": "string", "format": "binary"} for f in files})
    form = {"title": js.get("title"), "type": "object", "properties": props,
            "required": sorted({*js.get("required", []), *required}), "$defs": js.get("$defs", {})}
    if "anyOf" in js:  # a rule across fields (app.api.schemas.something_to_remove), as a form sends it
        own = {k: {a: v for a, v in p.items() if a != "default"} for k, p in props.items()}
        form["anyOf"] = [{**b, "properties": {k: _as_form_value({**own.get(k, {}), **_rule(v)})
                                              for k, v in b.get("properties", {}).items()}} for b in js["anyOf"]]
    return form


def _rule(prop: dict[str, Any]) -> dict[str, Any]:
    """What a branch adds to its field (the field's own schema, as a form sends it, comes first)."""
    keep = ("minItems", "const")
    return {k: v for k, v in prop.items() if k in keep}


def _as_form_value(prop: dict[str, Any]) -> dict[str, Any]:
    """A constraint on a field, as its form part reads: a boolean is the text true or false."""
    if isinstance(prop.get("const"), bool):
        return {**prop, "const": str(prop["const"]).lower()}
    return prop


def install_openapi(app: FastAPI, bodies: tuple[Body, ...] = (), open_paths: tuple[str, ...] = (),
                    api_key: bool = False, max_regions: int | None = None, max_batch_items: int | None = None,
                    max_patterns: int | None = None, max_pattern_length: int | None = None) -> None:
    """Add the hand-parsed bodies' models to the generated components, with the configured list
    limits (MAX_REGIONS, MAX_BATCH_ITEMS, TEXT_PATTERNS_MAX, TEXT_PATTERN_MAX_LENGTH); with an API key, document the 401 of every operation it
    guards (all but `open_paths`)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        models: dict[str, dict[str, Any]] = {}
        for body in bodies:
            models.update(body.components())
        for name, js in models.items():
            js = deepcopy(js)
            for dname, d in js.pop("$defs", {}).items():
                comps.setdefault(dname, d)
            comps[name] = js
        for js in comps.values():
            props = js.get("properties", {})
            if max_regions and props.get("regions", {}).get("type") == "array":
                props["regions"]["maxItems"] = max_regions
            if max_batch_items and js.get("title") == "BatchBody":
                props["items"]["maxItems"] = max_batch_items
            for key in ("remove_text", "keep_text"):
                for branch in props.get(key, {}).get("anyOf") or ([props[key]] if key in props else []):
                    if branch.get("type") == "array":
                        if max_patterns:
                            branch["maxItems"] = max_patterns
                        if max_pattern_length:
                            branch["items"]["maxLength"] = max_pattern_length
        if api_key:
            comps.setdefault("ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}"))
            for path, ops in schema.get("paths", {}).items():
                if path.startswith(open_paths):
                    continue
                for op in ops.values():
                    op.setdefault("responses", {})["401"] = {
                        "description": "a valid API key is required (X-API-Key or Authorization: Bearer)",
                        "content": {"application/json": {"schema": _ref("ErrorBody")}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
