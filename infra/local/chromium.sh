#!/usr/bin/env bash
# Debian's Chromium and a font with Arial's metrics, for what drives a real browser here: the console's
# browser tests (Playwright, tests/e2e/console) and the diagrams (mermaid-cli, docs/diagrams/render.sh).
# Neither downloads a browser of its own: both launch $CHROMIUM (/usr/bin/chromium).
# Idempotent: does nothing when both are there; otherwise installs them from Debian's packages, as root.
set -euo pipefail
chromium="${CHROMIUM:-/usr/bin/chromium}"
log() { printf '[userq chromium] %s\n' "$*" >&2; }

[ -x "$chromium" ] && fc-list 2>/dev/null | grep -q 'Liberation Sans' && exit 0
if [ "$(id -u)" != 0 ]; then
  log "error: Chromium or fonts missing: run 'apt-get install chromium fonts-liberation' as root"
  exit 1
fi
log "installing Chromium and fonts from Debian's packages (once)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium fonts-liberation >/dev/null
