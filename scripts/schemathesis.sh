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
# shellcheck source=lib/pinned-venv.sh
source "$root/scripts/lib/pinned-venv.sh"

log() { printf 'schemathesis: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# shellcheck disable=SC2086 # $pins is one or more requirement words
install() { pinned_venv_install schemathesis "$venv" schemathesis $pins || exit 1; }

case "${1:-}" in
  install) install ;;
  run)
    shift
    install
    exec "$venv/bin/schemathesis" --config-file "${SILO_SCHEMATHESIS_CONFIG:-$root/test/schemathesis/schemathesis.toml}" run "$@"
    ;;
  *) die "usage: $0 install | run <schemathesis run arguments>" ;;
esac
