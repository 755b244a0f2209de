#!/usr/bin/env bash
# npm run dev [-- --no-build]: install what is missing, then run the local stack (scripts/dev.mjs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/ensure-deps.sh
source "$root/scripts/lib/ensure-deps.sh"
ensure_deps "$root"
cd "$root"
exec node scripts/dev.mjs "$@"
