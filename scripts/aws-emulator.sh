#!/usr/bin/env bash
# The local AWS emulator: moto server, installed from PyPI into a project-local virtualenv.
#
#   scripts/aws-emulator.sh install            create the virtualenv and install the pinned moto
#   scripts/aws-emulator.sh start [PORT]       start in the background, wait until it answers
#   scripts/aws-emulator.sh stop  [PORT]       stop the one started for PORT
#   scripts/aws-emulator.sh status [PORT]      exit 0 when it answers on PORT
#   scripts/aws-emulator.sh run   [PORT]       run in the foreground (Ctrl-C stops it)
#
# PORT defaults to $AWS_EMULATOR_PORT, else 4566. It listens on 127.0.0.1 only.
set -euo pipefail

MOTO_VERSION="5.2.5"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SILO_EMULATOR_VENV:-$root/.cache/moto-venv}"
state="$root/.cache/emulator"
python="${PYTHON:-python3}"

die() { printf 'aws-emulator: %s\n' "$*" >&2; exit 1; }
log() { printf 'aws-emulator: %s\n' "$*" >&2; }

port_arg() {
  local port="${1:-${AWS_EMULATOR_PORT:-4566}}"
  [[ "$port" =~ ^[0-9]+$ ]] && (( port > 0 && port < 65536 )) || die "port must be a number from 1 to 65535, got '$port'"
  printf '%s' "$port"
}

answers() {
  # moto's own API answers once every service is mounted.
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/moto-api/data.json" 2>/dev/null
}

install() {
  local stamp="$venv/.silo-moto-version"
  if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$MOTO_VERSION" ]]; then
    return 0
  fi
  command -v "$python" >/dev/null || die "$python not found: install Python 3.9+ with venv (Debian: apt-get install python3-venv)"
  log "installing moto[server]==$MOTO_VERSION into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv" || die "could not create a virtualenv with $python (Debian: apt-get install python3-venv)"
  mkdir -p "$state"
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check "moto[server]==$MOTO_VERSION" >"$state/pip-install.log" 2>&1; then
    tail -n 30 "$state/pip-install.log" >&2
    die "pip could not install moto[server]==$MOTO_VERSION (full log: $state/pip-install.log)"
  fi
  printf '%s' "$MOTO_VERSION" > "$stamp"
}

start() {
  local port; port="$(port_arg "${1:-}")"
  local pidfile="$state/moto-$port.pid" logfile="$state/moto-$port.log"
  install
  mkdir -p "$state"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && answers "$port"; then
    log "already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"
    return 0
  fi
  if answers "$port"; then
    die "something not started by this script already answers on 127.0.0.1:$port; stop it or choose another port (AWS_EMULATOR_PORT)"
  fi
  # setsid: the server gets its own process group, so `stop` also ends the workers it forks.
  setsid "$venv/bin/python" -m moto.server -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  for _ in $(seq 1 150); do
    if answers "$port"; then
      log "moto $MOTO_VERSION answers on http://127.0.0.1:$port (pid $(cat "$pidfile"), log $logfile)"
      return 0
    fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -n 20 "$logfile" >&2; rm -f "$pidfile"; die "moto exited during start-up (log above)"; }
    sleep 0.2
  done
  stop "$port"
  die "moto did not answer on 127.0.0.1:$port within 30 s (log: $logfile)"
}

stop() {
  local port; port="$(port_arg "${1:-}")"
  local pidfile="$state/moto-$port.pid"
  [[ -f "$pidfile" ]] || return 0
  local pid; pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  log "stopped the emulator on port $port"
}

run() {
  local port; port="$(port_arg "${1:-}")"
  install
  exec "$venv/bin/python" -m moto.server -H 127.0.0.1 -p "$port"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  install) install ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  status) answers "$(port_arg "${1:-}")" ;;
  run) run "$@" ;;
  *) die "usage: scripts/aws-emulator.sh install|start|stop|status|run [PORT]" ;;
esac
