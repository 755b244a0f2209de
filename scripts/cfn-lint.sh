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
# shellcheck source=lib/pinned-venv.sh
source "$root/scripts/lib/pinned-venv.sh"

log() { printf 'cfn-lint: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# shellcheck disable=SC2086 # $pins is one or more requirement words
install() { pinned_venv_install cfn-lint "$venv" cfn-lint $pins || exit 1; }

case "${1:-}" in
  install) install ;;
  run)
    shift
    install
    exec "$venv/bin/cfn-lint" "$@"
    ;;
  *) die "usage: $0 install | run <cfn-lint arguments>" ;;
esac
