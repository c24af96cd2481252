#!/usr/bin/env bash
# The long versions of the fault tests (the CI runs them at small scale in the test suites):
#
#   1. Reconnect storm: STORM_CONNS (10000) connected clients, the server is SIGKILLed and started
#      again on the same database; every client reconnects on its own (backoff with jitter) and
#      catches up with `sync`. Passes if all are back and caught up within STORM_TIMEOUT (60s).
#   2. SIGKILL under load: KILL_SENDERS (64) pipelined senders write as fast as the server takes it,
#      the server is killed once KILL_AFTER (20000) messages are acknowledged; after a restart every
#      acknowledged message is stored exactly once and seqs are gapless (the test
#      `faults::sigkill_under_load_loses_no_acknowledged_message_and_stores_none_twice`, scaled up,
#      against the release build). It prints the acknowledged rate before the kill.
#
#   bench/run-faults.sh            # both; STEPS="storm" or STEPS="kill" for one
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
STORM_CONNS=${STORM_CONNS:-10000}
STORM_TIMEOUT=${STORM_TIMEOUT:-60s}
KILL_SENDERS=${KILL_SENDERS:-64}
KILL_PER_SENDER=${KILL_PER_SENDER:-2000}
KILL_AFTER=${KILL_AFTER:-20000}
STEPS=${STEPS:-"storm kill"}
WORK=$(mktemp -d /tmp/confab-faults.XXXXXX)
source "$ROOT/bench/lib.sh"

trap stop_current_server EXIT
prepare

for step in $STEPS; do
    case $step in
    storm)
        port=4150
        start_confab storm $port "$SERVER_CORE"
        load storm-setup --target confab --urls "$URL" --connections "$STORM_CONNS" --accounts "$WORK/accounts.json" --setup-only
        stop_server "$PID"
        RUN=storm-before start_confab storm $port "$SERVER_CORE"
        log "confab-load --storm with $STORM_CONNS connections"
        taskset -c "$LOAD_CORE" "$LOAD_BIN" --json --storm --storm-timeout "$STORM_TIMEOUT" --target confab \
            --urls "$URL" --connections "$STORM_CONNS" --accounts "$WORK/accounts.json" \
            >"$WORK/storm.json" 2>"$WORK/storm.err" &
        LOAD_PID=$!
        until grep -q '^storm: ready' "$WORK/storm.err"; do
            kill -0 "$LOAD_PID" 2>/dev/null || { log "the generator ended early:"; tail "$WORK/storm.err" >&2; exit 1; }
            sleep 0.5
        done
        log "$(grep '^storm: ready' "$WORK/storm.err"); server RSS $(awk '/VmRSS/ {print $2}' /proc/$PID/status) KiB; SIGKILL"
        kill -KILL "$PID"; wait "$PID" 2>/dev/null || true
        sleep 2
        RUN=storm-after start_confab storm $port "$SERVER_CORE"
        storm_status=0
        wait "$LOAD_PID" || storm_status=$?
        log "server RSS after the storm: $(awk '/VmRSS/ {print $2}' /proc/$PID/status) KiB; errors in its log: $(grep -c ERROR "$WORK/storm-after.log" || true)"
        grep '^storm:' "$WORK/storm.err" | sed 's/^/    /' >&2
        stop_server "$PID"; PID=
        [ "$storm_status" = 0 ] || { log "storm FAILED"; exit 1; }
        ;;
    kill)
        log "SIGKILL under load: $KILL_SENDERS senders, kill after $KILL_AFTER acknowledged messages (release server)"
        (cd "$ROOT" && CONFAB_SERVER_BIN="$SERVER_BIN" CONFAB_KILL_SENDERS=$KILL_SENDERS \
            CONFAB_KILL_PER_SENDER=$KILL_PER_SENDER CONFAB_KILL_AFTER=$KILL_AFTER \
            cargo test --release -p confab-server --test server -- --exact \
            faults::sigkill_under_load_loses_no_acknowledged_message_and_stores_none_twice --nocapture) 2>&1 |
            grep -E 'killed at|test result|panicked|FAILED' | sed 's/^/    /' >&2
        ;;
    *) log "unknown step $step"; exit 1 ;;
    esac
done
log "results and server logs: $WORK"
