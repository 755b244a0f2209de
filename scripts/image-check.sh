#!/usr/bin/env bash
# npm run image:check [-- --if-available]: builds the Dockerfile with buildah (chroot isolation,
# the project's own image store), checks what the image holds, then runs its migrate, API and
# worker entry points from the image's root filesystem with chroot and host networking against
# this machine's PostgreSQL, Redis and the AWS emulator (test/image, jest's `image` project):
# /readyz answers 200 and a tenant provisions to ACTIVE. Containers themselves cannot run here.
# --if-available (npm test): without buildah and no way to install it, prints why and exits 0.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=lib/buildah.sh
source "$root/scripts/lib/buildah.sh"

if_available=false
for arg in "$@"; do
  case "$arg" in
    --if-available) if_available=true ;;
    *) echo "image-check: unknown argument $arg; usage: image-check.sh [--if-available]" >&2; exit 2 ;;
  esac
done

if ! silo_image_tools; then
  if $if_available; then
    echo "image-check: SKIPPED: $SILO_IMAGE_TOOLS_WHY" >&2
    exit 0
  fi
  echo "image-check: $SILO_IMAGE_TOOLS_WHY" >&2
  exit 1
fi
if [[ "$(id -u)" != 0 ]]; then
  why="buildah's chroot isolation and chroot need root here (this user is $(id -un))"
  if $if_available; then echo "image-check: SKIPPED: $why" >&2; exit 0; fi
  echo "image-check: $why" >&2
  exit 1
fi

silo_buildah_init "$root"
bash "$root/scripts/image-base.sh"

tag=localhost/silo:check
build_args=(--isolation chroot --pull=never --layers=false -t "$tag")
# The build's npm ci opens many cache files at once; buildah's default soft limit inside a RUN can
# be lower than this shell's and failed it once with EMFILE. Hand the build this shell's own limit.
nofile="$(ulimit -Hn)"
[[ "$nofile" =~ ^[0-9]+$ ]] && build_args+=(--ulimit "nofile=$nofile:$nofile")
# The build's npm ci reaches the registry through whatever CA this machine trusts (a TLS-inspecting
# proxy's, say): handed in as the `npm_ca` build secret, never written into a layer.
ca="${SILO_IMAGE_CA_BUNDLE:-${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-}}}"
# Without either, the system's bundle (Debian's path): a registry proxy's CA the host trusts is in it.
[[ -z "$ca" && -s /etc/ssl/certs/ca-certificates.crt ]] && ca=/etc/ssl/certs/ca-certificates.crt
[[ -n "$ca" && -s "$ca" ]] && build_args+=(--secret "id=npm_ca,src=$ca")
# The image's pg_dump comes from the PostgreSQL project's apt repository; a machine that reaches
# Debian's mirror only builds it with Debian's client (PostgreSQL 15), and says so.
if ! curl -fsSI --max-time 10 https://apt.postgresql.org/pub/repos/apt/dists/bookworm-pgdg/Release >/dev/null 2>&1; then
  echo "image-check: apt.postgresql.org does not answer from here: building with PG_CLIENT=debian (pg_dump 15, not the shipped 17)" >&2
  build_args+=(--build-arg PG_CLIENT=debian)
fi
echo "image-check: building the Dockerfile as $tag" >&2
started=$SECONDS
if ! sb bud "${build_args[@]}" . >.cache/image-build.log 2>&1; then
  tail -n 40 .cache/image-build.log >&2
  echo "image-check: the build failed (log: .cache/image-build.log)" >&2
  exit 1
fi
echo "image-check: built in $((SECONDS - started)) s" >&2

container="$(sb from --pull=never "$tag")"
rootfs="$(sb mount "$container")"
cleanup() {
  umount "$rootfs/proc" 2>/dev/null || true
  sb rm "$container" >/dev/null 2>&1 || true
}
trap cleanup EXIT
sb inspect --type image "$tag" >.cache/image-inspect.json

# What the image holds: user, dev dependencies, test files, .env, size.
node scripts/lib/image-contents.mjs "$rootfs" .cache/image-inspect.json

# The entry points need /proc (os.cpus(), /proc/self); the image brings its own /dev nodes.
mount --bind /proc "$rootfs/proc"
SILO_IMAGE_ROOTFS="$rootfs" SILO_IMAGE_INSPECT="$root/.cache/image-inspect.json" \
  npx jest --ci --selectProjects image
