"""Client of the IOPaint text-removal service (API.md): a sync `Client`, an `AsyncClient`, typed
results, region helpers, `verify_signature` for signed callbacks, and a CLI (`python -m
iopaint_client`, `iopaint-client`).

    from iopaint_client import Client, Line, box
    with Client("http://localhost:8081") as c:
        c.inpaint_regions("in.png", [box(10, 10, 120, 24)]).save("out.png")
        c.replace_text("in.png", [Line(box(10, 10, 120, 24), "new text")]).save("out.png")
"""

from ._version import __version__
from .aio import AsyncClient
from .client import Client
from .errors import ClientError, ServiceError, TaskFailed, TransportError, WaitTimeout
from .models import (BatchItem, BoundingBox, CancelResult, DetectResult, Detection, Dimensions, Font, FontList, Health,
                     InpaintResult, Line, ModelInfo, Outline, ProcessingStats, ProgressEvent, RegionsStats, ReplaceResult,
                     ReplaceStats, ServiceInfo, ServiceRoot, Shadow, Style, TasksSummary, TaskStatus, TaskSubmitted,
                     TextLine, TextLines, Verification, WrittenLine, box, polygon)
from .webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, InvalidSignature, verify_signature

__all__ = [
    "__version__", "Client", "AsyncClient",
    "ClientError", "ServiceError", "TaskFailed", "TransportError", "WaitTimeout",
    "BatchItem", "BoundingBox", "CancelResult", "DetectResult", "Detection", "Dimensions", "Health",
    "InpaintResult", "ModelInfo", "Outline", "ProcessingStats", "ProgressEvent", "RegionsStats", "ServiceInfo",
    "ServiceRoot", "Shadow", "Style", "TasksSummary", "TaskStatus", "TaskSubmitted", "TextLine", "TextLines", "box", "polygon",
    "Line", "ReplaceResult", "ReplaceStats", "WrittenLine", "Font", "FontList", "Verification",
    "verify_signature", "InvalidSignature", "SIGNATURE_HEADER", "DELIVERY_HEADER",
]
