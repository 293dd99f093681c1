#!/usr/bin/env bash
# Render docs/diagrams/*.mmd to SVG beside them (`make diagrams`), with mermaid-cli driving Debian's Chromium.
#   render.sh            render the diagrams whose SVG is missing or was rendered from another source
#   render.sh --force    render them all again
#   render.sh --check    render nothing; exit 1 when an SVG is missing or stale (needs no browser)
# Idempotent: installs what is missing (as root: Chromium and fonts from Debian's packages, by
# infra/local/chromium.sh; mermaid-cli and
# puppeteer, pinned, from npm into $USERQ_CACHE/mermaid-cli, never into the repository). puppeteer's own
# browser download is skipped: it cannot work here, and Debian's Chromium does the job.
# Each SVG starts with a comment holding the sha256 of the .mmd it was rendered from; tests/tooling/test_diagrams.py
# compares it, so a diagram edited without rendering it again fails the tests.
# The stamp covers the source only: after changing the pinned versions or the configs below, run --force.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

MERMAID_CLI_VERSION="11.17.0"  # 12.x needs Node 22; Debian 12 has Node 20
PUPPETEER_VERSION="24.40.0"
USERQ_CACHE="${USERQ_CACHE:-$HOME/.cache/userq}"
tools="$USERQ_CACHE/mermaid-cli"
mmdc="$tools/node_modules/.bin/mmdc"
chromium="${CHROMIUM:-/usr/bin/chromium}"

log() { printf '[userq diagrams] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# The sha256 recorded in an SVG's first line, or nothing.
recorded_sha() { [ -f "$1" ] && head -n 1 "$1" | sed -n 's/^<!-- rendered from .* sha256 \([0-9a-f]\{64\}\) .*-->$/\1/p'; }

stale() { [ "$(recorded_sha "${1%.mmd}.svg")" != "$(sha_of "$1")" ]; }

install_chromium() { CHROMIUM="$chromium" "$here/../../infra/local/chromium.sh" || die "no Chromium"; }

install_mermaid_cli() {
  local marker="$tools/.installed-$MERMAID_CLI_VERSION-$PUPPETEER_VERSION"
  [ -x "$mmdc" ] && [ -f "$marker" ] && return 0
  command -v npm >/dev/null || die "npm is missing: run 'apt-get install npm' as root"
  log "installing mermaid-cli $MERMAID_CLI_VERSION and puppeteer $PUPPETEER_VERSION into $tools (once)"
  mkdir -p "$tools"
  [ -f "$tools/package.json" ] || printf '{"name": "userq-diagrams", "private": true}\n' > "$tools/package.json"
  PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix "$tools" --no-audit --no-fund --loglevel=error --save-exact \
    "@mermaid-js/mermaid-cli@$MERMAID_CLI_VERSION" "puppeteer@$PUPPETEER_VERSION" >&2
  rm -f "$tools"/.installed-*
  touch "$marker"
}

write_configs() {
  cat > "$tools/puppeteer.json" <<JSON
{
  "executablePath": "$chromium",
  "args": ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run"]
}
JSON
  # Labels as SVG text (not HTML in foreignObject), so that every SVG renderer shows them, and a font
  # with Arial's metrics, so that text measured here fits the boxes wherever the SVG is viewed.
  cat > "$tools/mermaid.json" <<'JSON'
{
  "theme": "default",
  "fontFamily": "Liberation Sans, Arial, Helvetica, sans-serif",
  "htmlLabels": false,
  "flowchart": {"htmlLabels": false, "curve": "basis", "wrappingWidth": 400}
}
JSON
}

render() {
  local source=$1 target=${1%.mmd}.svg tmp sha
  sha=$(sha_of "$source")
  tmp=$(mktemp --suffix=.svg)
  "$mmdc" --quiet -p "$tools/puppeteer.json" -c "$tools/mermaid.json" -b white -i "$source" -o "$tmp"
  grep -q '<svg' "$tmp" || die "mermaid-cli wrote no SVG for $source"
  {
    printf '<!-- rendered from %s, sha256 %s by mermaid-cli %s: run docs/diagrams/render.sh -->\n' \
      "$(basename "$source")" "$sha" "$MERMAID_CLI_VERSION"
    cat "$tmp"
    printf '\n'
  } > "$target"
  rm -f "$tmp"
  log "rendered $(basename "$target")"
}

main() {
  local mode=${1:-} sources=() todo=() source
  for source in "$here"/*.mmd; do sources+=("$source"); done
  [ "${#sources[@]}" -gt 0 ] && [ -e "${sources[0]}" ] || die "no .mmd files in $here"
  for source in "${sources[@]}"; do
    if [ "$mode" = --force ] || stale "$source"; then todo+=("$source"); fi
  done
  case "$mode" in
    --check)
      for source in "${todo[@]}"; do log "stale: ${source#"$here"/} (run docs/diagrams/render.sh)"; done
      [ "${#todo[@]}" -eq 0 ]
      return
      ;;
    --force | "") ;;
    *) die "usage: render.sh [--force|--check]" ;;
  esac
  if [ "${#todo[@]}" -eq 0 ]; then log "every SVG is up to date"; return 0; fi
  install_chromium
  install_mermaid_cli
  write_configs
  for source in "${todo[@]}"; do render "$source"; done
}

main "$@"
