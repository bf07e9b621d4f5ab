"""Dependencies of the routes: the app's services (created once in `app.main.lifespan`) and the
request-body reader that takes either JSON (base64 images) or multipart/form-data (files)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Awaitable, Callable, Generic, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.api.schemas import InpaintParams
from app.engine import images, text_filter
from app.engine.models import ModelHolder
from app.engine.pipeline import Detector, InpaintInput, Limits
from app.errors import InvalidInput, ServiceError, TooLarge, UnsupportedMediaType, summarise_validation
from app.metrics import Metrics
from app.service import Execution
from app.tasks.callbacks import CallbackPolicy
from app.tasks.manager import TaskManager
from app.settings import Settings
from app.tasks.runner import InferenceRunner


@dataclass
class Services:
    """Everything the routes use, built once per app. Injected, never imported as globals."""

    settings: Settings
    models: ModelHolder
    runner: InferenceRunner
    limits: Limits
    tasks: TaskManager
    callback_policy: CallbackPolicy
    execution: Execution
    metrics: Metrics = field(default_factory=Metrics)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # chosen by ROLE in app.main.build_services, the one place that reads it:
    load: Callable[[], None] = lambda: None  # the start-up loading (nothing on an API-only replica)
    routers: list[APIRouter] = field(default_factory=list)  # what this replica serves

    @property
    def detector(self) -> Detector | None:
        detector: Detector | None = self.models.detector
        return detector


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

M = TypeVar("M", bound=BaseModel)
P = TypeVar("P", bound=BaseModel, covariant=True)


class ParsedBody(Generic[P]):
    """A request body parsed into `params` (validated fields) plus the image and mask payloads
    (bytes from a multipart file, or a base64 string from JSON, decoded later off the loop)."""

    def __init__(self, params: P, image: bytes | str, mask: bytes | str | None):
        self.params, self.image, self.mask = params, image, mask


_FILE_FIELDS = ("image", "mask")
_PATTERN_FIELDS = ("remove_text", "keep_text")  # lists of text: repeated parts, or one part with a JSON list
_FORM_BOOLS = {"true": True, "false": False}


def body_kind(request: Request, *, form: bool = True) -> str:
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


async def read_json(request: Request, model: type[M]) -> M:
    body_kind(request, form=False)
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
    try:
        for key, value in form.multi_items():
            if key in _PATTERN_FIELDS and key in model.model_fields and isinstance(value, str):
                fields.setdefault(key, []).extend(_patterns_part(value))
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
                elif key == "regions" or (value[:1] in ("[", "{") and key not in ("prompt", "negative_prompt")):
                    try:
                        parsed = json.loads(value)
                    except json.JSONDecodeError:
                        raise InvalidInput(f"form field {key!r} is not valid JSON", code="invalid_input") from None
                fields[key] = parsed
    finally:
        await form.close()
    try:
        return model.model_validate(fields), payloads
    except ValidationError as e:
        raise _validation(e) from None


def _patterns_part(value: str) -> list[Any]:
    """One form part of remove_text / keep_text: a JSON list of patterns, or else one pattern as
    written (so `[0-9]+` is a pattern, not broken JSON)."""
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return [value]
        if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
            return parsed
    return [value]


async def read_body(request: Request, params_model: type[M], json_model: type[M], max_file_size: int,
                    mask_required: bool = False) -> ParsedBody[M]:
    """Parse a JSON body (json_model, images as base64) or a multipart one (params_model + files)."""
    if body_kind(request) == "form":
        params, payloads = await _read_form(request, params_model, max_file_size)
        if "image" not in payloads:
            raise InvalidInput("an `image` file (or base64 field) is required", code="missing_image")
        if mask_required and "mask" not in payloads:
            raise InvalidInput("a `mask` file (or base64 field) is required", code="missing_mask")
        return ParsedBody(params, payloads["image"], payloads.get("mask"))
    body = await read_json(request, json_model)
    image = getattr(body, "image", None)  # every JSON body model has `image` (and maybe `mask`)
    if not isinstance(image, str):
        raise InvalidInput("an `image` (base64) is required", code="missing_image")
    return ParsedBody(body, image, getattr(body, "mask", None))


def to_pipeline_input(parsed: ParsedBody[InpaintParams], settings: Settings, what: str = "the request") -> InpaintInput:
    """The API's parameters -> the pipeline's input (defaults from the settings). Requests with
    nothing to remove, or too many regions, are refused here, before they take a queue slot."""
    p = parsed.params
    images.require_payload(parsed.image)
    if parsed.mask is not None:
        images.require_payload(parsed.mask, "mask")
    regions = [r.to_region(f"regions[{i}]" if what == "the request" else f"{what}.regions[{i}]")
               for i, r in enumerate(getattr(p, "regions", None) or [])]
    detect = bool(getattr(p, "detect", False))
    if not regions and not detect and parsed.mask is None:
        raise InvalidInput(f"{what} has no regions: give at least one region, a mask, or detect: true",
                           code="no_regions")
    if len(regions) > settings.max_regions:
        raise InvalidInput(f"{len(regions)} regions in {what}, over the limit of {settings.max_regions}",
                           code="too_many_regions")
    remove_text, keep_text = getattr(p, "remove_text", None), getattr(p, "keep_text", None)
    # refused here, before a queue slot, as the pipeline would (one rule: text_filter.compile_patterns)
    text_filter.compile_patterns(remove_text, keep_text, max_length=settings.text_pattern_max_length,
                                 max_count=settings.text_patterns_max)
    strategy = p.hd_strategy
    mode = p.mask_mode or settings.default_mask_mode
    return InpaintInput(
        image=parsed.image,
        mask=parsed.mask,
        regions=regions,
        detect=detect,
        padding=p.padding if p.padding is not None else (
            settings.text_mode_padding if mode == "text" else settings.default_padding),
        mask_mode=mode,
        whole_padding=p.padding if p.padding is not None else settings.default_padding,
        output_format=p.output_format,
        quality=p.quality,
        verify=p.verify,
        model_params=p.model_params(),
        hd_strategy=strategy if strategy != "Original" else None,
        crop_margin=p.hd_strategy_crop_margin,
        crop_trigger=p.hd_strategy_crop_trigger_size,
        remove_text=remove_text,
        keep_text=keep_text,
        recognize=bool(getattr(p, "recognize", False)),
    )
