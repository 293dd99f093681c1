#!/usr/bin/env bash
# Prometheus from Debian's packages (it brings `prometheus` and `promtool`), run on 127.0.0.1 by PID,
# with userq's alert rules (infra/prometheus/alerts.yml), scraping what `make dev` runs.
#   prometheus.sh install   install Debian's prometheus package when missing (as root)
#   prometheus.sh start     install, write the local config (once per start), start, wait until ready
#   prometheus.sh stop      stop the Prometheus started here (by its PID)
#   prometheus.sh status    exit 0 when running
#   prometheus.sh reset     stop and delete its data
# Environment: USERQ_PROM_PORT (9090), USERQ_PROM_STATE (data, config, log and PID), USERQ_PROM_CONFIG
# (a config file to use instead of the local one), PORT (the API's, 3000) and WORKERS (2: workers'
# metrics on 127.0.0.1:9101, 9102, …) for the local config.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/common.sh"

PROM_PORT="${USERQ_PROM_PORT:-9090}"
PROM_STATE="${USERQ_PROM_STATE:-$USERQ_CACHE/prometheus}"
pidfile="$PROM_STATE/prometheus.pid"

install() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "Prometheus is missing: run 'apt-get install --no-install-recommends prometheus' as root"
  log "installing Prometheus from Debian's packages (once)"
  # The package would start a system-wide Prometheus (on every address) and its recommends add a node
  # exporter: install without recommends, and forbid starting services meanwhile unless that is already so.
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  local rc=0
  { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } || rc=$?
  [ -n "$made_policy" ] && rm -f "$policy"
  [ "$rc" = 0 ] || die "apt-get could not install prometheus"
}

write_local_config() {
  local api_port="${PORT:-3000}" workers="${WORKERS:-2}" targets="" i
  for i in $(seq 1 "$workers"); do targets="$targets'127.0.0.1:$((9100 + i))', "; done
  cat > "$PROM_STATE/prometheus.yml" <<YAML
# Written by infra/local/prometheus.sh for the processes of 'make dev'; the compose stack uses
# infra/prometheus/prometheus.yml.
global:
  scrape_interval: 15s
  evaluation_interval: 15s
rule_files:
  - $root/infra/prometheus/alerts.yml
scrape_configs:
  - job_name: userq-api
    static_configs:
      - targets: ['127.0.0.1:$api_port']
  - job_name: userq-worker
    static_configs:
      - targets: [${targets%, }]
YAML
}

running() { pid_alive "$pidfile"; }

start() {
  if running; then log "Prometheus already running (pid $(cat "$pidfile")) on 127.0.0.1:$PROM_PORT"; return 0; fi
  install
  mkdir -p "$PROM_STATE/data"
  local config="${USERQ_PROM_CONFIG:-}"
  if [ -z "$config" ]; then write_local_config; config="$PROM_STATE/prometheus.yml"; fi
  promtool check config "$config" >/dev/null || die "promtool check config $config failed"
  log "starting Prometheus on 127.0.0.1:$PROM_PORT ($config)"
  setsid prometheus --config.file="$config" --storage.tsdb.path="$PROM_STATE/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
    > "$PROM_STATE/prometheus.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  for _ in $(seq 1 150); do
    if curl -fs "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1; then
      log "Prometheus ready: http://127.0.0.1:$PROM_PORT"
      return 0
    fi
    running || { tail -n 30 "$PROM_STATE/prometheus.log" >&2; die "Prometheus exited during start-up"; }
    sleep 0.2
  done
  die "Prometheus not ready within 30 s (see $PROM_STATE/prometheus.log)"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_pid "$pidfile" Prometheus ;;
  status) running ;;
  reset) stop_pid "$pidfile" Prometheus; rm -rf "$PROM_STATE" ;;
  *) echo "usage: $0 install|start|stop|status|reset" >&2; exit 2 ;;
esac
