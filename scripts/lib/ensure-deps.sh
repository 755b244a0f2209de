# Sourced by dev.sh and test.sh: checks the toolchain and installs node_modules when missing or
# older than package-lock.json.
ensure_deps() {
  local root="$1"
  command -v node >/dev/null || { echo "Node.js 20.19+ is required (not found on PATH)" >&2; return 1; }
  local version; version="$(node -p 'process.versions.node')"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
    || { echo "Node.js 20.19+ is required (found $version)" >&2; return 1; }
  command -v python3 >/dev/null || { echo "python3 (3.9+, with venv) is required for the AWS emulator" >&2; return 1; }
  if [[ ! -f "$root/node_modules/.package-lock.json" || "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]]; then
    echo "installing npm dependencies (npm ci)" >&2
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error) || { echo "npm ci failed" >&2; return 1; }
  fi
}
