#!/usr/bin/env bash
# The tools `make image-check` builds and runs images with: buildah (daemonless, vfs storage,
# chroot isolation) and debootstrap (the stand-in bases' Debian root). Both need root. On
# Debian as root, missing ones are installed with apt; elsewhere this says what to install.
set -euo pipefail

APT_PACKAGES=(buildah debootstrap)
missing=()
for tool in "${APT_PACKAGES[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "image-check setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
  if ! apt_get install -y "${missing[@]}" >/tmp/ferry-image-tools-apt.log 2>&1; then
    apt_get update >>/tmp/ferry-image-tools-apt.log 2>&1
    apt_get install -y "${missing[@]}" >>/tmp/ferry-image-tools-apt.log 2>&1 || {
      echo "image-check setup: apt-get install failed; see /tmp/ferry-image-tools-apt.log" >&2; exit 1; }
  fi
  exit 0
fi

echo "image-check needs root and ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${APT_PACKAGES[*]})." >&2
exit 1
