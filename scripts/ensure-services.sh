#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer.
#   scripts/ensure-services.sh [--postgres HOST:PORT] [--redis HOST:PORT]
# Defaults: 127.0.0.1:5432 and 127.0.0.1:6379. A service on loopback that does not answer is
# started with the machine's own command when there is one; otherwise this fails, saying what
# is missing and how to start it.
set -euo pipefail

pg="127.0.0.1:5432"; redis="127.0.0.1:6379"
while (($#)); do
  case "$1" in
    --postgres) pg="$2"; shift 2 ;;
    --redis) redis="$2"; shift 2 ;;
    *) echo "usage: ensure-services.sh [--postgres HOST:PORT] [--redis HOST:PORT]" >&2; exit 2 ;;
  esac
done

log() { printf 'services: %s\n' "$*" >&2; }

is_loopback() { [[ "$1" == 127.0.0.1 || "$1" == localhost || "$1" == ::1 ]]; }

postgres_answers() {
  local host="$1" port="$2"
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "$host" -p "$port" -t 2
  else
    timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
  fi
}

redis_answers() {
  local host="$1" port="$2"
  if command -v redis-cli >/dev/null; then
    [[ "$(timeout 2 redis-cli -h "$host" -p "$port" ping 2>/dev/null)" == PONG ]]
  else
    timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port; printf 'PING\r\n' >&3; head -c 5 <&3 | grep -q PONG" 2>/dev/null
  fi
}

start_postgres() {
  local cluster
  command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]] || return 1
  cluster="$(ls /etc/postgresql | sort -V | tail -n 1)"
  [[ -n "$cluster" ]] || return 1
  log "starting PostgreSQL $cluster with pg_ctlcluster"
  pg_ctlcluster --skip-systemctl-redirect "$cluster" main start >&2 2>/dev/null \
    || pg_ctlcluster "$cluster" main start >&2
}

start_redis() {
  local port="$1"
  command -v redis-server >/dev/null || return 1
  log "starting redis-server on 127.0.0.1:$port"
  local dir=/var/lib/redis logfile=/var/log/redis/ci.log
  [[ -w "$dir" ]] || dir="$(mktemp -d)"
  [[ -w "$(dirname "$logfile")" ]] || logfile="$dir/redis.log"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" --appendonly no --dir "$dir" --logfile "$logfile" >&2
}

ensure() {
  local name="$1" hostport="$2" check="$3" start="$4" hint="$5"
  local host="${hostport%:*}" port="${hostport##*:}"
  host="${host#[}"; host="${host%]}"
  "$check" "$host" "$port" && return 0
  if is_loopback "$host" && "$start" "$port"; then
    for _ in $(seq 1 30); do "$check" "$host" "$port" && { log "$name answers on $hostport"; return 0; }; sleep 0.5; done
  fi
  log "$name does not answer on $hostport. $hint"
  return 1
}

ok=0
ensure PostgreSQL "$pg" postgres_answers start_postgres \
  "Start it (Debian: pg_ctlcluster <version> main start; with Docker: docker compose up -d postgres) or point DATABASE_URL at a running server." || ok=1
ensure Redis "$redis" redis_answers start_redis \
  "Start it (redis-server --daemonize yes --port 6379 --save ''; with Docker: docker compose up -d redis) or point REDIS_URL at a running server." || ok=1
exit "$ok"
