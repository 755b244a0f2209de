#!/usr/bin/env bash
# The local AWS emulator: moto server, installed from PyPI into a project-local virtualenv.
#
#   scripts/aws-emulator.sh install            create the virtualenv and install the pinned moto
#   scripts/aws-emulator.sh start [PORT] [--state DIR]
#                                              start in the background, wait until it answers; with
#                                              --state, replay the state saved in DIR and keep saving it
#   scripts/aws-emulator.sh stop  [PORT]       stop the one started for PORT
#   scripts/aws-emulator.sh status [PORT]      exit 0 when it answers on PORT
#   scripts/aws-emulator.sh run   [PORT]       run in the foreground (Ctrl-C stops it)
#
# PORT defaults to $AWS_EMULATOR_PORT, else 4566. It listens on 127.0.0.1 only.
#
# moto keeps everything in memory. With --state DIR, moto's recorder appends every request it
# serves to DIR/moto-recording.jsonl, and the next start with that DIR replays them (reads and
# metric data points left out), so instances, secrets and alarms survive a stop. The file holds
# what the requests carried, secret values included: DIR is made readable by its owner only.
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
  # moto's dashboard: static, whatever the emulator holds (data.json renders every model and fails
  # with NotImplementedError once an RDS instance exists).
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/moto-api/" 2>/dev/null
}

# Rewrites a recording to the requests that change state: reads (Describe*, Get*, List*, GET and
# HEAD without an action), PutMetricData and everything before a POST /moto-api/reset go, as do
# session tokens. Lines that are not JSON (a write cut short) are skipped. Prints "<kept> <skipped>".
compact_recording() {
  "$venv/bin/python" - "$1" <<'PY'
import base64, json, os, re, sys
from urllib.parse import parse_qs, urlparse

path = sys.argv[1]
reads = re.compile(r"^(Describe|Get|List|Head)[A-Z]")
noise = {"PutMetricData"}

def action(entry, headers, url):
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    operation = re.search(r"/operation/([A-Za-z0-9]+)$", url.path)
    if operation:
        return operation.group(1)
    query = parse_qs(url.query).get("Action")
    if query:
        return query[0]
    if "x-www-form-urlencoded" in headers.get("content-type", ""):
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            try:
                body = base64.b64decode(body).decode("utf-8")
            except ValueError:
                return None
        return (parse_qs(body).get("Action") or [None])[0]
    return None

kept, skipped = [], 0
with open(path, encoding="utf-8", errors="replace") as recording:
    for line in recording:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            url = urlparse(entry.get("url") or "")
            method = (entry.get("method") or "").upper()
            headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
        except (ValueError, AttributeError):
            skipped += 1
            continue
        if url.path.rstrip("/") == "/moto-api/reset":
            kept = []
            continue
        name = action(entry, headers, url)
        if name is None and method in ("GET", "HEAD", "OPTIONS"):
            continue
        if name is not None and (reads.match(name) or name in noise):
            continue
        entry["headers"] = {k: v for k, v in entry["headers"].items() if k.lower() != "x-amz-security-token"}
        kept.append(json.dumps(entry))
tmp = path + ".tmp"
with open(tmp, "w", encoding="utf-8") as out:
    out.write("".join(line + "\n" for line in kept))
os.replace(tmp, path)
print(len(kept), skipped)
PY
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
  local port_given="" saved=""
  while (( $# )); do
    case "$1" in
      --state) [[ $# -ge 2 && -n "$2" ]] || die "--state needs a directory"; saved="$2"; shift 2 ;;
      --state=*) saved="${1#--state=}"; [[ -n "$saved" ]] || die "--state needs a directory"; shift ;;
      -*) die "unknown option $1; usage: scripts/aws-emulator.sh start [PORT] [--state DIR]" ;;
      *) port_given="$1"; shift ;;
    esac
  done
  local port; port="$(port_arg "$port_given")"
  local pidfile="$state/moto-$port.pid" logfile="$state/moto-$port.log"
  install
  mkdir -p "$state"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && answers "$port"; then
    log "already running on 127.0.0.1:$port (pid $(cat "$pidfile"), saved state: $(cat "$state/moto-$port.state" 2>/dev/null || echo none))"
    return 0
  fi
  if answers "$port"; then
    die "something not started by this script already answers on 127.0.0.1:$port; stop it or choose another port (AWS_EMULATOR_PORT)"
  fi
  # Never a recording the caller did not ask for (moto would write ./moto_recording); the replay
  # calls this server over HTTP, so no proxy may stand in between.
  local -a moto_env=(env -u MOTO_ENABLE_RECORDING -u MOTO_RECORDER_FILEPATH NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost)
  local recording="" replay=0
  if [[ -n "$saved" ]]; then
    mkdir -p "$saved" && chmod 700 "$saved" || die "cannot create the state directory $saved"
    saved="$(cd "$saved" && pwd)"
    recording="$saved/moto-recording.jsonl"
    if [[ -s "$recording" ]]; then
      local counts; counts="$(compact_recording "$recording")" || die "could not read the saved state $recording"
      replay="${counts%% *}"
      (( ${counts##* } == 0 )) || log "skipped ${counts##* } unreadable line(s) in $recording"
    fi
    touch "$recording" && chmod 600 "$recording"
    moto_env+=(MOTO_ENABLE_RECORDING=true "MOTO_RECORDER_FILEPATH=$recording")
  fi
  # setsid: the server gets its own process group, so `stop` also ends the workers it forks.
  setsid "${moto_env[@]}" "$venv/bin/python" -m moto.server -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  printf '%s' "${recording:-none}" > "$state/moto-$port.state"
  for _ in $(seq 1 150); do
    if answers "$port"; then
      if (( replay > 0 )); then
        # moto replays the file in order and records nothing while it does.
        if ! curl -fsS -o /dev/null -X POST --max-time 600 "http://127.0.0.1:$port/moto-api/recorder/replay-recording"; then
          stop "$port"
          die "moto could not replay the saved state $recording (log: $logfile); delete the file to start empty"
        fi
        log "replayed $replay saved request(s) from $recording"
      fi
      log "moto $MOTO_VERSION answers on http://127.0.0.1:$port (pid $(cat "$pidfile"), log $logfile)"
      return 0
    fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -n 20 "$logfile" >&2; rm -f "$pidfile" "$state/moto-$port.state"; die "moto exited during start-up (log above)"; }
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
  rm -f "$pidfile" "$state/moto-$port.state"
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
  *) die "usage: scripts/aws-emulator.sh install|start|stop|status|run [PORT] (start takes --state DIR)" ;;
esac
