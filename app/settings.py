"""Every setting of the service: one class, read from the environment once at start-up.

The names in API.md's configuration table are kept exactly (IOPAINT_MODEL, MAX_IMAGE_SIZE, ...);
the rest are ours. `python -m app settings` prints them all with their current values.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str, **kw: Any) -> Any:
    """A field read from environment variable `name` (and settable by field name in code)."""
    return Field(validation_alias=AliasChoices(name, name.lower()), **kw)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", case_sensitive=False)

    # --- API.md's table ---
    host: str = _env("IOPAINT_HOST", default="0.0.0.0", description="bind address")
    port: int = _env("IOPAINT_PORT", default=8081, description="port")
    model: str = _env("IOPAINT_MODEL", default="lama", description="IOPaint model name")
    device: str = _env("IOPAINT_DEVICE", default="cpu", description="cpu, cuda or mps")
    low_mem: bool = _env("IOPAINT_LOW_MEM", default=True, description="IOPaint low-memory mode")
    cpu_offload: bool = _env("IOPAINT_CPU_OFFLOAD", default=True, description="IOPaint CPU offload")
    max_image_size: int = _env(
        "MAX_IMAGE_SIZE", default=2048, ge=64,
        description="largest side the model sees; larger crops are scaled down and composited back",
    )
    max_file_size: int = _env("MAX_FILE_SIZE", default=50 * 1024 * 1024, ge=1024, description="largest upload in bytes")
    request_timeout: float = _env("REQUEST_TIMEOUT", default=300.0, gt=0, description="seconds a request may take")
    log_level: str = _env("LOG_LEVEL", default="INFO")
    cors_origins: str = _env(
        "CORS_ORIGINS", default="",
        description="comma-separated origins a browser may call from; empty: same-origin only; '*': any (opt-in)",
    )
    task_backend: Literal["memory", "redis"] = _env(
        "TASK_BACKEND", default="memory",
        description="where tasks live: memory (this process) or redis (shared by every replica)")
    redis_url: str = _env("REDIS_URL", default="redis://localhost:6379/0",
                          description="the Redis of TASK_BACKEND=redis (rediss:// for TLS; with REDIS_SENTINELS "
                                      "only its database, password and scheme are used)")
    role: Literal["all", "api", "worker"] = _env(
        "ROLE", default="all",
        description="all: API and inference; api: API only, no model (work goes to workers); worker: queued work only")

    # --- ours ---
    model_fallback: str = _env(
        "IOPAINT_MODEL_FALLBACK", default="cv2",
        description="model served when IOPAINT_MODEL cannot load (no weights offline); 'none' refuses to start",
    )
    model_dir: Path | None = _env(
        "IOPAINT_MODEL_DIR", default=None,
        description="weights cache (sets TORCH_HOME, XDG_CACHE_HOME, HF_HOME); default: the libraries' own",
    )
    max_image_pixels: int = _env(
        "MAX_IMAGE_PIXELS", default=64_000_000, ge=1,
        description="largest decoded image (width*height); beyond it a 413 before any pixel is allocated",
    )
    max_queue_size: int = _env(
        "MAX_QUEUE_SIZE", default=16, ge=1,
        description="jobs admitted (running + waiting) before new ones get 503 with Retry-After",
    )
    inference_workers: int = _env(
        "INFERENCE_WORKERS", default=1, ge=1,
        description="threads running jobs; their model passes still run one at a time (each gets every core)")
    torch_threads: int = _env("TORCH_THREADS", default=0, ge=0,
                              description="torch's intra-op threads for a forward pass; 0: every core the process may use")
    torch_interop_threads: int = _env("TORCH_INTEROP_THREADS", default=1, ge=1,
                                      description="torch's inter-op threads (LaMa has no parallel branches)")
    model_precision: Literal["fp32", "fp16", "bf16"] = _env(
        "MODEL_PRECISION", default="fp32",
        description="LaMa's forward passes under autocast: fp16 (CUDA only) or bf16 (CPUs with AMX/AVX512-BF16, "
                    "CUDA); fp32: none")
    model_channels_last: bool = _env("MODEL_CHANNELS_LAST", default=True,
                                     description="LaMa's weights and activations in channels-last (NHWC) layout")
    model_warmup: bool = _env("MODEL_WARMUP", default=True,
                              description="forward passes at start, so that the first request is as fast as the next")
    default_padding: int = _env("DEFAULT_PADDING", default=2, ge=0, le=256, description="pixels a region grows by in the box mask mode")
    default_mask_mode: Literal["box", "text"] = _env(
        "DEFAULT_MASK_MODE", default="text",
        description="box: whole region; text: glyph strokes + margin (the default: higher PSNR in bench/quality.py)",
    )
    text_mode_padding: int = _env("TEXT_MODE_PADDING", default=4, ge=0, le=256,
                                  description="padding in the text mask mode (the strokes are searched within it)")
    crop_context: int = _env(
        "CROP_CONTEXT", default=64, ge=8,
        description="pixels of surrounding image given to the model around each group of regions",
    )
    png_compress_level: int = _env("PNG_COMPRESS_LEVEL", default=1, ge=0, le=9, description="zlib level for PNG output where fpng does not apply (gray, no fpng wheel)")
    max_regions: int = _env("MAX_REGIONS", default=1000, ge=1, description="regions accepted in one request")

    api_key: str | None = _env("IOPAINT_API_KEY", default=None,
                               description="when set, every route but health, metrics and docs needs this key")
    text_detection: bool = _env("TEXT_DETECTION", default=True,
                                description="load the offline text detector (PP-OCRv4 det, ONNX) at start-up")
    detect_max_side: int = _env("DETECT_MAX_SIDE", default=1024, ge=320, le=8192,
                                description="longest side an image is detected at (polygons map back to full size)")
    detect_small_text_side: int = _env(
        "DETECT_SMALL_TEXT_SIDE", default=2048, ge=0, le=8192,
        description="images larger than DETECT_MAX_SIDE get a second pass at up to this side for small text "
                    "(0: off)")
    text_recognition: bool = _env("TEXT_RECOGNITION", default=True,
                                  description="load the offline text recognizer (PP-OCRv4 rec, ONNX) beside the "
                                  "detector: what lines say, for recognize, remove_text and keep_text")
    text_pattern_max_length: int = _env("TEXT_PATTERN_MAX_LENGTH", default=256, ge=1, le=4096,
                                        description="longest remove_text / keep_text pattern (characters)")
    text_patterns_max: int = _env("TEXT_PATTERNS_MAX", default=32, ge=1, le=1000,
                                  description="remove_text + keep_text patterns in one request")
    fonts_dir: str | None = _env("FONTS_DIR", default=None,
                                 description="a folder of .ttf, .otf or .ttc fonts replace-text may write in, besides the "
                                 "installed DejaVu and Noto CJK (a line names one by its family)")
    task_retention: float = _env("TASK_RETENTION", default=3600.0, gt=0,
                                 description="seconds a finished task and its result are kept")
    task_result_max_bytes: int = _env("TASK_RESULT_MAX_BYTES", default=512 * 1024 * 1024, ge=0,
                                      description="total bytes of kept results; oldest evicted first")
    task_max_records: int = _env("TASK_MAX_RECORDS", default=10_000, ge=1, description="finished task records kept")
    max_batch_items: int = _env("MAX_BATCH_ITEMS", default=32, ge=1, description="images in one batch request")
    callback_allowed_hosts: str = _env(
        "CALLBACK_ALLOWED_HOSTS", default="",
        description="comma-separated host names and networks callbacks may go to; empty: any but link-local/metadata",
    )
    callback_retries: int = _env("CALLBACK_RETRIES", default=3, ge=0, le=10, description="retries of a failed callback")
    callback_backoff: float = _env("CALLBACK_BACKOFF", default=1.0, ge=0, description="first retry delay (doubles)")
    callback_secret: str | None = _env(
        "CALLBACK_SECRET", default=None,
        description="when set, callbacks carry X-IOPaint-Signature (HMAC-SHA256 of the timestamp and body)",
    )
    callback_timeout: float = _env("CALLBACK_TIMEOUT", default=10.0, gt=0, description="seconds per callback attempt")
    ws_max_connections: int = _env("WS_MAX_CONNECTIONS", default=10_000, ge=1,
                                   description="open WebSocket connections; beyond it new ones are closed (1001)")
    shutdown_grace: float = _env("SHUTDOWN_GRACE", default=10.0, ge=0,
                                 description="seconds running tasks get to stop on shutdown")
    queue_claim_idle: float = _env(
        "QUEUE_CLAIM_IDLE", default=10.0, gt=0, le=3600,
        description="TASK_BACKEND=redis: seconds without a heartbeat after which a dead replica's task is taken over")
    redis_timeout: float = _env("REDIS_TIMEOUT", default=2.0, gt=0, le=60,
                                description="seconds one Redis call may take before the backend counts as down")
    redis_sentinels: str = _env(
        "REDIS_SENTINELS", default="",
        description="comma-separated host:port of Redis Sentinels; set, the master is found (and found again after "
                    "a failover) through them")
    redis_sentinel_service: str = _env("REDIS_SENTINEL_SERVICE", default="mymaster",
                                       description="the master's name the Sentinels monitor")
    replica_name: str = _env("REPLICA_NAME", default="",
                             description="this replica's name in the shared queue (default: host name and pid)")

    @field_validator("model", "model_fallback", "device")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()

    @model_validator(mode="after")
    def _roles_need_a_shared_store(self) -> "Settings":
        if self.role != "all" and self.task_backend != "redis":
            raise ValueError(f"ROLE={self.role} needs TASK_BACKEND=redis (API and workers share work through it)")
        return self

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment (tests build their own `Settings`)."""
    return Settings()
