#!/usr/bin/env bash
# `make dev`: Kafka, PostgreSQL, the API on $PORT (3000) and $WORKERS (2) workers, all on 127.0.0.1.
# Ctrl-C here, or `make stop` elsewhere, stops every one of them (by PID).
#   dev.sh up     start everything and stay in the foreground
#   dev.sh stop   stop what `up` started, then Kafka and PostgreSQL
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/common.sh"
run="$root/.run"
py="$root/.venv/bin/python"
port="${PORT:-3000}"
workers="${WORKERS:-2}"
# A Kafka of yours (KAFKA_BOOTSTRAP_SERVERS, e.g. kafka-cluster.sh bootstrap) is neither started nor stopped here.
external_kafka="${KAFKA_BOOTSTRAP_SERVERS:-}"

stop_services() {
  for file in "$run"/*.pid; do
    [ -e "$file" ] && stop_pid "$file" "$(basename "$file" .pid)"
  done
  "$here/prometheus.sh" stop
  [ -n "$external_kafka" ] || "$here/kafka.sh" stop
  "$here/postgres.sh" stop
}

# Ctrl-C may also have ended whatever reads our output (`make dev | tee log`): ignore SIGPIPE and write
# errors while stopping, so that everything is stopped all the same.
on_interrupt() {
  trap '' INT TERM PIPE
  set +e
  log "stopping"
  stop_services
  exit 0
}

up() {
  mkdir -p "$run"
  "$here/postgres.sh" start
  [ -n "$external_kafka" ] || "$here/kafka.sh" start
  # the services find what was started here, also on ports moved with USERQ_KAFKA_PORT / USERQ_PG_PORT
  export KAFKA_BOOTSTRAP_SERVERS="${external_kafka:-127.0.0.1:$KAFKA_PORT}"
  export DATABASE_URL="${DATABASE_URL:-postgresql://userq:userq@127.0.0.1:$PG_PORT/userq}"
  "$py" -m runtime setup
  export LOG_FORMAT="${LOG_FORMAT:-console}" PORT="$port"
  setsid "$py" -m producer_api & echo $! > "$run/api.pid"
  for i in $(seq 1 "$workers"); do
    WORKER_ID="worker-$i" METRICS_PORT=$((9100 + i)) setsid "$py" -m stream_worker & echo $! > "$run/worker-$i.pid"
  done
  trap on_interrupt INT TERM
  WORKERS="$workers" "$here/prometheus.sh" start || log "Prometheus did not start (monitoring is optional here)"
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  cat <<MSG

  userq is running
    console        http://127.0.0.1:$port   (sign in or register; operators: python -m producer_api create-admin NAME)
    API            http://127.0.0.1:$port/v1   (docs: /docs, OpenAPI: /openapi.json, /healthz, /readyz)
    workers        $workers processes in consumer group userq-workers (metrics: 127.0.0.1:9101..)
    Kafka          $KAFKA_BOOTSTRAP_SERVERS
    Prometheus     http://127.0.0.1:${USERQ_PROM_PORT:-9090}   (alert rules loaded; Grafana and Kafka UI: docker compose up)
    PostgreSQL     $DATABASE_URL
  Ctrl-C (or 'make stop') stops everything.

MSG
  wait
}

case "${1:-}" in
  up) up ;;
  stop) stop_services ;;
  *) echo "usage: $0 up|stop" >&2; exit 2 ;;
esac
