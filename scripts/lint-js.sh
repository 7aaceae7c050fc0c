#!/usr/bin/env bash
# Checks the web client: Biome's lint over assets/, webtest/ and e2e/
# (biome.json), then the client's unit tests (webtest/*.test.js) under
# node's own test runner. Installs what it needs when missing: Debian's
# nodejs and npm, and Biome (pinned by package-lock.json) into node_modules.
# Exits non-zero when either check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/debian.sh
need_debian node:nodejs npm:npm

if [ ! -x node_modules/.bin/biome ]; then
  echo "installing: node_modules (npm ci)"
  npm ci --prefix . --no-audit --no-fund
fi

status=0
echo "lint-js: biome lint"
node_modules/.bin/biome lint --error-on-warnings || status=1
echo "lint-js: unit tests"
node --test webtest/*.test.js || status=1
exit "$status"
