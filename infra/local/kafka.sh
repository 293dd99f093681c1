#!/usr/bin/env bash
# Apache Kafka 4.x, KRaft, one combined broker+controller node on 127.0.0.1, without Docker.
#   kafka.sh install   resolve the pinned jars with mvn into $USERQ_CACHE (once)
#   kafka.sh start     install, format storage (once), start in the background, wait until started
#   kafka.sh stop      stop the broker started here (by its PID)
#   kafka.sh status    exit 0 when running
#   kafka.sh reset     stop and delete the broker's data
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

pidfile="$KAFKA_STATE/kafka.pid"
logfile="$KAFKA_STATE/server.log"

install() {
  [ -f "$KAFKA_HOME/.complete" ] && return 0
  command -v java >/dev/null || die "java (17+) is needed for Kafka"
  command -v mvn >/dev/null || die "mvn is needed to resolve the Kafka jars"
  log "resolving Kafka $KAFKA_VERSION jars with mvn (once)"
  rm -rf "$KAFKA_HOME/libs"
  mkdir -p "$KAFKA_HOME"
  mvn -B -Dstyle.color=never -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/libs" \
    > "$KAFKA_HOME/mvn.log" 2>&1 || { tail -n 30 "$KAFKA_HOME/mvn.log" >&2; die "mvn could not resolve Kafka"; }
  touch "$KAFKA_HOME/.complete"
}

write_config() {
  mkdir -p "$KAFKA_STATE"
  cat > "$KAFKA_STATE/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_STATE/data
auto.create.topics.enable=false
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
background.threads=4
log.retention.hours=168
PROPS
  cat > "$KAFKA_STATE/log4j2.properties" <<PROPS
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $logfile
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

java_cmd() { java -cp "$KAFKA_HOME/libs/*" -Dlog4j2.configurationFile="$KAFKA_STATE/log4j2.properties" "$@"; }

format() {
  [ -f "$KAFKA_STATE/data/meta.properties" ] && return 0
  log "formatting KRaft storage (once)"
  local cluster_id
  cluster_id=$(java_cmd kafka.tools.StorageTool random-uuid)
  java_cmd kafka.tools.StorageTool format --standalone -t "$cluster_id" \
    -c "$KAFKA_STATE/server.properties" >/dev/null
}

start() {
  if pid_alive "$pidfile"; then log "Kafka already running (pid $(cat "$pidfile")) on 127.0.0.1:$KAFKA_PORT"; return 0; fi
  install
  write_config
  format
  : > "$logfile"
  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (heap $KAFKA_HEAP)"
  setsid java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:ActiveProcessorCount=2 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_STATE/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$KAFKA_STATE/server.properties" \
    > "$KAFKA_STATE/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  for _ in $(seq 1 300); do
    if grep -q "Kafka Server started" "$logfile" 2>/dev/null; then log "Kafka started"; return 0; fi
    pid_alive "$pidfile" || { tail -n 40 "$KAFKA_STATE/stdout.log" "$logfile" >&2; die "Kafka exited during start-up"; }
    sleep 0.2
  done
  die "Kafka did not start within 60 s (see $logfile)"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_pid "$pidfile" Kafka ;;
  status) pid_alive "$pidfile" ;;
  reset) stop_pid "$pidfile" Kafka; rm -rf "$KAFKA_STATE" ;;
  *) echo "usage: $0 install|start|stop|status|reset" >&2; exit 2 ;;
esac
