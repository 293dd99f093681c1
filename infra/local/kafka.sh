#!/usr/bin/env bash
# Apache Kafka 4.x, KRaft, one combined broker+controller node on 127.0.0.1, without Docker.
#   kafka.sh install   resolve the pinned jars with mvn into $USERQ_CACHE (once)
#   kafka.sh start     install, format storage (once), start in the background, wait until started
#   kafka.sh stop      stop the broker started here (by its PID)
#   kafka.sh status    exit 0 when running
#   kafka.sh reset     stop and delete the broker's data
# Three nodes with replication instead: kafka-cluster.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

pidfile="$KAFKA_STATE/kafka.pid"

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
  kafka_write_log4j "$KAFKA_STATE"
}

format() {
  [ -f "$KAFKA_STATE/data/meta.properties" ] && return 0
  log "formatting KRaft storage (once)"
  local cluster_id
  cluster_id=$(kafka_java "$KAFKA_STATE" kafka.tools.StorageTool random-uuid)
  kafka_java "$KAFKA_STATE" kafka.tools.StorageTool format --standalone -t "$cluster_id" \
    -c "$KAFKA_STATE/server.properties" >/dev/null
}

start() {
  if pid_alive "$pidfile"; then log "Kafka already running (pid $(cat "$pidfile")) on 127.0.0.1:$KAFKA_PORT"; return 0; fi
  kafka_install
  write_config
  format
  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (heap $KAFKA_HEAP)"
  kafka_launch "$KAFKA_STATE" "$KAFKA_HEAP"
  kafka_wait_started "$KAFKA_STATE" Kafka
}

case "${1:-}" in
  install) kafka_install ;;
  start) start ;;
  stop) stop_pid "$pidfile" Kafka ;;
  status) pid_alive "$pidfile" ;;
  reset) stop_pid "$pidfile" Kafka; rm -rf "$KAFKA_STATE" ;;
  *) echo "usage: $0 install|start|stop|status|reset" >&2; exit 2 ;;
esac
