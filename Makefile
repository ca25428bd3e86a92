# The two commands of the README: `make dev` (the whole system on loopback) and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv

.PHONY: help dev test token backend-token bootstrap lint fmt template-lint build-release bench package soak

## help: this list
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## dev: moto + local OAuth server + dev gateway on loopback; prints `ready <base URL>`
dev: bootstrap
	$(CARGO) run --quiet -p devstack --bin dev

## token: a user JWT for the dev gateway, e.g. `make token USER=alice`
token:
	@$(CARGO) run --quiet -p devstack --bin dev-token -- "$(USER)"

## backend-token: the dev stand-in for the app backend's IAM signature (GET /users/{userId}/integrations/{id}/token)
backend-token:
	@$(CARGO) run --quiet -p devstack --bin dev-token -- --backend app-backend

## test: every test (template lint, formatting, unit and end-to-end tests, browser tests in Chromium)
test: bootstrap template-lint
	$(CARGO) fmt --all -- --check
	@rm -f $${CARGO_TARGET_DIR:-target}/iam-used.tsv
	$(CARGO) test --workspace --locked
	@$(CARGO) run --quiet --locked -p integration-tests --bin iam-report
	$(CARGO) build --workspace --locked --bin dev
	cd web && node tests/browser.mjs

## bootstrap: the local tools (Python venv with moto, cfn-lint and aws-sam-cli, npm packages of the OAuth server and the web tests, Debian's chromium)
bootstrap:
	@scripts/bootstrap.sh

## template-lint: cfn-lint and `sam validate --lint` of template.yaml (offline, no AWS account)
template-lint: bootstrap
	$(VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/sam validate --lint --template template.yaml

## lint: clippy with warnings as errors
lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## fmt: format every crate
fmt:
	$(CARGO) fmt --all

## build-release: release binaries of every function (native target; `sam build` cross-builds arm64)
build-release:
	$(CARGO) build --release --locked $(patsubst functions/%,-p %,$(wildcard functions/*))

## package: every function cross-built for arm64 by `sam build` (cargo-lambda + zig from PyPI), zipped; prints sizes (slow: not part of `make test`)
package:
	scripts/package.sh

## soak: the dev system under mixed traffic for SOAK_SECONDS (1800), then its invariants checked and its figures printed (not part of `make test`)
soak: bootstrap
	$(CARGO) build --release --locked -p devstack --bin dev
	$(CARGO) run --release --locked -p benches --bin soak

## bench: figures for the issue notes (not asserted anywhere)
bench:
	scripts/bench.sh
