#!/usr/bin/env bash
# Runs Confab: the server on embedded SQLite (data in ./data, http://127.0.0.1:4000) and the desktop
# app connected to it. Quitting the app stops the server. Without a display, only the server runs.
# Extra arguments go to confab-server (see `confab-server --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

target_dir="${CARGO_TARGET_DIR:-target}"
# The app embeds ui/dist, and a UI build rewrites it, which makes cargo rebuild the app: build the UI
# only when a file it is built from is newer than the last build.
if [ ! -f ui/dist/index.html ] || [ -n "$(find ui/src ui/index.html ui/vite.config.ts ui/tsconfig.json package.json package-lock.json \
    -newer ui/dist/index.html -print -quit)" ]; then
  npm run build
else
  echo "run: the UI is up to date (nothing under ui/ is newer than ui/dist)"
fi
cargo build --release --locked -p confab-server -p confab-desktop

if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display; starting the server only" >&2
  exec "$target_dir/release/confab-server" "$@"
fi

"$target_dir/release/confab-server" "$@" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -sf http://127.0.0.1:4000/healthz >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "run: the server did not start" >&2; exit 1; }
  sleep 0.2
done
CONFAB_SERVER_URL="${CONFAB_SERVER_URL:-http://127.0.0.1:4000}" "$target_dir/release/confab-desktop"
