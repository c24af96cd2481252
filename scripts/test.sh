#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests (real server, real Socket.IO clients), then the
# JavaScript suite (the official socket.io-client against the server binary).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

# The client core's tests and the JavaScript suite run the server binary.
cargo build --locked -p confab-server
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$(pwd)/$target_dir" ;; esac
export CONFAB_SERVER_BIN="$target_dir/debug/confab-server"

echo "== cargo test"
cargo test --workspace --locked

echo "== JavaScript tests (socket.io-client)"
npm ci --no-audit --no-fund
npm run test:js
echo "== all tests passed"
