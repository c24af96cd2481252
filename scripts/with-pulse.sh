#!/usr/bin/env bash
# Runs a command under a private PulseAudio server with virtual devices, for the call engine's
# device tests: `scripts/with-pulse.sh cargo test -p confab-call --test call`.
#
# The server listens on a unix socket in a temporary directory only (no network module, no
# autospawn, nothing of the user's session touched) and has:
#   vmic  — a source playing a 440 Hz sine (the "microphone")
#   vspk  — a null sink (the "speaker"); record `vspk.monitor` to hear what was played
#   vquiet — a silent source whose latency follows what clients ask, like a real microphone's
#            (the other two have a fixed 2 s)
# PULSE_SERVER points at it for the command, and the server is stopped when the command ends.
set -euo pipefail

command -v pulseaudio >/dev/null || { echo "with-pulse: install pulseaudio pulseaudio-utils" >&2; exit 1; }
dir=$(mktemp -d /tmp/confab-pulse.XXXXXX)
export PULSE_RUNTIME_PATH="$dir/runtime" PULSE_STATE_PATH="$dir/state" PULSE_SERVER="unix:$dir/native"
export PULSE_CLIENTCONFIG="$dir/client.conf"
mkdir -p "$PULSE_RUNTIME_PATH" "$PULSE_STATE_PATH"
echo "autospawn = no" >"$PULSE_CLIENTCONFIG"

pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit --use-pid-file=no \
  -L "module-native-protocol-unix socket=$dir/native auth-anonymous=1" \
  -L "module-null-sink sink_name=vspk rate=48000" \
  -L "module-sine-source source_name=vmic frequency=440 rate=48000" \
  -L "module-null-source source_name=vquiet rate=48000" \
  >"$dir/pulseaudio.log" 2>&1 &
pulse_pid=$!
cleanup() {
  kill "$pulse_pid" 2>/dev/null || true
  wait "$pulse_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

for _ in $(seq 50); do
  pactl info >/dev/null 2>&1 && break
  kill -0 "$pulse_pid" 2>/dev/null || { cat "$dir/pulseaudio.log" >&2; exit 1; }
  sleep 0.1
done
pactl info >/dev/null 2>&1 || { echo "with-pulse: the server did not come up" >&2; cat "$dir/pulseaudio.log" >&2; exit 1; }
pactl set-default-source vmic
pactl set-default-sink vspk

status=0
"$@" || status=$?
exit $status
