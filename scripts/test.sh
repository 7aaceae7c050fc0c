#!/usr/bin/env bash
# Runs every test of kith. Installs what the tests need when it is missing
# (Debian packages through apt-get, as root or with sudo), runs the web
# client's unit tests (node --test), then `cargo test` over the whole
# workspace. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

# What building needs (pkg-config, libsqlite3-dev).
bash scripts/build-deps.sh

# Debian packages the tests use, as "command:package" pairs.
source scripts/debian.sh
need_debian sqlite3:sqlite3 ffmpeg:ffmpeg ffprobe:ffmpeg chromium:chromium \
  python3:python3 pip3:python3-pip node:nodejs npm:npm ip:iproute2
# A node whose clock is stepped, in the fault scenarios (libfaketime).
need_debian_file /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1:faketime
# Chromium draws the chat's reactions with it (screenshots show emoji, not
# empty boxes).
need_debian_file /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf:fonts-noto-color-emoji

# Python tools come from PyPI. Debian marks its Python as externally
# managed (PEP 668); these go to /usr/local (or ~/.local) all the same.
export PIP_BREAK_SYSTEM_PACKAGES=1

# moto's S3 server (PyPI), for the media-bucket tests.
if ! command -v moto_server >/dev/null 2>&1; then
  echo "installing: moto[server] (pip)"
  python3 -m pip install --quiet "moto[server]"
  hash -r
fi
command -v moto_server >/dev/null || { echo "moto_server is not on PATH after pip install" >&2; exit 1; }

# schemathesis (PyPI), for the API fuzz test; pinned, since what it
# generates for a given seed changes between releases.
SCHEMATHESIS_VERSION=4.32.5
if [ "$(schemathesis --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  echo "installing: schemathesis $SCHEMATHESIS_VERSION (pip)"
  python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
  hash -r
fi
command -v schemathesis >/dev/null || { echo "schemathesis is not on PATH after pip install" >&2; exit 1; }

# tuspy (PyPI), the tus project's Python client, for the resumable-upload
# tests; pinned.
TUSPY_VERSION=1.1.0
if ! python3 -c "import tusclient, importlib.metadata as m; assert m.version('tuspy') == '$TUSPY_VERSION'" 2>/dev/null; then
  echo "installing: tuspy $TUSPY_VERSION (pip)"
  python3 -m pip install --quiet "tuspy==$TUSPY_VERSION"
fi

# aiosmtpd (PyPI), a real SMTP server for the outgoing-mail tests
# (tests/mail/smtp_sink.py); pinned.
AIOSMTPD_VERSION=1.4.6
if ! python3 -c "import aiosmtpd, importlib.metadata as m; assert m.version('aiosmtpd') == '$AIOSMTPD_VERSION'" 2>/dev/null; then
  echo "installing: aiosmtpd $AIOSMTPD_VERSION (pip)"
  python3 -m pip install --quiet "aiosmtpd==$AIOSMTPD_VERSION"
fi

# websockets (PyPI), Python's WebSocket client, for the close-code test
# (tests/clients/ws_big_frame.py); pinned.
WEBSOCKETS_VERSION=15.0.1
if ! python3 -c "import websockets, importlib.metadata as m; assert m.version('websockets') == '$WEBSOCKETS_VERSION'" 2>/dev/null; then
  echo "installing: websockets $WEBSOCKETS_VERSION (pip)"
  python3 -m pip install --quiet "websockets==$WEBSOCKETS_VERSION"
fi

# playwright-core for the browser test, tus-js-client for the resumable
# uploads and web-push-testing (a push service on loopback that checks
# VAPID and decrypts what it gets) for Web Push, pinned by
# e2e/package-lock.json; playwright drives Debian's chromium and never
# downloads a browser.
if [ ! -d e2e/node_modules/playwright-core ] || [ ! -d e2e/node_modules/tus-js-client ] || [ ! -d e2e/node_modules/axe-core ] || [ ! -d e2e/node_modules/web-push-testing ]; then
  echo "installing: e2e/node_modules (npm ci)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix e2e --no-audit --no-fund
fi

# The web client's unit tests (its pure modules, under node's own runner).
node --test webtest/*.test.js

command -v cargo >/dev/null || { echo "cargo is required: https://rustup.rs" >&2; exit 1; }
exec cargo test --workspace "$@"
