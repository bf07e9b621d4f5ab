"""The ONNX Runtime side of the OCR package, shared by the detector and the recognizer: where a
PP-OCRv4 model file is (inside the installed `rapidocr_onnxruntime` wheel; only the file's path is
used, the package itself is never imported: its own imports are not part of the runtime set), how
a session is opened (threads, providers, no busy-waiting), and how a model is loaded or, where
onnxruntime or the file is missing or will not load, left out with the reason logged.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

log = logging.getLogger(__name__)

MODEL_PACKAGE = "rapidocr_onnxruntime"

T = TypeVar("T")


def default_model_path(model_file: str) -> str | None:
    """A PP-OCRv4 model (`model_file`, e.g. "models/ch_PP-OCRv4_det_infer.onnx") inside the installed
    rapidocr_onnxruntime wheel, or None."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / model_file
        if path.is_file():
            return str(path)
    return None


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def onnx_session(path: str, threads: int | None = None, providers: list[str] | None = None) -> Any:
    """An onnxruntime session as the detector and the recognizer both run theirs: sequential, all
    graph optimisations, the machine's cores, no busy-waiting, CUDA where it is available."""
    import onnxruntime as ort  # optional at import time: load_onnx reports its absence

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or _cpu_count()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # no busy-waiting between ops: the inpainting model and other requests share these cores
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    available = ort.get_available_providers()
    if providers is None:
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return ort.InferenceSession(path, sess_options=opts, providers=providers or None)


def load_onnx(what: str, model_file: str, make: Callable[[str], T], model_path: str | None = None) -> T | None:
    """`make(path)` for a model of the rapidocr wheel (`model_file`) or `model_path`, or None with
    the reason logged ("<what> disabled: ...") where onnxruntime or the file is missing or will not load."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        log.warning("%s disabled: onnxruntime is not installed (%s)", what, exc)
        return None
    path = model_path or default_model_path(model_file)
    if not path or not Path(path).is_file():
        log.warning("%s disabled: model file not found (%s)", what,
                    path or f"{MODEL_PACKAGE}/{model_file} in no installed package")
        return None
    try:
        return make(path)
    except Exception as exc:  # a corrupt file, an unusable provider: the service runs without it
        log.warning("%s disabled: could not load %s: %s", what, path, exc)
        return None
