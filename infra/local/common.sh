# Shared by the infra/local scripts: where things live, and small helpers. Sourced, not run.
# Everything here binds to 127.0.0.1 and keeps its state outside the repository.

USERQ_CACHE="${USERQ_CACHE:-$HOME/.cache/userq}"
KAFKA_VERSION="4.1.1"                 # pinned; also in infra/local/kafka/pom.xml
KAFKA_HOME="$USERQ_CACHE/kafka-$KAFKA_VERSION"
# A port moved alone moves what belongs to that instance with it (state, controller port): a second
# instance beside the shared one never shares its data directory or finds its PID.
KAFKA_PORT="${USERQ_KAFKA_PORT:-9092}"
if [ "$KAFKA_PORT" = 9092 ]; then
  KAFKA_STATE="${USERQ_KAFKA_STATE:-$USERQ_CACHE/kafka-state}"
  KAFKA_CONTROLLER_PORT="${USERQ_KAFKA_CONTROLLER_PORT:-9093}"
else
  KAFKA_STATE="${USERQ_KAFKA_STATE:-$USERQ_CACHE/kafka-state-$KAFKA_PORT}"
  KAFKA_CONTROLLER_PORT="${USERQ_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
fi
KAFKA_HEAP="${USERQ_KAFKA_HEAP:-512m}"

PG_PORT="${USERQ_PG_PORT:-55432}"
# PostgreSQL refuses to run as root, so as root the cluster belongs to the postgres user and must
# live where that user can reach it.
if [ "$(id -u)" = 0 ]; then
  PG_STATE="${USERQ_PG_STATE:-/var/tmp/userq-pg}"
else
  PG_STATE="${USERQ_PG_STATE:-$USERQ_CACHE/pg}"
fi
if [ -z "${USERQ_PG_STATE:-}" ] && [ "$PG_PORT" != 55432 ]; then PG_STATE="$PG_STATE-$PG_PORT"; fi

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

# --- Kafka, shared by kafka.sh (one node) and kafka-cluster.sh (three nodes) ---
# A node's directory DIR holds server.properties, log4j2.properties, server.log, stdout.log, kafka.pid
# and data/.
INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# kafka_install: resolve the pinned jars with mvn into $KAFKA_HOME (once).
kafka_install() {
  [ -f "$KAFKA_HOME/.complete" ] && return 0
  command -v java >/dev/null || die "java (17+) is needed for Kafka"
  command -v mvn >/dev/null || die "mvn is needed to resolve the Kafka jars"
  log "resolving Kafka $KAFKA_VERSION jars with mvn (once)"
  rm -rf "$KAFKA_HOME/libs"
  mkdir -p "$KAFKA_HOME"
  mvn -B -Dstyle.color=never -f "$INFRA_DIR/kafka/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/libs" \
    > "$KAFKA_HOME/mvn.log" 2>&1 || { tail -n 30 "$KAFKA_HOME/mvn.log" >&2; die "mvn could not resolve Kafka"; }
  touch "$KAFKA_HOME/.complete"
}

# kafka_write_log4j DIR: warnings and the start-up lines (our readiness signal) to DIR/server.log.
kafka_write_log4j() {
  local dir=$1
  mkdir -p "$dir"
  cat > "$dir/log4j2.properties" <<PROPS
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = info
logger.started2.name = kafka.server.BrokerServer
logger.started2.level = info
PROPS
}

# kafka_java DIR ARGS...: run a Kafka class (a tool) with DIR's logging.
kafka_java() { local dir=$1; shift; java -cp "$KAFKA_HOME/libs/*" -Dlog4j2.configurationFile="$dir/log4j2.properties" "$@"; }

# kafka_launch DIR HEAP: start the server of DIR/server.properties in a session of its own, in the
# background; its PID goes to DIR/kafka.pid. Does not wait (see kafka_wait_started).
kafka_launch() {
  local dir=$1 heap=$2
  : > "$dir/server.log"
  setsid java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:ActiveProcessorCount=2 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$dir/server.properties" \
    > "$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$dir/kafka.pid"
}

# kafka_wait_started DIR NAME [SECONDS]: wait until the server of DIR logs that it started (a port
# alone is not readiness); fail when it exits or does not start in SECONDS (60).
kafka_wait_started() {
  local dir=$1 name=$2 seconds=${3:-60}
  for _ in $(seq 1 $((seconds * 5))); do
    if grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null; then log "$name started"; return 0; fi
    pid_alive "$dir/kafka.pid" || { tail -n 40 "$dir/stdout.log" "$dir/server.log" >&2; die "$name exited during start-up"; }
    sleep 0.2
  done
  die "$name did not start within $seconds s (see $dir/server.log)"
}
