# Shared by the infra/local scripts: where things live, and small helpers. Sourced, not run.
# Everything here binds to 127.0.0.1 and keeps its state outside the repository.

USERQ_CACHE="${USERQ_CACHE:-$HOME/.cache/userq}"
KAFKA_VERSION="4.1.1"                 # pinned; also in infra/local/kafka/pom.xml
KAFKA_HOME="$USERQ_CACHE/kafka-$KAFKA_VERSION"
KAFKA_STATE="${USERQ_KAFKA_STATE:-$USERQ_CACHE/kafka-state}"
KAFKA_PORT="${USERQ_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${USERQ_KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${USERQ_KAFKA_HEAP:-512m}"

PG_PORT="${USERQ_PG_PORT:-55432}"
# PostgreSQL refuses to run as root, so as root the cluster belongs to the postgres user and must
# live where that user can reach it.
if [ "$(id -u)" = 0 ]; then
  PG_STATE="${USERQ_PG_STATE:-/var/tmp/userq-pg}"
else
  PG_STATE="${USERQ_PG_STATE:-$USERQ_CACHE/pg}"
fi

log() { printf '[userq infra] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# pid_alive FILE: true when FILE names a running process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid FILE NAME: TERM the process group in FILE, wait, then KILL; remove FILE.
stop_pid() {
  local file=$1 name=$2 pid
  if ! pid_alive "$file"; then rm -f "$file"; log "$name is not running"; return 0; fi
  pid=$(cat "$file")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then log "$name did not stop in 30 s, killing"; kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"; fi
  rm -f "$file"
  log "$name stopped"
}
