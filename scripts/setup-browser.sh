#!/usr/bin/env bash
# Makes sure the headless browser the dashboard's test drives is here: Debian's `chromium`
# at /usr/bin/chromium (playwright-core drives it; no browser is downloaded). On Debian as
# root it is installed with apt; otherwise this says what to install, and the browser test is
# skipped until it is there. Never fails `make setup`: the rest of the suite does not need it.
set -uo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "setup: installing Debian's chromium for the dashboard's browser test"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends chromium >/tmp/ferry-apt-chromium.log 2>&1; then
    apt-get -o DPkg::Lock::Timeout=600 update >>/tmp/ferry-apt-chromium.log 2>&1
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends chromium >>/tmp/ferry-apt-chromium.log 2>&1 ||
      echo "setup: apt-get install chromium failed (see /tmp/ferry-apt-chromium.log); the dashboard's browser test will be skipped" >&2
  fi
  exit 0
fi

echo "setup: $CHROMIUM is missing; the dashboard's browser test is skipped until it is installed (Debian/Ubuntu: sudo apt-get install chromium)" >&2
exit 0
