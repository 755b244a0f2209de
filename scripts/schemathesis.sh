#!/usr/bin/env bash
# Schemathesis (property-based tests from the OpenAPI document), pinned, in a project-local
# virtualenv, like the AWS emulator.
#   bash scripts/schemathesis.sh install        create .cache/schemathesis-venv (idempotent)
#   bash scripts/schemathesis.sh run <args…>    schemathesis run <args…> (installs first)
set -euo pipefail

SCHEMATHESIS_VERSION="4.32.5"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SILO_SCHEMATHESIS_VENV:-$root/.cache/schemathesis-venv}"
python="${PYTHON:-python3}"

log() { printf 'schemathesis: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

install() {
  local stamp="$venv/.silo-schemathesis-version"
  if [[ -x "$venv/bin/schemathesis" && -f "$stamp" && "$(cat "$stamp")" == "$SCHEMATHESIS_VERSION" ]]; then
    return 0
  fi
  command -v "$python" >/dev/null || die "$python not found: install Python 3.9+ with venv (Debian: apt-get install python3-venv)"
  log "installing schemathesis==$SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" || die "could not create a virtualenv with $python (Debian: apt-get install python3-venv)"
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q "schemathesis==$SCHEMATHESIS_VERSION" >"$venv.pip.log" 2>&1; then
    tail -20 "$venv.pip.log" >&2
    die "pip install schemathesis==$SCHEMATHESIS_VERSION failed (log: $venv.pip.log)"
  fi
  echo "$SCHEMATHESIS_VERSION" >"$stamp"
}

case "${1:-}" in
  install) install ;;
  run)
    shift
    install
    exec "$venv/bin/schemathesis" --config-file "${SILO_SCHEMATHESIS_CONFIG:-$root/test/schemathesis/schemathesis.toml}" run "$@"
    ;;
  *) die "usage: $0 install | run <schemathesis run arguments>" ;;
esac
