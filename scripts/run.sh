#!/usr/bin/env bash
# Runs Confab: the server on embedded SQLite (data in ./data), listening on 127.0.0.1:4000.
# Extra arguments go to confab-server (see `--help`), e.g. `scripts/run.sh --listen 0.0.0.0:4000`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
cargo build --release --locked -p confab-server
exec "${CARGO_TARGET_DIR:-target}/release/confab-server" "$@"
