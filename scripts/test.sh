#!/usr/bin/env bash
# Runs every test: the UI's unit tests, the Rust tests (real server, real Socket.IO clients, the client
# core against a server process), the JavaScript socket.io-client suite, and the desktop end-to-end
# suite (two real apps under Xvfb, driven through tauri-driver).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

if ! command -v tauri-driver >/dev/null; then
  echo "bootstrap: installing tauri-driver"
  cargo install tauri-driver --locked --version 2.1.0
fi

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$(pwd)/$target_dir" ;; esac
export CONFAB_SERVER_BIN="$target_dir/debug/confab-server"
export CONFAB_DESKTOP_BIN="$target_dir/debug/confab-desktop"

echo "== UI: unit tests and build"
npm run test:ui
npm run build   # the desktop binary embeds ui/dist

# The cluster test needs a Redis (each test uses a channel prefix of its own). CI requires it;
# elsewhere it is skipped, loudly, when none answers.
if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  export CONFAB_TEST_REDIS="redis://127.0.0.1:6379"
elif [ -n "${CONFAB_REQUIRE_SERVICES:-}" ]; then
  echo "no Redis at 127.0.0.1:6379" >&2
  exit 1
else
  echo "SKIPPED later: no Redis at 127.0.0.1:6379, so the multi-node test will not run" >&2
fi

# The NAT test (crates/client/tests/nat.rs: calls between network namespaces behind nftables NATs,
# through coturn and the bundled relay) needs Linux and root. CI runs as root and requires it;
# elsewhere it is skipped, loudly.
if [ -n "${CONFAB_REQUIRE_SERVICES:-}" ]; then export CONFAB_REQUIRE_NAT_TEST=1; fi

echo "== cargo build and test"
cargo build --locked -p confab-server -p confab-desktop
# Under a private PulseAudio with a virtual microphone and speaker, for the call engine's device test.
scripts/with-pulse.sh cargo test --workspace --locked

echo "== packaging: the systemd unit (any complaint of systemd-analyze fails)"
unit_dir="$(mktemp -d)"
sed "s#/usr/bin/confab-server#$CONFAB_SERVER_BIN#" packaging/linux/confab-server.service >"$unit_dir/confab-server.service"
complaints="$(systemd-analyze verify "$unit_dir/confab-server.service" 2>&1)" || complaints="${complaints:-systemd-analyze failed}"
rm -rf "$unit_dir"
if [ -n "$complaints" ]; then
  echo "$complaints" >&2
  exit 1
fi

echo "== the server suite again, on PostgreSQL"
# Each test creates (and drops) its own database on this server. CI requires it; elsewhere it is
# skipped, loudly, when no PostgreSQL answers.
export CONFAB_TEST_POSTGRES="${CONFAB_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
if pg_isready -q -d "$CONFAB_TEST_POSTGRES/postgres" 2>/dev/null; then
  cargo test --locked -p confab-server --test server
elif [ -n "${CONFAB_REQUIRE_SERVICES:-}" ]; then
  echo "no PostgreSQL at $CONFAB_TEST_POSTGRES" >&2
  exit 1
else
  echo "SKIPPED: no PostgreSQL at $CONFAB_TEST_POSTGRES (set CONFAB_TEST_POSTGRES to run the server suite on it)" >&2
fi
unset CONFAB_TEST_POSTGRES

echo "== JavaScript socket.io-client suite"
npm run test:js

echo "== desktop end-to-end"
# On Xvfb, under PulseAudio's virtual devices, so the call steps send and play real audio (without
# them the calls still pass, showing "No microphone found").
scripts/with-desktop-session.sh npm run test:e2e
echo "== all tests passed"
