"""The one way work runs: a queue slot, a timeout, cancellation, metrics and error mapping.

- `inpaint_job` processes one image in a worker thread (a sync request, a task, each item of a batch):
  it stops at the pipeline's next step once its cancel event is set, records the job's metrics,
  and turns a failure that is not the caller's (a model or library error) into InferenceFailed
  (500 `inference_failed`, the details in the log only).
- `Execution` is how a route waits for work: a queue slot (503 `queue_full` when there is
  none), REQUEST_TIMEOUT (504; the work is told to stop and gives its slot back soon after), the
  caller going away (the work stops too), and one error mapping. The sync routes and detect-text
  use it; async tasks hold their slot for the task's life (app.tasks.manager) and run each job
  with `inpaint_job`; `detect_job` is detect-text's work, wherever it runs.
- Where a route's job runs is the one thing that varies: here, in this process's runner, or on a
  worker replica (ROLE=api: app.tasks.remote hands the job to the shared queue as a task and waits
  for it with `Execution.wait`, its global bound as the slot). The waiting, the timeout, the
  cancellation and the errors are the same code for both. Pipeline metrics are counted where the
  job runs (a worker counts its jobs, detect-text's included); the request metrics (route,
  status: a 504 too) where the request is answered.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

from app.engine import images, masks, pipeline
from app.engine.masks import Region
from app.engine.models import InpaintModel, ModelHolder
from app.engine.ocr.describe import LineStyle, describe as describe_line
from app.errors import (Cancelled, InferenceFailed, ServiceError, Timeout, detection_unavailable, model_loading,
                        recognition_unavailable)
from app.execution.runner import InferenceRunner
from app.geometry import Box, Size
from app.metrics import Metrics
from app.wire import OMIT_NONE

if TYPE_CHECKING:
    from app.engine.ocr import Detection as Found, Ocr, Reading

log = logging.getLogger("app.service")
T = TypeVar("T")

Observe = Callable[..., None]  # Metrics.observe_pipeline(model, timings, outcome="ok")
Report = Callable[[pipeline.Stage, float, int, int, str], None]  # stage, fraction, current, total, message


@dataclass(frozen=True)
class DetectedLine:
    """A text line detect-text found: its polygon (a client may send it back as a region)."""

    points: list[tuple[float, float]]
    bounding_box: Box
    score: float
    text: str | None = field(default=None, metadata=OMIT_NONE)  # with recognize: what it says
    text_score: float | None = field(default=None, metadata=OMIT_NONE)  # and the recognizer's confidence, 0-1
    style: LineStyle | None = field(default=None, metadata=OMIT_NONE)  # with describe: how it looks


@dataclass(frozen=True)
class DetectedText:
    """detect-text's answer (`detect_job`), wherever it ran."""

    regions: list[DetectedLine]
    image_dimensions: Size
    regions_outside_image: int  # search regions wholly outside the image (nothing searched there)
    processing_time: float
    detector: str  # the detector's name
    recognizer: str | None = field(default=None, metadata=OMIT_NONE)  # with recognize: the recognizer's name


def inpaint_job(job: pipeline.InpaintInput, model: InpaintModel, limits: pipeline.Limits,
                detector: pipeline.Detector | None, *, cancel: threading.Event | None = None,
                report: Report | None = None, observe: Observe | None = None) -> pipeline.InpaintOutput:
    """One image through the pipeline, in the calling (worker) thread."""

    def step(stage: pipeline.Stage, fraction: float, current: int, total: int, message: str) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        if report is not None:
            report(stage, fraction, current, total, message)

    try:
        out = pipeline.inpaint(job, model, limits, step, detector)
    except ServiceError:
        raise
    except Exception:  # a model or library failure: logged in full, answered without internals
        log.exception("inference failed (model %s)", model.name)
        if observe is not None:
            observe(model.name, {}, outcome="error")
        raise InferenceFailed("processing failed inside the model; see the service log") from None
    if observe is not None:
        observe(model.name, out.timings)
    return out


def detect_job(image: bytes | str, regions: list[Region], detector: Ocr | None, limits: pipeline.Limits,
               observe: Observe | None = None, recognize: bool = False, describe: bool = False) -> DetectedText:
    """detect-text's answer, in the calling (worker) thread, wherever it runs (here, or on a worker
    for ROLE=api): counted like a model's job (its time under the stage "detect", a failure as
    outcome "error"). `recognize`: each line's `text` and `text_score` too; `describe`: its
    `style` (engine/ocr/describe.py)."""
    if detector is None:  # a worker without the detector, asked through the queue
        raise detection_unavailable()
    if recognize and detector.reader is None:
        raise recognition_unavailable()
    started = time.perf_counter()
    try:
        raw = images.payload_bytes(image, max_bytes=limits.max_file_size)
        img = images.decode_image(raw, max_bytes=limits.max_file_size, max_pixels=limits.max_image_pixels)
        searched, outside = masks.on_image(regions, img.width, img.height)  # no text in a zero-area or off-image one
        found = detector.detect(img.rgb, within=searched or None) if searched or not regions else []
        # with recognize, each line read upright, whatever its angle (engine/ocr/recognizer.py)
        said = detector.read(img.rgb, [d.points for d in found]) if recognize else []
        styles = [describe_line(img.rgb, Region(d.points)) for d in found] if describe else []
        lines = [_line(d, said[i] if i < len(said) else None, styles[i] if i < len(styles) else None)
                 for i, d in enumerate(found)]
    except ServiceError:
        raise
    except Exception:
        if observe is not None:
            observe(detector.name, {}, outcome="error")
        raise
    took = round(time.perf_counter() - started, 4)
    if observe is not None:
        observe(detector.name, {"detect": took})
    return DetectedText(regions=lines, image_dimensions=Size(img.width, img.height), regions_outside_image=outside,
                     processing_time=took, detector=detector.name,
                     recognizer=detector.reader.name if recognize and detector.reader is not None else None)


def _line(d: Found, reading: Reading | None, style: LineStyle | None = None) -> DetectedLine:
    """One line found (what it says, when it was read; how it looks, when it was described), its
    figures rounded as answers give them."""
    box = d.bounding_box()
    return DetectedLine(points=[(round(x, 2), round(y, 2)) for x, y in d.points],
                        bounding_box=Box(round(box["x"], 2), round(box["y"], 2), round(box["width"], 2),
                                         round(box["height"], 2)),
                        score=round(float(d.score), 4), text=reading.text if reading else None,
                        text_score=round(reading.score, 4) if reading else None, style=style)


class Execution:
    """Runs the routes' work, here or on a worker (see the module's docstring)."""

    def __init__(self, runner: InferenceRunner, models: ModelHolder, limits: pipeline.Limits, metrics: Metrics,
                 request_timeout: float, text_detection: bool = True):
        self.runner, self.models, self.limits, self.metrics = runner, models, limits, metrics
        self.request_timeout, self.text_detection = request_timeout, text_detection
        self._stopping: set[asyncio.Future[Any]] = set()  # remote work told to stop, until it has

    def runs_elsewhere(self) -> str | None:
        """None: the work runs here (on an API-only replica, app.tasks.remote.RemoteWorkers answers
        the routes in Execution's place and says where it runs)."""
        return None

    async def execute(self, work: Callable[[threading.Event], T], *, what: str = "processing") -> T:
        """`work(cancel)` in a worker thread, under a queue slot and REQUEST_TIMEOUT. `cancel` is set
        on timeout and when the caller goes away; work checks it between steps."""
        cancel = threading.Event()
        fut: asyncio.Future[T] = self.runner.execute(self.runner.reserve(), work, cancel)
        return await self._wait(fut, cancel.set, what)

    async def wait(self, work: Awaitable[T], *, what: str = "processing") -> T:
        """Work a worker replica runs (app.tasks.remote), waited for like `execute`: on timeout or
        when the caller goes away, the awaiting coroutine is cancelled, and with it the queued task."""
        fut = asyncio.ensure_future(work)

        def stop() -> None:
            fut.cancel()
            self._stopping.add(fut)  # kept until its cancel has reached the queue
            fut.add_done_callback(self._stopping.discard)

        return await self._wait(fut, stop, what)

    async def _wait(self, fut: asyncio.Future[T], stop: Callable[[], None], what: str) -> T:
        """The one wait: REQUEST_TIMEOUT -> 504 `timeout`, the caller gone -> the work stops, a
        failure that is not a ServiceError -> 500 `inference_failed` (details in the log only)."""

        def stop_work() -> None:
            stop()
            fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # consume the late error

        try:
            result: T = await asyncio.wait_for(asyncio.shield(fut), timeout=self.request_timeout)
            return result
        except asyncio.TimeoutError:
            stop_work()
            raise Timeout(f"{what} took longer than REQUEST_TIMEOUT ({self.request_timeout:g} s)") from None
        except asyncio.CancelledError:  # the client went away: stop the work too
            stop_work()
            raise
        except ServiceError:
            raise
        except Exception:  # a failure in the work itself: logged in full, answered without internals
            log.exception("%s failed", what)
            raise InferenceFailed(f"{what} failed; see the service log") from None

    async def inpaint(self, job: pipeline.InpaintInput) -> pipeline.InpaintOutput:
        """A sync request's job: the loaded model (503 while it loads) through `inpaint_job`."""
        model = self.models.require()
        detector: pipeline.Detector | None = self.models.detector

        def work(cancel: threading.Event) -> pipeline.InpaintOutput:
            return inpaint_job(job, model, self.limits, detector, cancel=cancel,
                               observe=self.metrics.observe_pipeline)

        return await self.execute(work)

    async def detect(self, image: bytes | str, regions: list[Region], recognize: bool = False,
                     describe: bool = False) -> DetectedText:
        """detect-text's answer (`detect_job`), here (503 `model_loading` while the detector loads)."""
        detector = self.models.detector
        if detector is None:
            if self.text_detection and not self.models.ready.is_set():
                raise model_loading("the text detector")
            raise detection_unavailable()
        if recognize and detector.reader is None:  # refused before it takes a queue slot
            raise recognition_unavailable()

        def work(cancel: threading.Event) -> DetectedText:
            return detect_job(image, regions, detector, self.limits, self.metrics.observe_pipeline, recognize,
                              describe)

        return await self.execute(work, what="text detection")
