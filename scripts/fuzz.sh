#!/usr/bin/env bash
# Fuzzes kith's parsers of untrusted input (the cargo-fuzz targets in
# fuzz/, see fuzz/README.md) for a bounded time each:
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#
# Installs cargo-fuzz when it is missing, builds every target, runs each
# for SECONDS_PER_TARGET, prints what each run did, and exits non-zero if
# any target crashed (a panic, an out-of-memory or a timeout). A standalone
# tool: it needs the nightly toolchain (`rustup toolchain install nightly`).
# Extra environment: FUZZ_TARGETS="a b" runs only those targets.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-60}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi

# Leave a core free for whatever else runs on this machine; the first
# build compiles the whole server with sanitizer instrumentation.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

command -v cargo >/dev/null || { echo "cargo is required: https://rustup.rs" >&2; exit 1; }
cargo +nightly --version >/dev/null 2>&1 || {
  echo "the nightly toolchain is required: rustup toolchain install nightly" >&2
  exit 1
}

# cargo-fuzz (crates.io), pinned by its own lock file.
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing: cargo-fuzz (cargo install)"
  cargo install cargo-fuzz --locked
fi

read -ra TARGETS <<<"${FUZZ_TARGETS:-realtime_frame ticket upload_sniff}"

# One build for all targets; `cargo fuzz run` below then finds it fresh.
# The defaults (release, debug assertions and overflow checks on, address
# sanitizer) are what we want: an overflow is a panic, hence a finding.
echo "building the fuzz targets"
cargo +nightly fuzz build

# Per-input and memory limits: a slow input (over 10 s) or one that makes
# the parser balloon counts as a finding, not as a stalled run.
LIBFUZZER_ARGS=(
  "-max_total_time=$SECONDS_PER_TARGET"
  -rss_limit_mb=2048
  -timeout=10
  -print_final_stats=1
)

mkdir -p fuzz/logs
failed=()
for t in "${TARGETS[@]}"; do
  # The working corpus (gitignored) keeps what earlier runs found; the
  # hand-made seeds are read too but never written to.
  corpus="fuzz/corpus/$t" seeds="fuzz/seeds/$t" artifacts="fuzz/artifacts/$t"
  log="fuzz/logs/$t.log"
  mkdir -p "$corpus" "$artifacts"
  marker="$(mktemp)"
  echo "fuzzing: $t for ${SECONDS_PER_TARGET}s (log: $log)"
  status=0
  cargo +nightly fuzz run "$t" "$corpus" "$seeds" -- "${LIBFUZZER_ARGS[@]}" >"$log" 2>&1 || status=$?

  # libFuzzer's own final figures, and the last status line (coverage).
  figure() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
  execs="$(figure number_of_executed_units)"
  rate="$(figure average_exec_per_sec)"
  added="$(figure new_units_added)"
  rss="$(figure peak_rss_mb)"
  last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")"
  ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")"
  corp="$(sed -nE 's/.* corp: ([0-9]+\/[^ ]+).*/\1/p' <<<"$last")"
  found="$(find "$artifacts" -type f -newer "$marker" | sort)"
  rm -f "$marker"

  if [ "$status" -eq 0 ] && [ -z "$found" ]; then
    verdict="ok, no crash"
  else
    verdict="CRASHED (exit $status)"
    failed+=("$t")
  fi
  echo "  $t: ${execs:-?} executions, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}," \
    "corpus ${corp:-?} (${added:-?} new), peak RSS ${rss:-?} MB: $verdict"
  if [ -n "$found" ]; then
    echo "  inputs saved:"
    sed 's/^/    /' <<<"$found"
  fi
  if [ "$status" -ne 0 ]; then
    # What went wrong, in short (the whole story is in the log): the panic
    # message, or libFuzzer's and the sanitizer's verdict.
    grep -E -A 1 "panicked at" "$log" | head -n 4 | sed 's/^/    /' || true
    grep -E "ERROR: (libFuzzer|AddressSanitizer)|^SUMMARY" "$log" | head -n 4 | sed 's/^/    /' || true
    while read -r input; do
      [ -n "$input" ] && echo "    replay: cargo +nightly fuzz run $t $input"
    done <<<"$found"
  fi
done

if ((${#failed[@]})); then
  echo "crashed: ${failed[*]}" >&2
  exit 1
fi
echo "all targets ran ${SECONDS_PER_TARGET}s without a crash"
