# syntax=docker/dockerfile:1
# Ferry's GPU worker image for RunPod Serverless.
#
# The base already has CUDA, cuDNN, Python and PyTorch, so a call that needs torch installs
# nothing. The worker itself is the esbuild bundle (dist/: one .mjs and the Python runner):
# no node_modules and no TypeScript sources reach the final image.
#
#   make image IMAGE=registry.example.com/you/ferry-worker:0.1.0
#
# The versions below are build arguments, so a different CUDA or torch is one --build-arg away
# (keep the endpoint's allowedCudaVersions in step with the CUDA of the base).
ARG PYTORCH_TAG=2.8.0-cuda12.8-cudnn9-runtime
ARG NODE_TAG=22-bookworm-slim
ARG UV_VERSION=0.8.22
# Where uv comes from: "release", the official uv image; or "none", for a build that cannot pull
# that image (the stand-in builds of `make image-check`). Without uv on PATH the worker installs
# a job's packages with pip.
ARG UV_SOURCE=release

FROM node:${NODE_TAG} AS node
FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv-image

# uv's binaries in /uv-bin/, or that folder empty: the final stage copies its contents either way.
FROM scratch AS uv-release
COPY --from=uv-image /uv /uvx /uv-bin/
FROM node:${NODE_TAG} AS uv-none
RUN mkdir /uv-bin
FROM uv-${UV_SOURCE} AS uv

# Bundle step. `npm run build:worker` runs images/build.mjs --worker-only (npm gives it the
# package version; only the worker bundle, not the SDK or the dashboard, whose sources stay out); it
# does not go through `make build`, whose setup step looks for (and would apt-install) a
# Python with msgpack and cloudpickle and whose --check starts the Python child: neither is
# needed to bundle, and this Node-only stage has no Python. The final stage runs the check.
FROM node:${NODE_TAG} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY images/build.mjs ./images/build.mjs
COPY protocol ./protocol
COPY handler ./handler
RUN npm run build:worker

FROM pytorch/pytorch:${PYTORCH_TAG}
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# glibc settings for large values (protocol/malloc-env.ts): freed value buffers of 1 MB and up go
# back to the system, and fresh ones are faulted in on 2 MB pages where the kernel allows them.
ENV MALLOC_MMAP_THRESHOLD_=1048576 \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1

# The package lists stay in the image: a job's system_dependencies then install without an
# `apt-get update` first (seconds instead of tens of seconds on a cold worker). tini is PID 1,
# so orphaned grandchildren of pip or user code are reaped and signals reach the worker.
# hadolint ignore=DL3008,DL3009
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && apt-get clean

# Node: the binary only (the bundle needs no npm at run time).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=uv /uv-bin/ /usr/local/bin/

# The runner's modules go into the base's Python (the one with torch), which is python3 on
# PATH: the worker runs `python3` when FERRY_PYTHON is not set. No --upgrade: the base's
# numpy, which its torch was built against, satisfies the requirement and stays.
# Names of requirements a build with no route to PyPI cannot install (the stand-in builds of
# `make image-check`, whose bases carry Debian's packages for the rest): left out of the
# install, and the build log says so. Empty for real builds.
ARG REQUIREMENTS_LEFT_OUT=""
COPY images/requirements.txt /tmp/ferry-requirements.txt
RUN for name in $REQUIREMENTS_LEFT_OUT; do \
      echo "requirement left out of this build: $name"; \
      sed -i -E "/^${name}([^A-Za-z0-9_.-]|$)/Id" /tmp/ferry-requirements.txt; \
    done \
 && python3 -m pip install --no-cache-dir -r /tmp/ferry-requirements.txt \
 && rm /tmp/ferry-requirements.txt \
 && python3 -c "import torch, msgpack, cloudpickle, numpy, packaging; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

WORKDIR /app
COPY --from=build /src/dist/ /app/
COPY --chmod=0755 images/entrypoint.sh /app/entrypoint.sh
# The bundle starts with this image's Python: the Python child answers, or the build fails.
RUN node /app/handler.mjs --check

ENTRYPOINT ["/usr/bin/tini", "--", "/app/entrypoint.sh"]
CMD ["node", "/app/handler.mjs"]
