# Sourced by the scripts that keep a Python tool in a project-local virtualenv (schemathesis.sh,
# cfn-lint.sh). `pinned_venv_install NAME VENV EXECUTABLE PIN…` creates VENV with PIN… installed
# unless VENV/bin/EXECUTABLE is there with the same pins (a stamp file), idempotent; PYTHON picks
# the interpreter (default python3). Messages are prefixed with NAME.
pinned_venv_install() {
  local name="$1" venv="$2" executable="$3"
  shift 3
  local pins="$*" python="${PYTHON:-python3}" stamp="$venv/.silo-$name-version"
  if [[ -x "$venv/bin/$executable" && -f "$stamp" && "$(cat "$stamp")" == "$pins" ]]; then
    return 0
  fi
  command -v "$python" >/dev/null || {
    printf '%s: %s not found: install Python 3.9+ with venv (Debian: apt-get install python3-venv)\n' "$name" "$python" >&2
    return 1
  }
  printf '%s: installing %s into %s\n' "$name" "$pins" "$venv" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" || {
    printf '%s: could not create a virtualenv with %s (Debian: apt-get install python3-venv)\n' "$name" "$python" >&2
    return 1
  }
  # shellcheck disable=SC2068 # the pins are separate requirement words
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q $@ >"$venv.pip.log" 2>&1; then
    tail -20 "$venv.pip.log" >&2
    printf '%s: pip install %s failed (log: %s)\n' "$name" "$pins" "$venv.pip.log" >&2
    return 1
  fi
  echo "$pins" >"$stamp"
}
