#!/usr/bin/env bash
# Measures the desktop app's video path with one app on the machine (bench/video-fps.mjs): builds
# the release app, server and headless call peer, then runs the measurement on Xvfb (unless DISPLAY
# is set) under PulseAudio (scripts/with-desktop-session.sh).
#
#   bench/video-fps.sh                 # release builds
#   PROFILE=debug bench/video-fps.sh   # the debug builds the end-to-end suite uses
#   NO_BUILD=1 …                       # use the binaries as they are (CONFAB_DESKTOP_BIN, CONFAB_SERVER_BIN,
#                                      # VIDEO_PEER_BIN name others, e.g. to compare two builds)
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
  # The peer only produces the call; it is built optimized either way.
  cargo build --release --locked -p confab-client --example video_peer
fi
export CONFAB_SERVER_BIN="${CONFAB_SERVER_BIN:-$CARGO_TARGET_DIR/$PROFILE/confab-server}"
export CONFAB_DESKTOP_BIN="${CONFAB_DESKTOP_BIN:-$CARGO_TARGET_DIR/$PROFILE/confab-desktop}"
export VIDEO_PEER_BIN="${VIDEO_PEER_BIN:-$CARGO_TARGET_DIR/release/examples/video_peer}"
scripts/with-desktop-session.sh node bench/video-fps.mjs
