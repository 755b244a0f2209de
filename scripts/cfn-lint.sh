#!/usr/bin/env bash
# AWS's CloudFormation linter (cfn-lint), pinned, in a project-local virtualenv, like the AWS
# emulator and schemathesis. Its rules carry AWS's current data (deprecated engine versions,
# instance classes per region, property values), which CDK's own validation does not.
#   bash scripts/cfn-lint.sh install        create .cache/cfn-lint-venv (idempotent)
#   bash scripts/cfn-lint.sh run <args…>    cfn-lint <args…> (installs first)
set -euo pipefail

CFN_LINT_VERSION="1.58.0"
pins="cfn-lint==$CFN_LINT_VERSION"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SILO_CFN_LINT_VENV:-$root/.cache/cfn-lint-venv}"
python="${PYTHON:-python3}"

log() { printf 'cfn-lint: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

install() {
  local stamp="$venv/.silo-cfn-lint-version"
  if [[ -x "$venv/bin/cfn-lint" && -f "$stamp" && "$(cat "$stamp")" == "$pins" ]]; then
    return 0
  fi
  command -v "$python" >/dev/null || die "$python not found: install Python 3.9+ with venv (Debian: apt-get install python3-venv)"
  log "installing $pins into $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" || die "could not create a virtualenv with $python (Debian: apt-get install python3-venv)"
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q "$pins" >"$venv.pip.log" 2>&1; then
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
    exec "$venv/bin/cfn-lint" "$@"
    ;;
  *) die "usage: $0 install | run <cfn-lint arguments>" ;;
esac
