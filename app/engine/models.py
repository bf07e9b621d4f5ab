"""One small interface over IOPaint's models: load once, then call with RGB + mask.

`load_model` runs IOPaint's own `ModelManager` in-process. It never downloads at run time
(weights come from `python -m app download` or the image build), never lets IOPaint's
`exit(-1)` on a bad weights file end the process, and when the requested model cannot load
it serves the configured fallback (`cv2`, which needs no weights) and says why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from app.errors import InvalidInput, model_loading, model_unavailable, summarise_validation
from app.wire import OMIT_NONE

if TYPE_CHECKING:
    from app.engine.ocr import Ocr

log = logging.getLogger("app.model")
_NULL = contextlib.nullcontext()  # no lock, no autocast; stateless: one instance serves every `with`


class ModelLoadError(RuntimeError):
    """The requested model could not be loaded; the message says why in one line."""


class InpaintModel(Protocol):
    """What the pipeline needs of a model: a name, and RGB + mask in, RGB out (same size)."""

    name: str
    device: str

    def __call__(self, rgb: np.ndarray, mask: np.ndarray, params: dict[str, Any]) -> np.ndarray: ...


class BatchInpaintModel(InpaintModel, Protocol):
    """A model that can also repaint several crops in one forward pass (LaMa's N x C x H x W)."""

    pad_mod: int
    batch_waste: float  # how much padding a shared pass may add (plan_batches): what sharing saves here

    def inpaint_batch(self, rgbs: list[np.ndarray], masks: list[np.ndarray], params: dict[str, Any]
                      ) -> list[np.ndarray]: ...


def fft_friendly(side: int, mod: int = 8) -> int:
    """The padded size of one side: the smallest multiple of `mod` >= side whose side/mod (LaMa's
    FFT size, at 1/8 scale) has no prime factor above 7. pocketfft's radix passes cover 2, 3, 5
    and 7; a larger prime (712 px wide: 89) costs the whole pass 8-10 % more, for at most a few
    per cent more pixels here."""
    m = max(1, -(-side // mod))
    while True:
        n = m
        for p in (2, 3, 5, 7):
            while n % p == 0:
                n //= p
        if n == 1:
            return m * mod
        m += 1


def fills_blind(model: Any) -> bool:
    """True where the model fills the mask without seeing what it covers: IOPaint's erase models
    (`is_erase_model`: cv2 reads only the mask's boundary; LaMa, MAT, FcF, ZITS, MI-GAN, Manga and LDM
    take the image with the mask blanked). Not diffusion models, which may start from the masked
    pixels (a strength under 1), nor any other callable: a fill that saw the letters may draw them
    back blurred, where a detector may not see them and a recognizer reads them (verify.confirm)."""
    return bool(getattr(model, "is_erase_model", False))


def batch_capable(model: Any) -> bool:
    """True where `model.inpaint_batch` exists and applies (IOPaintModel only for LaMa)."""
    return callable(getattr(model, "inpaint_batch", None)) and bool(getattr(model, "batches", True))


@dataclass(frozen=True)
class Fit:
    """The shape IOPaint pads a model's input to (its class's `pad_mod`, `min_size` and
    `pad_to_square`, as helper.pad_img_to_modulo applies them). The crop planner grows each crop to
    that shape with the image's own pixels, where IOPaint would pad with a mirror of the crop."""

    mod: int = 1
    min_size: int | None = None
    square: bool = False

    @property
    def working_size(self) -> int | None:
        """The one size a model runs at (MAT, FcF, MI-GAN: 512 square): a larger crop is padded to
        twice it, so crops are scaled to it instead. None where the model takes any multiple."""
        if self.square and self.min_size and self.mod >= self.min_size:
            return self.min_size
        return None

    def crop_shape(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) of image to give the model for a crop of height x width: what IOPaint
        pads it to (each side up to a multiple of `mod`, at least `min_size`, square where the
        model pads square); at a fixed working size a square of at least that size, scaled to it
        where larger."""
        if self.working_size:
            side = max(self.working_size, height, width)
            return side, side
        h, w = -(-height // self.mod) * self.mod, -(-width // self.mod) * self.mod
        if self.min_size:
            h, w = max(h, self.min_size), max(w, self.min_size)
        if self.square:
            h = w = max(h, w)
        return h, w


def crop_fit(model: Any) -> Fit | None:
    """The model's Fit, or None where crops stay as planned (LaMa's own batched path pads them
    itself, and test doubles declare none)."""
    fit = getattr(model, "fit", None)
    return fit if isinstance(fit, Fit) else None


@dataclass
class Tuning:
    """How the model runs on this machine (settings TORCH_THREADS, TORCH_INTEROP_THREADS,
    MODEL_PRECISION, MODEL_CHANNELS_LAST, MODEL_WARMUP)."""

    threads: int = 0  # torch's intra-op threads; 0: every core this process may use
    interop_threads: int = 1  # LaMa has no parallel branches: one inter-op thread, no idle pool
    precision: str = "fp32"  # fp32 | fp16 (CUDA only) | bf16: autocast of LaMa's forward passes
    channels_last: bool = True  # NHWC weights and activations: oneDNN's and cuDNN's fast layout
    warmup: bool = True  # forward passes at start, so that the first request is as fast as the second


@dataclass(frozen=True)
class Warmup:
    """The forward passes run at start (MODEL_WARMUP), and what they took."""

    passes: int
    seconds: float


@dataclass
class Inference:
    """How the model runs on this machine, as health reports it (`inference`)."""

    precision: str = "fp32"  # of LaMa's forward passes (autocast): fp32, fp16 or bf16
    channels_last: bool = False
    warmup: Warmup | None = None  # None: no warm-up
    forward_passes_at_once: int | None = None  # 1: one at a time, whichever worker asks; None: no bound (cv2)
    precision_note: str | None = field(default=None, metadata=OMIT_NONE)  # why the precision is not the one asked
    intra_op_threads: int | None = field(default=None, metadata=OMIT_NONE)  # torch's pools, once set
    interop_threads: int | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class ModelDetails:
    """What the loaded model is and how it runs (/model's `parameters`, health's `inference`)."""

    pad_mod: int
    min_size: int | None
    erase_model: bool
    batches_crops: bool  # crops share forward passes (LaMa)
    working_size: int | None  # the fixed size its crops are scaled to (MAT, FcF, MI-GAN); None: their own
    colour: str  # where the output's colour comes from (manga: the input's chroma)
    inference: Inference


def apply_threads(threads: int, interop_threads: int) -> tuple[int, int]:
    """Set torch's thread pools for the process. One forward pass runs at a time (IOPaintModel's
    lock), so it gets every core; the inter-op pool can only be sized before its first use.
    Returns the intra-op and inter-op threads in effect."""
    import torch

    torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
    if torch.get_num_interop_threads() != interop_threads:
        try:
            torch.set_num_interop_threads(interop_threads)
        except RuntimeError:  # already used in this process (a second load, tests): keep what is there
            pass
    return torch.get_num_threads(), torch.get_num_interop_threads()


def apply_model_dir(model_dir: Path | None) -> None:
    """Point every weights cache IOPaint uses (torch hub, its own, Hugging Face) at one folder.
    Must run before IOPaint is imported: some of its paths are read at import time."""
    if model_dir is None:
        return
    model_dir = Path(model_dir).expanduser().resolve()
    model_dir.mkdir(parents=True, exist_ok=True)
    os.environ["TORCH_HOME"] = str(model_dir / "torch")
    os.environ["XDG_CACHE_HOME"] = str(model_dir)
    os.environ["HF_HOME"] = str(model_dir / "huggingface")


def _quiet_offline_env() -> None:
    # Never reach a model hub from the service process: a missing file must fail fast.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # IOPaint's old torch.cuda.amp calls
    _mark_hf_cache_current()
    from loguru import logger

    logger.disable("iopaint.schema")  # "Generate random seed" on every request
    logger.disable("iopaint.model_manager")  # "Loading model: x": our own "model ready" line says it


def _mark_hf_cache_current() -> None:
    """Write the Hugging Face cache's layout version, as Transformers itself does on first import.
    Without it, a cache that Diffusers touched first makes Transformers print a misleading "you are
    offline ... your cache is from a previous version" warning and an empty tqdm `0it` migration
    bar at every fresh start. The service reads no pre-2022 Transformers cache, so nothing is lost."""
    from huggingface_hub import constants

    cache = next((os.environ[k] for k in ("TRANSFORMERS_CACHE", "PYTORCH_TRANSFORMERS_CACHE",
                                          "PYTORCH_PRETRAINED_BERT_CACHE") if os.environ.get(k)),
                 constants.HF_HUB_CACHE)
    version = Path(cache) / "version.txt"
    if version.is_file():
        return
    try:
        version.parent.mkdir(parents=True, exist_ok=True)
        version.write_text("1")
    except OSError:  # a read-only cache: Transformers will say what it says
        pass


def resolve_device(requested: str) -> tuple[str, str | None]:
    """The device to use and, when it differs from the requested one, why."""
    import torch

    if requested.startswith("cuda") and not torch.cuda.is_available():
        return "cpu", f"{requested} requested but CUDA is not available"
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        return "cpu", "mps requested but not available"
    if requested not in ("cpu", "mps") and not requested.startswith("cuda"):
        return "cpu", f"unknown device {requested!r}"
    return requested, None


def weights_dir() -> str:
    import torch.hub

    return os.path.join(torch.hub.get_dir(), "checkpoints")


_OWNER = {"ldm": "ldm", "zits": "zits", "cv2": "cv2"}  # IOPaint's parameters only one model reads, by prefix

# IOPaint names samplers "DDIM", "DPM++ 2M"...; backends send "ddim", "dpm++_2m" and so on.
def _sampler(value: Any) -> Any:  # an iopaint SDSampler (iopaint ships no types)
    from iopaint.schema import SDSampler

    key = str(value or "").strip().lower().replace("_", " ")
    for s in SDSampler:
        if key in (s.value.lower(), s.name.lower().replace("_", " ")):
            return s
    return SDSampler.ddim


def _ldm_steps_work(steps: int) -> bool:
    """IOPaint's uniform DDIM/PLMS schedule (model/utils.make_ddim_timesteps) takes timesteps
    0, c, 2c, ... below 1000 with c = 1000 // steps, plus one: where 999 is a multiple of c the last
    is 1000, one past its 1000 noise levels, and the sampler raises IndexError mid-request."""
    return 1 <= steps <= 1000 and 999 % (1000 // steps) != 0


def _check_ldm_steps(value: Any) -> None:
    """An ldm_steps IOPaint's sampler cannot run is the caller's error, with the nearest that works."""
    try:
        steps = int(value)
    except (TypeError, ValueError):
        return  # InpaintRequest says what is wrong with it
    if _ldm_steps_work(steps):
        return
    below = next((n for n in range(min(steps - 1, 1000), 0, -1) if _ldm_steps_work(n)), None)
    above = next((n for n in range(max(steps + 1, 1), 1001) if _ldm_steps_work(n)), None)
    near = " or ".join(str(n) for n in (below, above) if n is not None)
    raise InvalidInput(f"ldm_steps: IOPaint's ldm sampler cannot run {steps} steps (its schedule would end past "
                       f"its last noise level, or outside 1..1000); {near} would run", code="invalid_model_parameter")


def with_input_colour(gray: np.ndarray, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A grey model's answer in the input's colours: its luminance (Y of YCrCb, the weights
    IOPaint's manga model reads the input with) under the chroma of a cheap colour fill of the
    hole (OpenCV's Telea, radius 5). On a grey input the fill is grey and nothing changes."""
    import cv2

    hole = (mask > 0).astype(np.uint8)
    if not hole.any() or np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return gray
    fill = cv2.inpaint(np.ascontiguousarray(rgb), hole, 5, cv2.INPAINT_TELEA)
    ycc = cv2.cvtColor(fill, cv2.COLOR_RGB2YCrCb)
    ycc[..., 0] = cv2.cvtColor(gray, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB))


class IOPaintModel:
    """A model loaded by IOPaint's ModelManager. Calls are RGB in, RGB out."""

    def __init__(self, manager: Any, name: str, device: str) -> None:
        self.manager = manager
        self.name = name
        self.device = device
        inner = manager.model
        self.pad_mod = int(getattr(inner, "pad_mod", 8))
        self.min_size = getattr(inner, "min_size", None)
        self.is_erase_model = bool(getattr(inner, "is_erase_model", False))
        # IOPaint's LaMa runs a TorchScript module that takes N x 3 x H x W: crops can share a call
        from iopaint.model.lama import LaMa

        self.batches = isinstance(inner, LaMa) and not getattr(inner, "pad_to_square", False)
        self.fit: Fit | None = None if self.batches else Fit(
            self.pad_mod, self.min_size, bool(getattr(inner, "pad_to_square", False)))
        from iopaint.model.manga import Manga

        # IOPaint's manga model paints grey: its luminance is kept, the colour comes from the input
        self.gray = isinstance(inner, Manga)
        from iopaint.schema import InpaintRequest

        self._fields = set(InpaintRequest.model_fields)
        # one forward pass at a time, whichever worker asks: two would split the same cores (cv2
        # needs no torch and no lock)
        self._forward = threading.Lock() if name != "cv2" else None
        # On a CPU a pass costs its pixels (LaMa: ~7.5 us each here) and sharing one saves next to
        # nothing, so crops share only when the padded shape is their own; on a GPU a pass has a
        # fixed cost worth up to half as many padded pixels again
        self.batch_waste = 1.5 if device.startswith("cuda") else 1.0
        self._autocast: Any = None  # a torch dtype: LaMa's passes run under torch.autocast
        self.inference = Inference(forward_passes_at_once=1 if self._forward else None)

    def config(self, params: dict[str, Any]) -> Any:  # an iopaint InpaintRequest
        """IOPaint's request from the caller's parameters (those IOPaint knows); a value IOPaint
        cannot take is the caller's error (422), not a failed inference."""
        from iopaint.schema import InpaintRequest, LDMSampler
        from pydantic import ValidationError

        # a parameter of another model (ldm_steps to zits) is ignored, as every unknown one is
        known = {k: v for k, v in params.items() if k in self._fields and v is not None
                 and _OWNER.get(k.split("_", 1)[0], self.name) == self.name}
        known.pop("image", None)
        known.pop("mask", None)
        if "sd_sampler" in known:
            known["sd_sampler"] = _sampler(known["sd_sampler"])
        if "ldm_sampler" in known:  # IOPaint's LDM raises a bare ValueError on any other
            sampler = str(known["ldm_sampler"]).strip().lower()
            if sampler not in [s.value for s in LDMSampler]:
                raise InvalidInput(f"ldm_sampler: {known['ldm_sampler']!r} is not one of "
                                   f"{', '.join(s.value for s in LDMSampler)}", code="invalid_model_parameter")
            known["ldm_sampler"] = sampler
        if "ldm_steps" in known:
            _check_ldm_steps(known["ldm_steps"])
        try:
            return InpaintRequest(**known)
        except ValidationError as e:
            raise InvalidInput(summarise_validation(e.errors()), code="invalid_model_parameter") from None

    def __call__(self, rgb: np.ndarray, mask: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        config = self.config(params)
        with self._forward or _NULL:
            bgr = self.manager(rgb, mask, config)  # mask must be 2-D [H, W]
        out = np.ascontiguousarray(bgr[:, :, ::-1])
        return with_input_colour(out, rgb, mask) if self.gray else out

    def tune(self, tuning: Tuning) -> Inference:
        """Apply the settings to LaMa's TorchScript module (memory layout, autocast), then warm up.
        Returns what is in effect, for health."""
        import torch

        info = self.inference
        if self.batches:
            inner = self.manager.model
            if tuning.channels_last:
                inner.model = inner.model.to(memory_format=torch.channels_last)
                info.channels_last = True
            if tuning.precision == "fp16" and not self.device.startswith("cuda"):
                info.precision_note = "fp16 autocast needs CUDA: running fp32"
            elif tuning.precision in ("fp16", "bf16"):
                self._autocast = torch.float16 if tuning.precision == "fp16" else torch.bfloat16
                info.precision = tuning.precision
        elif tuning.precision != "fp32":
            info.precision_note = f"{self.name} runs without autocast: fp32"
        if tuning.warmup:
            info.warmup = self.warm_up()
        return info

    def warm_up(self, passes: int = 2) -> Warmup:
        """Forward passes on a small synthetic crop through the requests' own path: TorchScript
        profiles its first call and optimizes at the second, and oneDNN (cuDNN) sets up its kernels;
        without this the first request pays seconds for it."""
        side = 256
        ramp = np.linspace(0, 255, side, dtype=np.float32)
        rgb = np.repeat((np.add.outer(ramp, ramp) / 2).astype(np.uint8)[:, :, None], 3, axis=2)
        mask = np.zeros((side, side), np.uint8)
        mask[side // 3:side // 2, side // 5:side - side // 5] = 255
        passes = passes if self.batches else 1
        started = time.perf_counter()
        for _ in range(passes):
            if self.batches:
                self.inpaint_batch([rgb], [mask], {"hd_strategy": "Original"})
            else:
                self(rgb, mask, {"hd_strategy": "Original"})
        return Warmup(passes=passes, seconds=round(time.perf_counter() - started, 3))

    def inpaint_batch(self, rgbs: list[np.ndarray], masks: list[np.ndarray], params: dict[str, Any]
                      ) -> list[np.ndarray]:
        """LaMa on one or several crops in one forward pass: each is padded (symmetric, as IOPaint
        pads to its modulo) to the largest height and width among them, each side rounded up to an
        FFT-friendly multiple of `pad_mod` (`fft_friendly`). Crops of that very shape get exactly
        what one pass each would give. RGB out, each its own size."""
        import torch

        if not self.batches:
            return [self(r, m, params) for r, m in zip(rgbs, masks)]
        inner = self.manager.model
        mod = self.pad_mod
        height = fft_friendly(max(r.shape[0] for r in rgbs), mod)
        width = fft_friendly(max(r.shape[1] for r in rgbs), mod)
        if self.min_size:
            height, width = max(height, self.min_size), max(width, self.min_size)
        batch = np.empty((len(rgbs), 3, height, width), np.float32)
        holes = np.empty((len(rgbs), 1, height, width), np.float32)
        for i, (rgb, mask) in enumerate(zip(rgbs, masks)):
            h, w = mask.shape
            pad = ((0, height - h), (0, width - w))
            batch[i] = np.pad(rgb, (*pad, (0, 0)), mode="symmetric").transpose(2, 0, 1).astype(np.float32) / 255
            holes[i, 0] = np.pad(mask, pad, mode="symmetric") > 0
        device = torch.device(inner.device)
        image, hole = torch.from_numpy(batch).to(device), torch.from_numpy(holes).to(device)
        autocast = torch.autocast(device.type, dtype=self._autocast) if self._autocast is not None else _NULL
        with self._forward or _NULL, torch.inference_mode(), autocast:
            out = inner.model(image, hole)
            res = np.clip(out.float().permute(0, 2, 3, 1).cpu().numpy() * 255, 0, 255).astype(np.uint8)
        return [np.ascontiguousarray(res[i, :m.shape[0], :m.shape[1]]) for i, m in enumerate(masks)]

    def describe(self) -> ModelDetails:
        return ModelDetails(pad_mod=self.pad_mod, min_size=self.min_size, erase_model=self.is_erase_model,
                            batches_crops=self.batches, working_size=self.fit.working_size if self.fit else None,
                            colour="input's chroma, model's luminance" if self.gray else "model's",
                            inference=self.inference)


@dataclass
class ModelStatus:
    """What is loaded, and why it is that one. Reported by /health, /model and the log."""

    requested: str
    device: str
    state: str = "loading"  # loading | ready | failed
    active: str | None = None
    fallback: bool = False
    reason: str | None = None  # why `active` is not `requested`, or why loading failed
    device_note: str | None = None
    load_seconds: float | None = None
    details: ModelDetails | None = None  # once it is loaded (IOPaintModel.describe)


def _first_line(e: BaseException, limit: int = 300) -> str:
    """An exception as one short line (load_state_dict's lists every key, a line each)."""
    text = " ".join(str(e).split()) or type(e).__name__
    return f"{type(e).__name__}: {text[:limit]}{'...' if len(text) > limit else ''}"


@contextlib.contextmanager
def _weights_errors_raise(name: str) -> Iterator[None]:
    """While IOPaint loads `name`: a weights file that does not load raises ModelLoadError naming
    the file. IOPaint's own helper.handle_error (what load_jit_model and load_model call) deletes a
    file whose checksum differs and calls exit(-1); the service keeps the file, since nothing here
    downloads it again, and the process alive (the fallback serves)."""
    import iopaint.helper as helper

    def raise_instead(model_path: str, model_md5: str, e: BaseException) -> None:
        raise ModelLoadError(
            f"weights for {name!r} are corrupt or not the expected model: {model_path} does not load "
            f"({_first_line(e)}); delete it and run `python -m app download --model {name}`") from None

    original = helper.handle_error
    helper.handle_error = raise_instead
    try:
        yield
    finally:
        helper.handle_error = original


def _load_one(name: str, device: str, low_mem: bool, cpu_offload: bool) -> IOPaintModel:
    from iopaint.model import models
    from iopaint.model_manager import ModelManager

    import torch

    if name in models and models[name].is_erase_model and not models[name].is_downloaded():
        raise ModelLoadError(
            f"weights for {name!r} are not in {weights_dir()} and the service does not download at run "
            f"time; run `python -m app download --model {name}` where there is internet"
        )
    try:
        with _weights_errors_raise(name):
            manager = ModelManager(
                name=name,
                device=torch.device(device),
                low_mem=low_mem,
                cpu_offload=cpu_offload,
                disable_nsfw=True,
                sd_cpu_textencoder=cpu_offload,
                local_files_only=True,
            )
    except ModelLoadError:
        raise
    except SystemExit:  # any other exit(-1) of IOPaint's (a checksum after a download)
        raise ModelLoadError(
            f"weights for {name!r} in {weights_dir()} are corrupt or not the expected model"
        ) from None
    except NotImplementedError as e:
        raise ModelLoadError(f"model {name!r} is unknown or its weights are missing: {_first_line(e)}") from None
    except Exception as e:
        raise ModelLoadError(f"model {name!r} failed to load: {_first_line(e)}") from None
    return IOPaintModel(manager, name, device)


def _ready(name: str, device: str, low_mem: bool, cpu_offload: bool, tuning: Tuning) -> IOPaintModel:
    """`name` loaded and tuned; a first forward pass that fails (weights that load but are not the
    model IOPaint's code expects) is a ModelLoadError like a file that does not load."""
    model = _load_one(name, device, low_mem, cpu_offload)
    try:
        model.tune(tuning)
    except Exception as e:
        raise ModelLoadError(f"model {name!r} loaded but its first forward pass failed: {_first_line(e)}") from None
    return model


def load_model(
    requested: str, device: str, *, fallback: str | None, low_mem: bool = True, cpu_offload: bool = True,
    tuning: Tuning | None = None,
) -> tuple[IOPaintModel, ModelStatus]:
    """Load `requested`, or the fallback where it cannot load, tuned and warmed up (`Tuning`'s
    defaults where none is given). Raises ModelLoadError only when neither loads (or no fallback
    is configured)."""
    _quiet_offline_env()
    tuning = tuning or Tuning()
    started = time.perf_counter()
    intra_op, interop = apply_threads(tuning.threads, tuning.interop_threads)
    dev, note = resolve_device(device)
    status = ModelStatus(requested=requested, device=dev, device_note=note)
    try:
        model = _ready(requested, dev, low_mem, cpu_offload, tuning)
    except ModelLoadError as e:
        if not fallback or fallback in ("none", requested):
            raise
        log.warning("model %s not loaded: %s; serving fallback model %s", requested, e, fallback)
        model = _ready(fallback, dev, low_mem, cpu_offload, tuning)
        status.fallback, status.reason = True, str(e)
    model.inference.intra_op_threads, model.inference.interop_threads = intra_op, interop
    status.active, status.state = model.name, "ready"
    status.load_seconds = round(time.perf_counter() - started, 3)
    status.details = model.describe()
    return model, status


class ModelHolder:
    """The process's one model (and its text detector), loaded in the background so that /health
    answers meanwhile."""

    def __init__(self, requested: str, device: str) -> None:
        self.model: InpaintModel | None = None
        self.detector: Ocr | None = None  # when TEXT_DETECTION is on
        self.status = ModelStatus(requested=requested, device=device)
        self.ready = threading.Event()

    def load(self, *, fallback: str | None, low_mem: bool, cpu_offload: bool, tuning: Tuning | None = None) -> None:
        try:
            model, status = load_model(
                self.status.requested, self.status.device, fallback=fallback, low_mem=low_mem, cpu_offload=cpu_offload,
                tuning=tuning,
            )
        except Exception as e:
            self.status.state, self.status.reason = "failed", str(e)
            log.error("model %s failed to load and no fallback is configured: %s", self.status.requested, e)
            raise
        finally:
            self.ready.set()
        self.model, self.status = model, status
        log.info(
            "model ready: active=%s requested=%s device=%s fallback=%s%s (%.1fs)",
            status.active, status.requested, status.device, status.fallback,
            f" reason={status.reason}" if status.reason else "", status.load_seconds or 0,
        )

    def require(self) -> InpaintModel:
        """The loaded model; Busy (503 with Retry-After) while it loads, or after it failed to."""
        if self.model is None:
            st = self.status
            if st.state == "failed":
                raise model_unavailable(st.requested, st.reason)
            raise model_loading()
        return self.model

    def use(self, model: InpaintModel, status: ModelStatus) -> None:
        """Install an already-loaded model (tests, tools)."""
        self.model, self.status = model, status
        self.ready.set()
