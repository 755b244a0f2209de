# Sourced by dev.sh and test.sh: Node.js 24 (fetched into .cache/node when the machine's is older,
# see ensure-node.sh), the rest of the toolchain, and node_modules when missing or older than
# package-lock.json.
# shellcheck source=ensure-node.sh
source "$(dirname "${BASH_SOURCE[0]}")/ensure-node.sh"

ensure_deps() {
  local root="$1"
  ensure_node "$root" || return 1
  command -v python3 >/dev/null || { echo "python3 (3.9+, with venv) is required for the AWS emulator" >&2; return 1; }
  if [[ ! -f "$root/node_modules/.package-lock.json" || "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]]; then
    echo "installing npm dependencies (npm ci)" >&2
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error) || { echo "npm ci failed" >&2; return 1; }
  fi
}
