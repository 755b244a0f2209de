#!/usr/bin/env bash
# npm test [-- <jest arguments>]: the whole suite from a fresh clone. Installs what is missing
# (npm packages, the emulator's virtualenv), makes sure PostgreSQL and Redis answer (starting the
# machine's own when they do not), then typecheck, lint, build, jest's unit, integration and e2e
# projects, and the image check (scripts/image-check.sh). Integration and e2e tests create their
# own database, queue prefixes and emulator.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/ensure-deps.sh
source "$root/scripts/lib/ensure-deps.sh"
ensure_deps "$root"
cd "$root"

step() { printf '\n== %s\n' "$*" >&2; }

hostport() { node -e 'const u = new URL(process.argv[1]); console.log(`${u.hostname}:${u.port || process.argv[2]}`)' "$1" "$2"; }
pg_url="${SILO_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
redis_url="${SILO_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

step "services"
bash scripts/ensure-services.sh --postgres "$(hostport "$pg_url" 5432)" --redis "$(hostport "$redis_url" 6379)"
step "AWS emulator (moto) virtualenv"
bash scripts/aws-emulator.sh install
step "schemathesis virtualenv"
bash scripts/schemathesis.sh install
step "cfn-lint virtualenv"
bash scripts/cfn-lint.sh install
step "chromium (console browser tests)"
bash scripts/ensure-chromium.sh
step "Docker Compose v2 (compose config test)"
bash scripts/ensure-compose.sh
step "typecheck"
npm run --silent typecheck
step "lint"
npm run --silent lint
step "build"
npm run --silent build

step "jest"
mkdir -p .cache
results=.cache/jest-results.json
rm -f "$results"
status=0
# Two workers on this two-core machine: the suites wait on PostgreSQL, Redis, the emulator and
# the processes they start far more than they compute, and each has its own database, queue
# prefix and resource prefix. JEST_MAX_WORKERS=1 runs them one at a time.
npx jest --ci --maxWorkers="${JEST_MAX_WORKERS:-2}" --json --outputFile="$results" "$@" || status=$?
if [[ -f "$results" ]]; then
  node -e '
    const r = require(process.argv[1]);
    console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
  ' "$(pwd)/$results"
fi

# The image: built from the Dockerfile and run from its root filesystem (skipped, saying why,
# where buildah cannot be had). Not with jest arguments: those pick tests of the three projects.
if [[ $# -eq 0 ]]; then
  step "bench:move --quick (one small move under load)"; npm run --silent bench:move -- --quick || status=$?
  step "image (npm run image:check)"
  bash scripts/image-check.sh --if-available || status=$?
fi
exit "$status"
