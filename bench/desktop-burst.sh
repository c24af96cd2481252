#!/usr/bin/env bash
# Measures the desktop app under a burst of incoming messages (issue 18's targets; bench/desktop-burst.mjs):
# builds the release app and server, then drives the app on Xvfb (unless DISPLAY is set) under
# scripts/with-desktop-session.sh while a second user posts BURST messages into a group it has not opened.
#
#   bench/desktop-burst.sh                         # release builds, 10,000 messages
#   PROFILE=debug BURST=500 bench/desktop-burst.sh # the debug builds the end-to-end suite uses, a small burst
#   NO_BUILD=1 …                                   # use the binaries as they are (CONFAB_DESKTOP_BIN and
#                                                  # CONFAB_SERVER_BIN name others, e.g. to compare two builds)
#   SCREENSHOTS_DIR=dir …                          # also writes dir/desktop-burst.json and screenshots
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR
PROFILE=${PROFILE:-release}
if [ -z "${NO_BUILD:-}" ]; then
  npm run build
  if [ "$PROFILE" = release ]; then
    cargo build --release --locked -p confab-server -p confab-desktop
  else
    cargo build --locked -p confab-server -p confab-desktop
  fi
fi
export CONFAB_SERVER_BIN="${CONFAB_SERVER_BIN:-$CARGO_TARGET_DIR/$PROFILE/confab-server}"
export CONFAB_DESKTOP_BIN="${CONFAB_DESKTOP_BIN:-$CARGO_TARGET_DIR/$PROFILE/confab-desktop}"
export BENCH_PROFILE="$PROFILE"
scripts/with-desktop-session.sh node bench/desktop-burst.mjs
