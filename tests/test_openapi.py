"""/openapi.json tells the truth: a schema-driven fuzzer (schemathesis) calls every operation in-process
(ASGI) with data made from the document, and runs all of its checks on every answer: statuses,
bodies, content types and headers as documented, no 5xx, schema-invalid data refused, schema-valid
data accepted. One check is narrowed, for the reason written at `_MEANING_ONLY`."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.main import create_app, load_engine
from app.settings import Settings

service = create_app(Settings(model="cv2", request_timeout=120))
load_engine(service.state.services)


async def app(scope, receive, send):
    """The service, with the model loaded above. Schemathesis ends an app's lifespan after each test
    and starts it again for the next; this service's lifespan runs once per process (its shutdown
    stops the worker threads for good), so the lifespan is answered here and the rest passed on."""
    if scope["type"] != "lifespan":
        return await service(scope, receive, send)
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


schema = schemathesis.openapi.from_asgi("/openapi.json", app)

# Refusals that depend on what the data means, which JSON Schema cannot say: a string that is not
# base64 of a decodable image (or a region outside that image, or a mask of another size), a polygon
# of zero area, a request with nothing to remove, a callback to a link-local or metadata address. A
# schema-valid request refused for any other reason (a type, a null, a missing field) still fails.
_MEANING_ONLY = {
    400: {"invalid_base64", "invalid_image"},
    413: {"image_too_large"},
    422: {"region_outside_image", "invalid_region", "no_regions", "mask_size_mismatch", "missing_image",
          "missing_mask", "invalid_callback_url", "callback_refused", "too_many_regions"},
}


@schemathesis.check
def schema_valid_data_is_accepted(ctx, response, case) -> bool | None:
    """positive_data_acceptance, less the refusals in _MEANING_ONLY."""
    if response.status_code in _MEANING_ONLY:
        try:
            code = response.json().get("error")
        except ValueError:
            code = None
        if code in _MEANING_ONLY[response.status_code]:
            return None
    return positive_data_acceptance(ctx, response, case)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case):
    case.call_and_validate(excluded_checks=[positive_data_acceptance],
                           additional_checks=[schema_valid_data_is_accepted])
