#!/usr/bin/env bash
# PostgreSQL from Debian's packages, as a cluster of userq's own (own port, own data directory), so it
# never collides with a system cluster. PostgreSQL refuses to run as root: as root the cluster is run by
# the postgres user.
#   postgres.sh start    install when missing, initdb (once), start, create role and database
#   postgres.sh stop     stop this cluster
#   postgres.sh status   exit 0 when running
#   postgres.sh reset    stop and delete the cluster
# The role userq (password userq, may create databases) owns the database userq on 127.0.0.1:$PG_PORT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

data="$PG_STATE/data"
sock="$PG_STATE/run"

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && echo "$dir"
}

install() {
  [ -n "$(pg_bin)" ] && return 0
  [ "$(id -u)" = 0 ] || die "PostgreSQL is missing: run 'apt-get install postgresql' as root"
  log "installing PostgreSQL from Debian's packages (once)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() { as_owner "$(pg_bin)/pg_ctl" -D "$data" status >/dev/null 2>&1; }

psql_admin() { as_owner "$(pg_bin)/psql" -h "$sock" -p "$PG_PORT" -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

start() {
  install
  local bin; bin=$(pg_bin)
  mkdir -p "$PG_STATE"
  [ "$(id -u)" = 0 ] && chown postgres: "$PG_STATE"
  as_owner mkdir -p "$sock"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "creating the userq cluster in $data (once)"
    as_owner "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    as_owner tee -a "$data/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$sock'
max_connections = 200
shared_buffers = 256MB
log_min_messages = warning
CONF
    as_owner tee "$data/pg_hba.conf" >/dev/null <<HBA
local all postgres trust
host  all all 127.0.0.1/32 scram-sha-256
HBA
  fi
  if running; then
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
  else
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_owner "$bin/pg_ctl" -D "$data" -l "$PG_STATE/server.log" -w -t 60 start >/dev/null
  fi
  if [ -z "$(psql_admin -c "select 1 from pg_roles where rolname = 'userq'")" ]; then
    psql_admin -c "create role userq login createdb password 'userq'"
  fi
  if [ -z "$(psql_admin -c "select 1 from pg_database where datname = 'userq'")" ]; then
    psql_admin -c "create database userq owner userq"
  fi
  log "PostgreSQL ready: postgresql://userq:userq@127.0.0.1:$PG_PORT/userq"
}

stop() {
  if [ -n "$(pg_bin)" ] && [ -f "$data/PG_VERSION" ] && running; then
    as_owner "$(pg_bin)/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    log "PostgreSQL stopped"
  else
    log "PostgreSQL is not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) running ;;
  reset) stop; rm -rf "$PG_STATE" ;;
  *) echo "usage: $0 start|stop|status|reset" >&2; exit 2 ;;
esac
