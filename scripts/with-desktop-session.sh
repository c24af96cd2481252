#!/usr/bin/env bash
# Runs a command the way the desktop app's tests and measurements need it: on a display (a private
# Xvfb unless DISPLAY is set), in a private D-Bus session (notifications, accessibility off), under
# PulseAudio's virtual devices (scripts/with-pulse.sh). Used by scripts/test.sh and bench/video-fps.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
started_xvfb=
if [ -z "${DISPLAY:-}" ]; then
  # The first free display number from :97 down.
  for n in 97 96 95 94 93; do
    [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || { export DISPLAY=":$n"; break; }
  done
  Xvfb "$DISPLAY" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  started_xvfb=$!
  trap 'kill "$started_xvfb" 2>/dev/null || true' EXIT
  sleep 1
fi
status=0
NO_AT_BRIDGE=1 dbus-run-session -- "$here/with-pulse.sh" "$@" || status=$?
exit $status
