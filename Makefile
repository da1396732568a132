# Flotilla — the commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/flotilla/target
CARGO ?= cargo

.PHONY: run test tools crds fmt lint build

## run: start the hub (embedded PostgreSQL when DATABASE_URL is unset)
run: tools
	$(CARGO) run -q -p flotilla-hub --bin flotilla-hub -- --log-format text

## test: format check, clippy with -D warnings, then every test
test: tools
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace --no-fail-fast

## tools: fetch helm v4, kubectl and the Kubernetes schemas into ~/.cache/flotilla/tools
tools:
	@scripts/tools.sh

## crds: regenerate manifests/crds/*.yaml from the Rust types
crds:
	$(CARGO) run -q -p flotilla-api --example crdgen -- manifests/crds

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build --workspace --all-targets
