#!/usr/bin/env bash
# The fonts replace-text writes in (app/engine/fonts.py), from Debian's packages, all under open
# licences: fonts-dejavu-core (DejaVu Sans and Serif, regular and bold: Bitstream Vera licence,
# public-domain changes) and fonts-noto-cjk (Noto Sans and Serif CJK, regular and bold: SIL Open
# Font License 1.1). Installs only what is missing; needs root (or sudo) and Debian's package
# registry. Without them the service still serves removal, and replace-text answers 422
# `unrenderable_text` ("no fonts are installed"). Used by serve.sh, system-packages.sh and the Dockerfile.
set -euo pipefail
need=()
[ -n "$(find /usr/share/fonts -name DejaVuSerif-Bold.ttf 2>/dev/null | head -1)" ] || need+=(fonts-dejavu-core)
[ -n "$(find /usr/share/fonts -name NotoSansCJK-Bold.ttc 2>/dev/null | head -1)" ] || need+=(fonts-noto-cjk)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
if [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; then
  echo "[fonts] missing ${need[*]}: install them (apt-get install ${need[*]}) for replace-text" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "[fonts] missing ${need[*]} and no apt-get: put the fonts in FONTS_DIR for replace-text" >&2
  exit 0
fi
echo "[fonts] installing ${need[*]}" >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
