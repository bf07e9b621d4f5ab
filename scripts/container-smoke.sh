#!/usr/bin/env bash
# Container smoke test: builds the CPU image, starts it with `docker compose up --wait`, and
# checks the running container over its published port:
#   health is "healthy"; the container runs as non-root; POST /api/v1/inpaint-regions repaints
#   inside the region and leaves far pixels alone; an async task
#   (POST /api/v1/inpaint-regions-async, WS /api/v1/ws/progress/{task_id}) ends in task_completed.
# Then the `replicas` profile (Redis, two replicas, nginx): a task submitted through the balancer
#   is followed on a replica directly, the replica running it is killed (SIGKILL), and the task
#   completes on the other one; then Redis is restarted and work resumes (scripts/replicas-smoke.py).
# Always tears the stack down (compose down -v). Prints the image size and build time.
#
#   bash scripts/container-smoke.sh
#
# Where no Docker engine can run it prints "SKIP: no Docker engine: <reason>" and exits 0; any
# other failure exits non-zero. A second run reuses the layer cache (seconds to build).
# Environment: SMOKE_IMAGE (tag, default iopaint-text-removal:cpu), SMOKE_PROJECT (compose
# project, default iopaint-smoke), TORCH_WHEELS_DIR (folder holding the CPU torch wheel;
# default pip's global.find-links; without one torch comes from PyTorch's CPU index),
# DOCKER_ENGINE_SCRIPT (default ../shared/tools/docker-engine.sh), SMOKE_PYTHON (client python).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
IMAGE=${SMOKE_IMAGE:-iopaint-text-removal:cpu}
PROJECT=${SMOKE_PROJECT:-iopaint-smoke}
ENGINE_SCRIPT=${DOCKER_ENGINE_SCRIPT:-$ROOT/../shared/tools/docker-engine.sh}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/container-smoke.XXXXXX")
t_start=$(date +%s)

log() { echo "[container-smoke] $*" >&2; }
skip() { echo "SKIP: no Docker engine: $*"; rm -rf "$WORK"; exit 0; }
die() { echo "FAIL: $*" >&2; exit 1; }

# --- 1. an engine, or a clean skip -------------------------------------------------------
engine_ok() { docker info >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; }
if ! engine_ok || { [ -f "$ENGINE_SCRIPT" ] && ! docker image inspect python:3.11-slim >/dev/null 2>&1; }; then
  if [ -f "$ENGINE_SCRIPT" ]; then
    # The script apt-installs the engine: retry when another apt run holds dpkg's lock.
    for try in 1 2 3; do
      if bash "$ENGINE_SCRIPT" >"$WORK/engine.log" 2>&1; then break; fi
      if [ "$try" = 3 ] || ! grep -q 'lock' "$WORK/engine.log"; then
        skip "$(basename "$ENGINE_SCRIPT") failed: $(grep -v '^\s*$' "$WORK/engine.log" | tail -1)"
      fi
      log "engine set-up waits for apt's lock (try $try)"; sleep 20
    done
  fi
  command -v docker >/dev/null || skip "docker is not installed and $ENGINE_SCRIPT is not there"
  docker info >/dev/null 2>&1 || skip "the daemon does not answer: $(docker info 2>&1 >/dev/null | grep -v '^[[:space:]]*$' | tail -1)"
  docker buildx version >/dev/null 2>&1 || skip "BuildKit (docker buildx) is missing"
  docker compose version >/dev/null 2>&1 || skip "docker compose v2 is missing"
fi
log "engine: $(docker version --format 'server {{.Server.Version}}'), compose $(docker compose version --short)"

COMPOSE=(docker compose --ansi never -p "$PROJECT" -f "$ROOT/docker-compose.yml")
export IOPAINT_IMAGE="$IMAGE" IOPAINT_PUBLISH_ADDR=127.0.0.1
IOPAINT_PUBLISH_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export IOPAINT_PUBLISH_PORT
cleanup() {
  rc=$?
  if [ "$rc" != 0 ] && [ -s "$WORK/up" ]; then
    log "container log (last 60 lines):"; "${COMPOSE[@]}" logs --no-color --tail 60 >&2 2>&1 || true
  fi
  "${COMPOSE[@]}" --profile replicas down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"${COMPOSE[@]}" down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true  # a run cut short

# --- 2. the CPU image ----------------------------------------------------------------------
WHEELS=
for d in ${TORCH_WHEELS_DIR:-$(python3 -m pip config get global.find-links 2>/dev/null || pip config get global.find-links 2>/dev/null || true)}; do
  if compgen -G "${d#file://}/torch-*.whl" >/dev/null; then WHEELS=${d#file://}; break; fi
done
build_args=(--build-arg TORCH_VARIANT=cpu)
if [ -n "$WHEELS" ]; then
  build_args+=(--build-context "wheels=$WHEELS" --build-arg TORCH_WHEELS=local)
  log "building $IMAGE with torch from $WHEELS"
else
  log "building $IMAGE with torch from PyTorch's CPU index"
fi
t0=$(date +%s)
if ! DOCKER_BUILDKIT=1 docker build --progress=plain "${build_args[@]}" -t "$IMAGE" "$ROOT" >"$WORK/build.log" 2>&1; then
  tail -40 "$WORK/build.log" >&2; die "docker build failed"
fi
build_s=$(( $(date +%s) - t0 ))
# earlier builds of this image, untagged by this one: drop them (only this image's label)
docker image prune -f --filter "label=org.opencontainers.image.title=iopaint-text-removal" >/dev/null 2>&1 || true
size_mb=$(( $(docker image inspect --format '{{.Size}}' "$IMAGE") / 1000000 ))
log "built in ${build_s}s, ${size_mb} MB"

# --- 3. compose up --wait ------------------------------------------------------------------
t0=$(date +%s)
echo up > "$WORK/up"
"${COMPOSE[@]}" up -d --no-build --wait --wait-timeout "${SMOKE_WAIT_TIMEOUT:-300}" iopaint >"$WORK/compose.log" 2>&1 \
  || { cat "$WORK/compose.log" >&2; die "docker compose up --wait: the service did not become healthy"; }
up_s=$(( $(date +%s) - t0 ))
log "healthy after ${up_s}s on 127.0.0.1:$IOPAINT_PUBLISH_PORT"
uid=$("${COMPOSE[@]}" exec -T iopaint id -u)
[ "$uid" != 0 ] || die "the container runs as root"
echo "PASS: container runs as uid $uid; compose healthcheck healthy"

# --- 4. API checks from the host (published port) --------------------------------------------
cat >"$WORK/smoke.py" <<'PY'
import asyncio, base64, io, json, sys, time, urllib.error, urllib.request, uuid
from PIL import Image
import websockets

BASE = sys.argv[1].rstrip("/")
BG, INK = (200, 200, 200), (0, 0, 0)
W, H = 256, 192
BOX = dict(x=56, y=76, width=92, height=38)   # the region sent; the ink lies inside it
INNER = (64, 84, 140, 106)                      # ink rectangle x0, y0, x1, y1 (exclusive)
FAR = [(5, 5), (W - 6, H - 6), (5, H - 6)]      # far from the region: must stay exact

def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr); sys.exit(1)

def call(method, path, body=None, timeout=180):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()

def source_png():
    im = Image.new("RGB", (W, H), BG)
    for x in range(INNER[0], INNER[2]):
        for y in range(INNER[1], INNER[3]):
            im.putpixel((x, y), INK)
    buf = io.BytesIO(); im.save(buf, "PNG")
    return buf.getvalue()

def check_pixels(png, what):
    out = Image.open(io.BytesIO(png)).convert("RGB")
    if out.size != (W, H):
        fail(f"{what}: result is {out.size}, sent {(W, H)}")
    inside = [out.getpixel((x, y)) for x in range(INNER[0], INNER[2], 4) for y in range(INNER[1], INNER[3], 4)]
    mean = sum(sum(p) for p in inside) / (3 * len(inside))
    if mean < 100:  # was 0 (ink); the background is 200
        fail(f"{what}: the region was not repainted (mean inside {mean:.0f}, ink 0, background 200)")
    for xy in FAR:
        if out.getpixel(xy) != BG:
            fail(f"{what}: pixel {xy} far outside the region changed: {out.getpixel(xy)} != {BG}")
    return mean

# health
st, _, body = call("GET", "/api/v1/health", timeout=10)
h = json.loads(body)
if st != 200 or h.get("status") != "healthy":
    fail(f"health: HTTP {st} {h}")
print(f"PASS: health healthy: model {h.get('model')!r} on {h.get('device')}"
      + (f" (fallback from {h.get('requested_model')!r})" if h.get("fallback") else ""))

img = base64.b64encode(source_png()).decode()

# synchronous
t = time.time()
st, hdr, body = call("POST", "/api/v1/inpaint-regions", {"image": img, "regions": [BOX]})
if st != 200:
    fail(f"inpaint-regions: HTTP {st} {body[:300]!r}")
hdr = {k.lower(): v for k, v in hdr.items()}
if not hdr.get("content-type", "").startswith("image/png"):
    fail(f"inpaint-regions: content-type {hdr.get('content-type')!r}")
if hdr.get("x-regions-count") != "1":
    fail(f"inpaint-regions: X-Regions-Count {hdr.get('x-regions-count')!r}")
mean = check_pixels(body, "inpaint-regions")
print(f"PASS: inpaint-regions in {time.time() - t:.2f}s: region repainted (mean {mean:.0f}), far pixels unchanged")

# asynchronous + WebSocket
async def async_task():
    task_id = f"smoke-{uuid.uuid4().hex[:12]}"
    st, _, body = call("POST", "/api/v1/inpaint-regions-async",
                       {"image": img, "regions": [{"bounding_box": BOX}], "task_id": task_id})
    if st not in (200, 202):
        fail(f"inpaint-regions-async: HTTP {st} {body[:300]!r}")
    sub = json.loads(body)
    if sub.get("task_id") != task_id or sub.get("status") != "pending":
        fail(f"inpaint-regions-async: answer {sub}")
    if not str(sub.get("websocket_url") or "").endswith(f"/api/v1/ws/progress/{task_id}"):
        fail(f"inpaint-regions-async: websocket_url {sub.get('websocket_url')!r}")
    url = "ws" + BASE[len("http"):] + f"/api/v1/ws/progress/{task_id}"
    seen, final_seen_at = [], None
    async with websockets.connect(url, open_timeout=10, max_size=1 << 20) as ws:
        deadline = time.time() + 180
        while True:
            # a late subscriber gets the final state at once; allow a moment for task_completed
            left = (final_seen_at + 5 if final_seen_at else deadline) - time.time()
            if left <= 0:
                fail(f"WS: no task_completed (messages: {seen})")
            try:
                msg = json.loads(await asyncio.wait_for(ws.recv(), left))
            except asyncio.TimeoutError:
                continue
            seen.append(msg.get("type"))
            if "timestamp" not in msg:
                fail(f"WS: message without timestamp: {msg}")
            if msg.get("type") in ("progress_update", "task_completed", "task_failed", "task_cancelled") \
                    and msg.get("task_id") != task_id:
                fail(f"WS: message for another task: {msg}")
            if msg.get("type") == "task_completed":
                break
            if msg.get("type") in ("task_failed", "task_cancelled"):
                fail(f"WS: {msg}")
            if msg.get("type") == "progress_update" and msg.get("status") == "completed" and not final_seen_at:
                final_seen_at = time.time()
    st, _, body = call("GET", f"/api/v1/task-status/{task_id}", timeout=10)
    s = json.loads(body)
    if st != 200 or s.get("status") != "completed" or s.get("overall_progress") != 100:
        fail(f"task-status: HTTP {st} {s}")
    extra = ""
    st, _, body = call("GET", f"/api/v1/task-result/{task_id}", timeout=30)
    if st == 200:
        check_pixels(body, "task-result")
        extra = "; task-result pixels checked"
    print(f"PASS: async task {task_id}: WS {' -> '.join(seen)}; task-status completed 100%{extra}")

asyncio.run(async_task())
PY

PY=${SMOKE_PYTHON:-$ROOT/.venv/bin/python}
BASE_URL="http://127.0.0.1:$IOPAINT_PUBLISH_PORT"
if [ -x "$PY" ] && "$PY" -c 'import websockets, PIL' 2>/dev/null; then
  "$PY" "$WORK/smoke.py" "$BASE_URL"
else
  # no client python with websockets + Pillow here: the image has both; test from inside
  log "client: the container's python (no $PY with websockets and Pillow)"
  "${COMPOSE[@]}" exec -T iopaint python - "http://127.0.0.1:8081" <"$WORK/smoke.py"
fi

# --- 5. the replicas profile: Redis, two replicas, nginx ------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
BALANCER_PUBLISH_PORT=$(free_port); REPLICA1_PUBLISH_PORT=$(free_port); REPLICA2_PUBLISH_PORT=$(free_port)
export BALANCER_PUBLISH_PORT REPLICA1_PUBLISH_PORT REPLICA2_PUBLISH_PORT QUEUE_CLAIM_IDLE=3
"${COMPOSE[@]}" stop iopaint >/dev/null 2>&1 || true  # its CPU goes to the replicas
t0=$(date +%s)
"${COMPOSE[@]}" --profile replicas build redis balancer >"$WORK/replicas-build.log" 2>&1 \
  || { tail -30 "$WORK/replicas-build.log" >&2; die "building the redis and nginx images failed"; }
"${COMPOSE[@]}" --profile replicas up -d --no-build --wait --wait-timeout "${SMOKE_WAIT_TIMEOUT:-300}" \
  redis replica-1 replica-2 balancer >"$WORK/replicas.log" 2>&1 \
  || { cat "$WORK/replicas.log" >&2; "${COMPOSE[@]}" --profile replicas logs --no-color --tail 40 >&2 || true
       die "the replicas profile did not become healthy"; }
log "replicas profile up in $(( $(date +%s) - t0 ))s (balancer 127.0.0.1:$BALANCER_PUBLISH_PORT)"
python3 "$ROOT/scripts/replicas-smoke.py" "http://127.0.0.1:$BALANCER_PUBLISH_PORT" \
  "http://127.0.0.1:$REPLICA1_PUBLISH_PORT" "http://127.0.0.1:$REPLICA2_PUBLISH_PORT" -- "${COMPOSE[@]}" --profile replicas \
  || { "${COMPOSE[@]}" --profile replicas logs --no-color --tail 40 replica-1 replica-2 >&2 || true; die "replicas profile"; }
"${COMPOSE[@]}" --profile replicas down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true

echo "OK: container smoke test passed. image $IMAGE: ${size_mb} MB; build ${build_s}s; healthy ${up_s}s after start; total $(( $(date +%s) - t_start ))s"
