#!/usr/bin/env bash
# The console's browser tests drive Debian's Chromium (playwright-core, no downloaded browser).
# Installs it with apt when it is missing and this user may; otherwise says why the browser tests
# will be skipped (they print the same reason). Never fails the run by itself.
set -uo pipefail
chromium="${SILO_CHROMIUM:-/usr/bin/chromium}"
if [[ -x "$chromium" ]]; then
  echo "chromium: $("$chromium" --version 2>/dev/null || echo "$chromium")" >&2
  exit 0
fi
if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
  echo "chromium: installing Debian's chromium package" >&2
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/tmp/silo-chromium-apt.log 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/tmp/silo-chromium-apt.log 2>&1; }; then
    exit 0
  fi
  echo "chromium: apt-get install chromium failed (log: /tmp/silo-chromium-apt.log); the console browser tests will be skipped" >&2
  exit 0
fi
echo "chromium: not at $chromium and apt-get is not usable here; the console browser tests will be skipped" >&2
exit 0
