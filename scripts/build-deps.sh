#!/usr/bin/env bash
# Installs what building kith needs beyond Rust and a C compiler, when it is
# missing (Debian packages through apt-get, as root or with sudo):
# pkg-config and libsqlite3-dev. The binary carries one SQLite engine,
# libSQL's (src/db/engine.rs); the other drivers' libsqlite3-sys links to
# it instead of compiling a copy, and finds the link flags through
# pkg-config. sqlx's macros load SQLite inside the compiler, from the
# system library, so its development files must be there to build at all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/debian.sh
need_debian pkg-config:pkg-config
need_debian_file /usr/include/sqlite3.h:libsqlite3-dev
