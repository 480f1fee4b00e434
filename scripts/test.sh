#!/usr/bin/env bash
# npm test: typecheck, lint and format, then unit, integration (real PostgreSQL, Redis, keychain)
# and end-to-end tests (the built app in Chromium through `aether serve`; Electron where it exists).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$1"; }

step 'check: typecheck, lint, format'
npm run --silent check
step 'build'
npm run --silent build >/dev/null
step 'unit + integration tests (vitest)'
bash scripts/with-keyring.sh npx vitest run
step 'end-to-end tests (playwright: browser, electron)'
bash scripts/with-keyring.sh npx playwright test
