#!/usr/bin/env bash
# The Docker Compose v2 binary, for checking docker-compose.yml with `docker compose config`
# (test/unit/compose-config.spec.ts): Debian's docker-compose package (Compose v2 from trixie on;
# bookworm's is v1), fetched with apt-get download into .cache/tools without installing
# anything on the machine. Compose's `config` needs no Docker engine. Prints why when it cannot,
# and never fails the run by itself (the test then says it was skipped, and why).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.cache/tools"
bin="$tools/docker-compose"
SUITE=trixie
if [[ -x "$bin" ]] && "$bin" version >/dev/null 2>&1; then
  echo "compose: $("$bin" version)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "compose: apt-get is not available; the compose config test will be skipped" >&2
  exit 0
fi
work="$tools/apt-$SUITE"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/deb"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${SILO_DEBIAN_MIRROR:-http://deb.debian.org/debian} $SUITE main" \
  >"$work/sources.list"
apt_options=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root -o Debug::NoLocking=1)
if ! apt-get "${apt_options[@]}" update -q >"$work/apt.log" 2>&1 ||
  ! (cd "$work/deb" && apt-get "${apt_options[@]}" download docker-compose >>"$work/apt.log" 2>&1); then
  echo "compose: could not fetch Debian $SUITE's docker-compose (log: $work/apt.log); the compose config test will be skipped" >&2
  exit 0
fi
deb="$(ls "$work"/deb/docker-compose_*.deb | head -n 1)"
rm -rf "$work/x" && dpkg-deb -x "$deb" "$work/x" && install -m 0755 "$work/x/usr/libexec/docker/cli-plugins/docker-compose" "$bin"
rm -rf "$work/x" "$work/deb"
if ! "$bin" version | grep -q 'version v\?2\.'; then
  echo "compose: $("$bin" version) is not Compose v2; the compose config test will be skipped" >&2
  rm -f "$bin"
  exit 0
fi
echo "compose: $("$bin" version) (from $(basename "$deb"))" >&2
