# Ferry: the commands people and CI run. `make test` works on a fresh clone.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin
IMAGE ?= ferry-worker:latest
IMAGE_CPU ?= ferry-worker-cpu:latest

.PHONY: setup build typecheck test test-handler demo examples bench stress image image-cpu clean

# Idempotent: npm ci only when the lockfile changed; the Python check is quick when satisfied.
setup: node_modules/.ferry-installed
	@scripts/setup-python.sh

node_modules/.ferry-installed: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: setup
	node images/build.mjs --check

typecheck: setup
	$(NODE_BIN)/tsc --noEmit -p tsconfig.json

test: setup build typecheck
	$(NODE_BIN)/vitest run

test-handler: build
	node scripts/test-handler.mjs

clean:
	rm -rf dist .ferry
