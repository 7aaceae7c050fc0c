#!/usr/bin/env bash
# Fails unless a kith binary carries exactly one SQLite engine, its own
# (libSQL's, src/db/engine.rs): it must not need a libsqlite3 shared
# library at run time, nor leave any sqlite3_ symbol for the dynamic
# linker to find elsewhere. A feature flag turned on in some dependency
# (a "bundled" build, sqlx's unlock_notify without libsql-ffi's) would
# otherwise bring a second engine back without a word.
#   scripts/check-engine.sh [BINARY]   (default: target/debug/kith)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/debug/kith}"
[ -x "$bin" ] || { echo "no binary at $bin (cargo build first)" >&2; exit 1; }
if readelf -d "$bin" | grep -E 'NEEDED.*libsqlite3' >&2; then
  echo "$bin needs a libsqlite3 shared library: a second SQLite engine" >&2
  exit 1
fi
undefined="$(nm -D --undefined-only "$bin" | grep -E ' sqlite3_' || true)"
if [ -n "$undefined" ]; then
  echo "$undefined" >&2
  echo "$bin leaves sqlite3_ symbols to another library: a second SQLite engine" >&2
  exit 1
fi
defined="$(nm "$bin" | grep -cE ' T sqlite3_open_v2$' || true)"
if [ "$defined" != "1" ]; then
  echo "$bin defines sqlite3_open_v2 $defined times, not once" >&2
  exit 1
fi
echo "one SQLite engine in $bin"
