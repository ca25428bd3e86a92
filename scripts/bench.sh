#!/usr/bin/env bash
# make bench: release function binaries, then the figures of benches/ (printed, never asserted).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
packages=$(for d in functions/*; do printf -- '-p %s ' "$(basename "$d")"; done)
# shellcheck disable=SC2086
cargo build --release --locked $packages
cargo run --quiet --locked -p benches --bin foundation-bench
# Release build: the refresh path's own cost, not debug-build overhead, next to its floor.
cargo run --quiet --locked --release -p benches --bin lifecycle-bench
cargo run --quiet --locked --release -p benches --bin sync-bench
cargo run --quiet --locked --release -p benches --bin limits-bench
