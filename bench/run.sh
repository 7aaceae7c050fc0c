#!/usr/bin/env bash
# Builds kith and the benchmark in release mode and runs the benchmark.
# Extra arguments go to kith-bench (--seconds S, --concurrency N,
# --writer-seconds S, --only writer|http|realtime|jobs, ...). Takes about
# two minutes once built.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p kith -p kith-bench --bins
exec target/release/kith-bench --kith-bin target/release/kith "$@"
