"""The routes' bodies, read as FastAPI dependencies: JSON (images as base64) or multipart/form-data
(images as files, lists as JSON text), into a validated model plus the image and mask payloads,
or straight into the pipeline's input (`RegionsJob`, `MaskJob`). Errors are the service's own
(415 for another Content-Type, 422 with every invalid field). Each body is declared once here, for
its reading and for OpenAPI (`BODIES`)."""

from __future__ import annotations

import functools
import json
from types import UnionType
from typing import Annotated, Any, Awaitable, Callable, Generic, Literal, TypeVar, Union, get_args, get_origin

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.api.deps import Services, ServicesDep
from app.api.openapi import Body
from app.api.schemas.requests import (AsyncRegionsBody, AsyncRegionsParams, BatchBody, DetectBody, DetectParams,
                                      InpaintBody, InpaintParams, RegionsBody, RegionsParams, ReplaceBody,
                                      ReplaceParams)
from app.engine.pipeline import InpaintInput
from app.errors import InvalidInput, ServiceError, TooLarge, UnsupportedMediaType, summarise_validation

M = TypeVar("M", bound=BaseModel)
J = TypeVar("J", bound=InpaintParams)
P = TypeVar("P", bound=BaseModel, covariant=True)


class ParsedBody(Generic[P]):
    """A request body parsed into `params` (validated fields) plus the image and mask payloads
    (bytes from a multipart file, or a base64 string from JSON, decoded later off the loop)."""

    def __init__(self, params: P, image: bytes | str, mask: bytes | str | None):
        self.params, self.image, self.mask = params, image, mask


_FILE_FIELDS = ("image", "mask")
_PATTERN_FIELDS = ("remove_text", "keep_text")  # lists of text: repeated parts, or one part with a JSON list
_FORM_BOOLS = {"true": True, "false": False}


def _body_kind(request: Request, *, form: bool = True) -> str:
    """"json" or "form" from the Content-Type; anything else is 415. A JSON body sent as text/plain
    (or with no type) is refused, as FastAPI does: it is what a page on another site may POST
    without a CORS preflight."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype == "application/json" or (ctype.startswith("application/") and ctype.endswith("+json")):
        return "json"
    if form and ctype == "multipart/form-data":
        return "form"
    accepted = "application/json or multipart/form-data" if form else "application/json"
    raise UnsupportedMediaType(f"the body's Content-Type is {ctype or 'missing'}; send {accepted}")


async def _read_json(request: Request, model: type[M]) -> M:
    _body_kind(request, form=False)
    body = await request.body()
    if not body:
        raise InvalidInput("the request body is empty; send JSON or multipart/form-data", code="empty_body")
    try:
        if len(body) > 1_000_000:  # parse big bodies off the event loop
            return await run_in_threadpool(model.model_validate_json, body)
        return model.model_validate_json(body)
    except ValidationError as e:
        raise _validation(e) from None


def _validation(e: ValidationError) -> ServiceError:
    errors = e.errors(include_input=False, include_url=False)
    return InvalidInput(summarise_validation(list(errors)), code="invalid_input",
                        errors=[{"loc": list(x["loc"]), "msg": x["msg"], "type": x["type"]} for x in errors])


async def _read_form(request: Request, model: type[M], max_file_size: int) -> tuple[M, dict[str, bytes | str]]:
    try:
        form = await request.form(max_files=4, max_fields=100, max_part_size=4 * 1024 * 1024)
    except ServiceError:
        raise
    except Exception as e:  # malformed multipart
        raise InvalidInput(f"could not read the multipart body: {e}", code="invalid_multipart") from None
    fields: dict[str, Any] = {}
    payloads: dict[str, bytes | str] = {}
    not_lists: dict[str, Any] = {}  # a list field's part holding a JSON object: the model refuses it, as in JSON
    try:
        for key, value in form.multi_items():
            if key in _PATTERN_FIELDS and key in model.model_fields and isinstance(value, str):
                patterns = _patterns_part(value)
                if isinstance(patterns, dict):
                    not_lists[key] = patterns
                else:
                    fields.setdefault(key, []).extend(patterns)
                continue
            if (key in fields or key in payloads) and (key in model.model_fields or key in _FILE_FIELDS):
                # one value per field (a list goes as JSON text); unknown fields are ignored
                raise InvalidInput(f"form field {key!r} is given more than once", code="invalid_input")
            if key in _FILE_FIELDS:
                if isinstance(value, UploadFile):
                    if value.size is not None and value.size > max_file_size:
                        raise TooLarge(f"{key} is {value.size} bytes, over the limit of {max_file_size}",
                                       code="file_too_large")
                    payloads[key] = await value.read()
                else:
                    payloads[key] = value  # a base64 string in a text field
            elif isinstance(value, str):
                field = model.model_fields.get(key)
                parsed: Any = value
                if field is not None and field.annotation is bool and value in _FORM_BOOLS:
                    parsed = _FORM_BOOLS[value]  # a form's true/false; anything else is refused below
                elif key == "regions" or (value[:1] in ("[", "{") and key not in _text_fields(model)):
                    parsed = _json_part(key, value, known=field is not None)
                fields[key] = parsed
    finally:
        await form.close()
    try:
        return model.model_validate({**fields, **not_lists}), payloads
    except ValidationError as e:
        raise _validation(e) from None


@functools.cache
def _text_fields(model: type[BaseModel]) -> frozenset[str]:
    """The model's fields declared as text (str, a choice of strings, or either or None): their
    form parts are taken as written, `[` or `{` included. Worked out once per model."""

    def text(t: Any) -> bool:
        if t is str or t is type(None):
            return True
        if get_origin(t) is Literal:
            return all(isinstance(a, str) for a in get_args(t))
        return get_origin(t) in (Union, UnionType) and all(text(a) for a in get_args(t))

    return frozenset(k for k, f in model.model_fields.items() if text(f.annotation))


def _json_part(key: str, value: str, known: bool) -> Any:
    """A part that holds a list or an object, as JSON text. A known field's broken JSON is a 422;
    an unknown field (ignored, or passed on to the model as written) keeps its text."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        if not known:
            return value
        raise InvalidInput(f"form field {key!r} is not valid JSON", code="invalid_input") from None


def _patterns_part(value: str) -> list[Any] | dict[str, Any]:
    """One form part of remove_text / keep_text: a JSON list of patterns, or else one pattern as
    written (so `[0-9]+` is a pattern, not broken JSON). A JSON object is no list of patterns, nor
    one pattern: it comes back as the object, for the model to refuse as it does in a JSON body."""
    if value.startswith(("[", "{")):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return [value]
        if isinstance(parsed, dict) or (isinstance(parsed, list) and all(isinstance(p, str) for p in parsed)):
            return parsed
    return [value]


class ImageBody(Generic[M]):
    """A body that carries an image, declared once for both its reading and its documentation:
    JSON (`json_model`, images as base64) or multipart/form-data (`params_model`'s fields plus the
    files). A mask file is accepted where the JSON model has a `mask` field, and required where
    that field is. `doc` is its OpenAPI declaration (the route's requestBody and components)."""

    def __init__(self, json_model: type[M], params_model: type[M]) -> None:
        self.json_model, self.params_model = json_model, params_model
        mask = json_model.model_fields.get("mask")
        self.mask_required = mask is not None and mask.is_required()
        self.doc = Body(json_model, params_model, files=("image", "mask") if mask is not None else ("image",),
                        required_files=("image", "mask") if self.mask_required else ("image",))

    async def read(self, request: Request, max_file_size: int) -> ParsedBody[M]:
        """The body parsed and validated, by its Content-Type (415 for any other)."""
        if _body_kind(request) == "form":
            params, payloads = await _read_form(request, self.params_model, max_file_size)
            if "image" not in payloads:
                raise InvalidInput("an `image` file (or base64 field) is required", code="missing_image")
            if self.mask_required and "mask" not in payloads:
                raise InvalidInput("a `mask` file (or base64 field) is required", code="missing_mask")
            return ParsedBody(params, payloads["image"], payloads.get("mask"))
        body = await _read_json(request, self.json_model)
        image = getattr(body, "image", None)  # every JSON body model has `image` (and maybe `mask`)
        if not isinstance(image, str):
            raise InvalidInput("an `image` (base64) is required", code="missing_image")
        return ParsedBody(body, image, getattr(body, "mask", None))


# The bodies the routes read (each route's openapi_extra is its body's `doc.openapi_extra()`).
MASK = ImageBody(InpaintBody, InpaintParams)
REGIONS = ImageBody(RegionsBody, RegionsParams)
DETECT = ImageBody(DetectBody, DetectParams)
SUBMIT = ImageBody(AsyncRegionsBody, AsyncRegionsParams)
REPLACE = ImageBody(ReplaceBody, ReplaceParams)
BATCH = Body(BatchBody)  # JSON only: its images are base64 in `items`
BODIES = (MASK.doc, REGIONS.doc, DETECT.doc, SUBMIT.doc, REPLACE.doc, BATCH)  # their schemas, for install_openapi


def _job(body: ImageBody[J]) -> Callable[[Request, Services], Awaitable[InpaintInput]]:
    """A dependency: `body` read, then mapped to the pipeline's input by its model (`to_input`)."""

    async def job(request: Request, s: ServicesDep) -> InpaintInput:
        parsed = await body.read(request, s.settings.max_file_size)
        return parsed.params.to_input(parsed.image, parsed.mask, s.settings)

    return job


def _parsed(body: ImageBody[M]) -> Callable[[Request, Services], Awaitable[ParsedBody[M]]]:
    """A dependency: `body` read, for a route that maps it itself."""

    async def parsed(request: Request, s: ServicesDep) -> ParsedBody[M]:
        return await body.read(request, s.settings.max_file_size)

    return parsed


async def _batch(request: Request) -> BatchBody:
    return await _read_json(request, BatchBody)


# What the routes declare. FastAPI sees no body or query parameter in them: the body is read here,
# and documented by the routes' openapi_extra.
MaskJob = Annotated[InpaintInput, Depends(_job(MASK))]
RegionsJob = Annotated[InpaintInput, Depends(_job(REGIONS))]
ReplaceJob = Annotated[InpaintInput, Depends(_job(REPLACE))]
DetectRequest = Annotated[ParsedBody[DetectParams], Depends(_parsed(DETECT))]
SubmitRequest = Annotated[ParsedBody[AsyncRegionsParams], Depends(_parsed(SUBMIT))]
BatchRequest = Annotated[BatchBody, Depends(_batch)]
