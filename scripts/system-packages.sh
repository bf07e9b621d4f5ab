#!/usr/bin/env bash
# Debian packages the tests need: the fonts (scripts/fonts.sh: replace-text's, and the text-detection
# tests'), Chromium for the playground's browser test, redis-server for the replica tests (started
# by the tests themselves). Installs only what is missing; needs root (or sudo) and Debian's
# package registry.
set -euo pipefail
bash "$(dirname "$0")/fonts.sh"
need=()
command -v fc-list >/dev/null || need+=(fontconfig)
[ -x /usr/bin/chromium ] || need+=(chromium)  # the playground's browser test
[ -x /usr/bin/redis-server ] || need+=(redis-server)  # tests/test_replicas.py (TASK_BACKEND=redis)
[ -x /usr/bin/redis-sentinel ] || need+=(redis-sentinel)  # the Sentinel failover test
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "[system-packages] installing ${need[*]}" >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
