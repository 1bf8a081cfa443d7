#!/bin/sh
# Start of a Ferry worker container: puts the caches on the network volume when one is mounted,
# then runs the command (the worker, unless `docker run IMAGE <cmd>` said otherwise).
#
# Decided here at start, not baked into the image: the same image runs with and without a
# volume, and a volume attached to an endpoint later is used by the next worker that starts.
# Models and wheels on the volume outlive the worker, so a cold start finds them downloaded.
# A value set in the template's environment wins over these defaults.
set -eu

volume="${FERRY_VOLUME_DIR:-/runpod-volume}"

if [ -d "$volume" ] && [ -w "$volume" ]; then
  : "${HF_HOME:=$volume/.cache/huggingface}"
  : "${UV_CACHE_DIR:=$volume/.cache/uv}"
  : "${PIP_CACHE_DIR:=$volume/.cache/pip}"
  # The cache is on another file system than the environments uv installs into, where hard
  # links cannot reach: copy without first trying (and warning about) a link.
  : "${UV_LINK_MODE:=copy}"
  export HF_HOME UV_CACHE_DIR PIP_CACHE_DIR UV_LINK_MODE
  # A cache directory that cannot be created is not a reason to refuse to start: the tools
  # then report it when they first write there.
  mkdir -p "$HF_HOME" "$UV_CACHE_DIR" "$PIP_CACHE_DIR" 2>/dev/null || true
  echo "ferry entrypoint: caches on the volume $volume (HF_HOME=$HF_HOME)" >&2
else
  echo "ferry entrypoint: no writable volume at $volume, caches stay in the container" >&2
fi

exec "$@"
