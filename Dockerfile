# Text-removal service (FastAPI + IOPaint). One image, two torch builds:
#
#   docker build -t iopaint-text-removal:cpu .                                  # CPU (default)
#   docker build -t iopaint-text-removal:cuda --build-arg TORCH_VARIANT=cuda .  # NVIDIA GPU
#   docker build --build-arg PREFETCH_MODEL=lama ...     # bake LaMa's weights in (needs internet)
#   docker build --build-context wheels=/opt/wheels --build-arg TORCH_WHEELS=local ...
#                                                        # torch from a local folder of wheels
#
# Dependencies come from the same files and script as README's install (requirements.txt,
# requirements-nodeps.txt via scripts/setup.sh); this file only chooses which torch build
# satisfies requirements.txt's `torch==X` pin before setup.sh runs:
#   TORCH_VARIANT=cpu,  TORCH_WHEELS=index: PyTorch's CPU wheel index (X+cpu, ~200 MB, no CUDA)
#   TORCH_VARIANT=cuda, TORCH_WHEELS=index: PyPI's default wheel, a CUDA build that carries the
#       CUDA runtime as nvidia-* packages (multi-GB); the host needs the NVIDIA driver and the
#       container toolkit, nothing CUDA in the base image
#   TORCH_WHEELS=local: the wheel found in the `wheels` build context (an X+cpu or X+cuXXX file)
# Model weights: baked in at /models with PREFETCH_MODEL, or cached in a volume mounted at
# /models (IOPAINT_MODEL_DIR). Without them the service serves IOPAINT_MODEL_FALLBACK (cv2)
# and says so on /api/v1/health.

# Empty unless `--build-context wheels=DIR` replaces it with a folder of wheels.
FROM scratch AS wheels

FROM python:3.11-slim AS deps
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
WORKDIR /app
# torch's wheel carries its own libgomp; opencv-python-headless needs no libGL; onnxruntime
# needs nothing beyond glibc and libstdc++: no apt packages here (the runtime stage adds fonts).
COPY requirements.txt requirements-nodeps.txt ./
COPY scripts/setup.sh scripts/setup.sh
ARG TORCH_VARIANT=cpu
ARG TORCH_WHEELS=index
ARG TORCH_CPU_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN --mount=type=bind,from=wheels,target=/wheels \
    --mount=type=cache,target=/root/.cache/pip,sharing=locked \
    set -eu; \
    python -m venv "$VENV"; \
    pin=$(grep -E '^torch==' requirements.txt); \
    case "$TORCH_VARIANT/$TORCH_WHEELS" in \
      */local) ls /wheels/torch-*.whl >/dev/null 2>&1 \
                 || { echo "TORCH_WHEELS=local needs --build-context wheels=DIR with a torch wheel" >&2; exit 1; }; \
               src="--find-links /wheels" ;; \
      cpu/index) src="--index-url $TORCH_CPU_INDEX_URL --extra-index-url https://pypi.org/simple" ;; \
      cuda/index) src="" ;; \
      *) echo "TORCH_VARIANT must be cpu or cuda, TORCH_WHEELS index or local" >&2; exit 1 ;; \
    esac; \
    "$VENV/bin/pip" install -q $src "$pin"; \
    "$VENV/bin/python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; \
    PYTHON=python scripts/setup.sh

# Optional weights, in their own stage so that the default build never runs it.
FROM deps AS weights
ARG PREFETCH_MODEL=""
COPY app/ app/
RUN mkdir -p /models \
 && if [ -n "$PREFETCH_MODEL" ]; then python -m app download --model "$PREFETCH_MODEL" --dir /models; fi

FROM deps AS runtime
ARG TORCH_VARIANT=cpu
ARG APP_UID=10001
# replace-text's fonts, open-licensed (scripts/fonts.sh says which and why)
COPY scripts/fonts.sh scripts/fonts.sh
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean && bash scripts/fonts.sh
RUN useradd --uid "$APP_UID" --user-group --create-home --shell /usr/sbin/nologin app
COPY --from=weights --chown=app:app /models /models
COPY app/ app/
ENV PYTHONPATH=/app \
    IOPAINT_HOST=0.0.0.0 \
    IOPAINT_PORT=8081 \
    IOPAINT_MODEL_DIR=/models \
    IOPAINT_DEVICE=${TORCH_VARIANT}
LABEL org.opencontainers.image.title="iopaint-text-removal" \
      org.opencontainers.image.description="Text-removal service (FastAPI + IOPaint), torch ${TORCH_VARIANT}"
USER app
EXPOSE 8081
# 200 and status "healthy" only once a model is loaded (a fallback model counts: the health
# body says which one is active and why).
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --start-interval=2s --retries=3 \
  CMD python -c "import json,os,urllib.request as u; r=u.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('IOPAINT_PORT','8081'), timeout=4); exit(json.load(r).get('status')!='healthy')"
ENTRYPOINT ["python", "-m", "app"]
CMD ["serve"]
