#!/usr/bin/env bash
# Chooses the Python interpreter the runner uses and records it in .ferry/python.
#
# The runner needs msgpack and cloudpickle importable (numpy for arrays, packaging for
# requirement checks, venv + pip for dependency installs). Order: FERRY_PYTHON when set;
# else the first of `python3` on PATH and /usr/bin/python3 that has what the runner needs;
# else, on Debian as root, install Debian's packages and use /usr/bin/python3; else say what
# the user must install.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .ferry

APT_PACKAGES=(python3-msgpack python3-cloudpickle python3-numpy python3-venv python3-pip python3-packaging)
CHECK='import msgpack, cloudpickle, numpy, packaging, venv, ensurepip'

has_runner_modules() { "$1" -c "$CHECK" >/dev/null 2>&1; }

choose() {
  printf '%s\n' "$1" > .ferry/python
  echo "setup: Python for the runner: $1 ($("$1" --version 2>&1))"
  ensure_test_modules "$1"
}

# The test suite also runs docs/http.md's Python client, which imports `requests`. Only Debian's
# own interpreter can get it from apt; for any other, this says what is missing.
ensure_test_modules() {
  "$1" -c 'import requests' >/dev/null 2>&1 && return 0
  if [ "$1" = /usr/bin/python3 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends python3-requests >>/tmp/ferry-apt.log 2>&1 ||
      { apt-get -o DPkg::Lock::Timeout=600 update >>/tmp/ferry-apt.log 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends python3-requests >>/tmp/ferry-apt.log 2>&1; } ||
      echo "setup: apt-get install python3-requests failed (see /tmp/ferry-apt.log); tests/docs/http.test.ts needs it" >&2
  else
    echo "setup: $1 has no requests module; tests/docs/http.test.ts needs it (pip install requests)" >&2
  fi
}

if [ -n "${FERRY_PYTHON:-}" ]; then
  if has_runner_modules "$FERRY_PYTHON"; then choose "$FERRY_PYTHON"; exit 0; fi
  echo "setup: FERRY_PYTHON=$FERRY_PYTHON lacks modules the runner needs ($CHECK)." >&2
  exit 1
fi

for candidate in "$(command -v python3 || true)" /usr/bin/python3; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && has_runner_modules "$candidate"; then
    choose "$candidate"; exit 0
  fi
done

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "setup: no Python with msgpack + cloudpickle found; installing Debian's: ${APT_PACKAGES[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}" >/tmp/ferry-apt.log 2>&1; then
    apt-get update >>/tmp/ferry-apt.log 2>&1
    apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}" >>/tmp/ferry-apt.log 2>&1 || {
      echo "setup: apt-get install failed; see /tmp/ferry-apt.log" >&2; exit 1; }
  fi
  if has_runner_modules /usr/bin/python3; then choose /usr/bin/python3; exit 0; fi
fi

cat >&2 <<MSG
setup: no usable Python for Ferry's runner.
  Install these into a Python 3.9+ and point FERRY_PYTHON at it:
    python -m pip install msgpack cloudpickle numpy packaging
  or, on Debian/Ubuntu: sudo apt-get install ${APT_PACKAGES[*]}
MSG
exit 1
