#!/usr/bin/env bash
# npm run package:router [-- <directory>]: builds @silo/tenant-router (libs/tenant-router) to
# JavaScript with declarations and packs it as npm would publish it, into <directory>
# (default .cache/packages). Prints the tarball's path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
destination="$(mkdir -p "${1:-$root/.cache/packages}" && cd "${1:-$root/.cache/packages}" && pwd)"
cd "$root/libs/tenant-router"
"$root/node_modules/.bin/tsup" --silent
npm pack --silent --pack-destination "$destination" | sed "s#^#$destination/#"
