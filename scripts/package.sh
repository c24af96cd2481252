#!/usr/bin/env bash
# Builds the installable app with confab-server inside it (a Tauri sidecar, installed next to the app,
# e.g. /usr/bin/confab-server from the .deb). On Linux: a .deb (AppImage needs tools downloaded from
# GitHub; build it on a CI that can reach them). On Windows/macOS the same command makes .msi/.dmg.
# Output: target/release/bundle/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

target_dir="${CARGO_TARGET_DIR:-target}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --locked -p confab-server
mkdir -p src-tauri/binaries
cp "$target_dir/release/confab-server" "src-tauri/binaries/confab-server-$triple"

case "$(uname -s)" in
  Linux) bundles=deb ;;
  Darwin) bundles=dmg ;;
  *) bundles=msi ;;
esac
npx tauri build --bundles "$bundles" --config src-tauri/tauri.bundle.conf.json
ls -l "$target_dir"/release/bundle/*/
