#!/usr/bin/env bash
# Schemathesis (property-based tests from the OpenAPI document), pinned, in a project-local
# virtualenv, like the AWS emulator.
#   bash scripts/schemathesis.sh install        create .cache/schemathesis-venv (idempotent)
#   bash scripts/schemathesis.sh run <args…>    schemathesis run <args…> (installs first)
set -euo pipefail

SCHEMATHESIS_VERSION="4.32.5"
# Its property-based engine, pinned too: a newer hypothesis changes what a seeded run generates.
HYPOTHESIS_VERSION="6.170.27"
pins="schemathesis==$SCHEMATHESIS_VERSION hypothesis==$HYPOTHESIS_VERSION"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SILO_SCHEMATHESIS_VENV:-$root/.cache/schemathesis-venv}"
python="${PYTHON:-python3}"

log() { printf 'schemathesis: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

install() {
  local stamp="$venv/.silo-schemathesis-version"
  if [[ -x "$venv/bin/schemathesis" && -f "$stamp" && "$(cat "$stamp")" == "$pins" ]]; then
    return 0
  fi
  command -v "$python" >/dev/null || die "$python not found: install Python 3.9+ with venv (Debian: apt-get install python3-venv)"
  log "installing $pins into $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" || die "could not create a virtualenv with $python (Debian: apt-get install python3-venv)"
  # shellcheck disable=SC2086 # $pins is two requirement words
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q $pins >"$venv.pip.log" 2>&1; then
    tail -20 "$venv.pip.log" >&2
    die "pip install $pins failed (log: $venv.pip.log)"
  fi
  echo "$pins" >"$stamp"
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
