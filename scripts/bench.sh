#!/usr/bin/env bash
# make bench: release function binaries, then the figures of benches/ (printed, never asserted).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# The Node.js 20 peer of the token route (its lockfile pins the AWS SDK v3 it runs).
(cd benches/node-peer && npm ci --no-audit --no-fund --loglevel=error)
packages=$(for d in functions/*; do printf -- '-p %s ' "$(basename "$d")"; done)
# shellcheck disable=SC2086
cargo build --release --locked $packages -p cold-start-floor
cargo run --quiet --locked --release -p benches --bin cold-start-bench
cargo run --quiet --locked -p benches --bin foundation-bench
# Release build: the refresh path's own cost, not debug-build overhead, next to its floor.
cargo run --quiet --locked --release -p benches --bin lifecycle-bench
cargo run --quiet --locked --release -p benches --bin sync-bench
cargo run --quiet --locked --release -p benches --bin limits-bench
cargo run --quiet --locked --release -p benches --bin route-latency-bench
