#!/usr/bin/env bash
# Apache Kafka 4.x, KRaft, a cluster of three combined broker+controller nodes on 127.0.0.1, without
# Docker: for running userq with replication (REPLICATION_FACTOR=3, min.insync.replicas=2) and losing a
# broker. The single node of kafka.sh is separate and untouched by this script.
#   kafka-cluster.sh start [N]   all three nodes (or node N), formatted once; wait until started
#   kafka-cluster.sh stop [N]    stop all nodes (or node N) by PID: SIGTERM, a clean shutdown
#   kafka-cluster.sh kill N      SIGKILL node N (by the PID in its pid file), as when a machine dies
#   kafka-cluster.sh status [N]  print each node's state; exit 0 when all (or node N) run
#   kafka-cluster.sh bootstrap   print the bootstrap servers (for KAFKA_BOOTSTRAP_SERVERS)
#   kafka-cluster.sh controller  print the number of the node that is the active controller
#   kafka-cluster.sh reset       stop and delete the cluster's data
# Node n (1..3) listens on $USERQ_CLUSTER_PORT + 2(n-1) (broker) and the port above it (controller):
# 19092/19093, 19094/19095, 19096/19097 by default. The controller quorum is static (all three voters).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

CLUSTER_PORT="${USERQ_CLUSTER_PORT:-19092}"
CLUSTER_STATE="${USERQ_CLUSTER_STATE:-$USERQ_CACHE/kafka-cluster}"
CLUSTER_HEAP="${USERQ_CLUSTER_HEAP:-320m}"
# How long a broker may be silent before the controller fences it and moves its leaderships (Kafka's
# default is 9 s; a killed broker's partitions accept nothing until then).
CLUSTER_SESSION_MS="${USERQ_CLUSTER_SESSION_MS:-3000}"
NODES=(1 2 3)

broker_port() { echo $((CLUSTER_PORT + 2 * ($1 - 1))); }
controller_port() { echo $(($(broker_port "$1") + 1)); }
node_dir() { echo "$CLUSTER_STATE/node$1"; }
pidfile() { echo "$(node_dir "$1")/kafka.pid"; }

voters() {
  local n out=""
  for n in "${NODES[@]}"; do out+="${out:+,}$n@127.0.0.1:$(controller_port "$n")"; done
  echo "$out"
}

bootstrap() {
  local n out=""
  for n in "${NODES[@]}"; do out+="${out:+,}127.0.0.1:$(broker_port "$n")"; done
  echo "$out"
}

node_arg() {
  case "${1:-}" in
    1 | 2 | 3) echo "$1" ;;
    *) die "node must be 1, 2 or 3, not '${1:-}'" ;;
  esac
}

write_config() {
  local n=$1 dir
  dir=$(node_dir "$n")
  mkdir -p "$dir"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
broker.session.timeout.ms=$CLUSTER_SESSION_MS
broker.heartbeat.interval.ms=500
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
background.threads=2
log.retention.hours=168
PROPS
  kafka_write_log4j "$dir"
}

# All nodes share one cluster id, chosen at the first start; each node's storage is formatted once.
format() {
  local n=$1 dir cluster_id
  dir=$(node_dir "$n")
  [ -f "$dir/data/meta.properties" ] && return 0
  if [ ! -s "$CLUSTER_STATE/cluster.id" ]; then
    kafka_java "$dir" kafka.tools.StorageTool random-uuid > "$CLUSTER_STATE/cluster.id"
  fi
  cluster_id=$(cat "$CLUSTER_STATE/cluster.id")
  log "formatting KRaft storage of node $n (once)"
  kafka_java "$dir" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >/dev/null
}

# start N...: a node becomes ready only once a majority of controllers answer, so all are launched
# before any is waited for.
start() {
  local n started=()
  kafka_install
  mkdir -p "$CLUSTER_STATE"
  for n in "$@"; do
    if pid_alive "$(pidfile "$n")"; then
      log "Kafka node $n already running (pid $(cat "$(pidfile "$n")")) on 127.0.0.1:$(broker_port "$n")"
      continue
    fi
    write_config "$n"
    format "$n"
    log "starting Kafka node $n on 127.0.0.1:$(broker_port "$n") (heap $CLUSTER_HEAP)"
    kafka_launch "$(node_dir "$n")" "$CLUSTER_HEAP"
    started+=("$n")
  done
  for n in "${started[@]}"; do kafka_wait_started "$(node_dir "$n")" "Kafka node $n" 120; done
  log "Kafka cluster ready, bootstrap $(bootstrap)"
}

stop() {
  local n
  for n in "$@"; do stop_pid "$(pidfile "$n")" "Kafka node $n" & done
  wait
}

kill_node() {
  local n=$1 file pid
  file=$(pidfile "$n")
  pid_alive "$file" || die "Kafka node $n is not running"
  pid=$(cat "$file")
  kill -KILL "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$file"
  log "Kafka node $n (pid $pid) killed"
}

# controller: the node id of the active controller (the quorum's leader), asked of the controllers.
controller() {
  local tools="$CLUSTER_STATE/tools" n servers=""
  [ -f "$tools/log4j2.properties" ] || kafka_write_log4j "$tools"
  for n in "${NODES[@]}"; do servers+="${servers:+,}127.0.0.1:$(controller_port "$n")"; done
  kafka_java "$tools" org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-controller "$servers" \
    describe --status | awk '$1 == "LeaderId:" { print $2; found = 1 } END { exit !found }'
}

status() {
  local n all=0
  for n in "$@"; do
    if pid_alive "$(pidfile "$n")"; then
      echo "node $n: running (pid $(cat "$(pidfile "$n")")) on 127.0.0.1:$(broker_port "$n")"
    else
      echo "node $n: stopped"
      all=1
    fi
  done
  return $all
}

# The nodes an action is for: node $2 when given, else all.
if [ -n "${2:-}" ]; then nodes=("$(node_arg "$2")"); else nodes=("${NODES[@]}"); fi

case "${1:-}" in
  start) start "${nodes[@]}" ;;
  stop) stop "${nodes[@]}" ;;
  kill) [ -n "${2:-}" ] || die "kill needs a node: 1, 2 or 3"; kill_node "${nodes[0]}" ;;
  status) status "${nodes[@]}" ;;
  bootstrap) bootstrap ;;
  controller) controller ;;
  reset) stop "${NODES[@]}"; rm -rf "$CLUSTER_STATE" ;;
  *) echo "usage: $0 start [N]|stop [N]|kill N|status [N]|bootstrap|controller|reset   (N: 1, 2 or 3)" >&2; exit 2 ;;
esac
