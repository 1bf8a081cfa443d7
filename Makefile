# Ferry: the commands people and CI run. `make test` works on a fresh clone.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin
IMAGE ?= ferry-worker:latest
IMAGE_CPU ?= ferry-worker-cpu:latest

.PHONY: setup build typecheck types test test-handler demo examples bench stress peers image image-cpu image-check clean

# Idempotent: npm ci only when the lockfile changed; the Python check is quick when satisfied.
setup: node_modules/.ferry-installed
	@scripts/setup-python.sh
	@scripts/setup-browser.sh

node_modules/.ferry-installed: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The package in dist/: worker bundle + Python runner, the SDK and CLI as JavaScript with declarations.
build: setup
	node scripts/build-package.mjs --check

# The examples' generated types must match their Python (`make types` rewrites them).
typecheck: setup
	$(NODE_BIN)/tsc --noEmit -p tsconfig.json
	node bin/ferry.mjs types --check examples/py

types: setup
	node bin/ferry.mjs types examples/py

test: setup build typecheck
	$(NODE_BIN)/vitest run --reporter=default --reporter=json --outputFile.json=.ferry/vitest-results.json
	@node scripts/test-summary.mjs .ferry/vitest-results.json

test-handler: build
	node scripts/test-handler.mjs

# The main job on the local default: a real local endpoint server and real workers, no RunPod key.
demo: build
	$(NODE_BIN)/tsx examples/quickstart.ts

examples: build
	node scripts/run-examples.mjs

bench: build
	$(NODE_BIN)/tsx tests/bench/run.ts

stress: build
	FERRY_STRESS=1 $(NODE_BIN)/vitest run tests/reliability

# RunPod's own software against Ferry (not part of make test): PEERS names a folder with checkouts
# of runpod-python, runpod-flash and worker-tetra (docs/peers.md). Prints a table of what passed.
PEERS ?= ../peers
peers: build
	$(NODE_BIN)/tsx scripts/peers/peers.ts $(PEERS)

# Worker images (need a Docker engine). IMAGE=... / IMAGE_CPU=... name the tags.
image:
	docker build --platform linux/amd64 -f Dockerfile -t $(IMAGE) .

image-cpu:
	docker build --platform linux/amd64 -f Dockerfile.cpu -t $(IMAGE_CPU) .

# Both images built with buildah against local stand-in bases and run: no Docker engine, no
# registry; needs root, buildah and debootstrap (docs/images.md). Cached machine-wide in ~/.cache/ferry/image-check.
image-check: build
	@scripts/setup-image-tools.sh
	$(NODE_BIN)/tsx scripts/image-check/main.ts

clean:
	rm -rf dist .ferry
