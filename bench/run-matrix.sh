#!/usr/bin/env bash
# The benchmark matrix: Confab (one node, embedded SQLite) against the seed's reference server
# (bench/reference, Node + socket.io 4), each pinned to core $SERVER_CORE, the load generator on
# core $LOAD_CORE. Every measurement starts a fresh server process.
#
#   bench/run-matrix.sh                      # the full matrix (≈ 20–30 min, most of it creating 10k accounts)
#   QUICK=1 bench/run-matrix.sh              # small scale: 200/1000 idle, 200 connections, 200–1000 msg/s
#
# Knobs (environment): IDLE_CONNS ("1000 10000"), RATE_CONNS (2000), RATES ("1000,5000,20000"),
# DURATION (10s), WARMUP (3s), SEARCH (1), TARGETS ("confab reference"), SERVER_CORE (0), LOAD_CORE (1),
# SERVER_BIN and NO_BUILD=1 (measure another build of confab-server, e.g. before and after a change),
# Results: one JSON file per run in the work directory (/tmp/confab-bench.*, kept), and the table.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
if [ -n "${QUICK:-}" ]; then
    IDLE_CONNS=${IDLE_CONNS:-"200 1000"}; RATE_CONNS=${RATE_CONNS:-200}; RATES=${RATES:-"200,500,1000"}
    DURATION=${DURATION:-5s}; WARMUP=${WARMUP:-2s}; SEARCH_START=${SEARCH_START:-500}
fi
IDLE_CONNS=${IDLE_CONNS:-"1000 10000"}
RATE_CONNS=${RATE_CONNS:-2000}
RATES=${RATES:-"1000,5000,20000"}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
SEARCH=${SEARCH:-1}
SEARCH_START=${SEARCH_START:-1000}
TARGETS=${TARGETS:-"confab reference"}
WORK=$(mktemp -d /tmp/confab-bench.XXXXXX)
source "$ROOT/bench/lib.sh"

trap stop_current_server EXIT
prepare

max_conns=$RATE_CONNS
for c in $IDLE_CONNS; do [ "$c" -gt "$max_conns" ] && max_conns=$c; done
search_args=()
[ "$SEARCH" = 1 ] && search_args=(--search --search-start "$SEARCH_START")
step_args=(--duration "$DURATION" --warmup "$WARMUP")

for target in $TARGETS; do
    port=4100
    if [ "$target" = confab ]; then
        # Accounts once (Argon2 on the server takes tens of ms per registration), then a fresh process
        # per measurement so that the RSS baseline does not hold the hashing's memory.
        RUN=confab-setup start_confab confab $port "$SERVER_CORE"
        load setup --target confab --urls "$URL" --connections "$max_conns" --accounts "$WORK/accounts.json" --setup-only
        stop_server "$PID"
    fi
    for c in $IDLE_CONNS; do
        export RUN="$target-idle-$c"
        if [ "$target" = confab ]; then start_confab confab $port "$SERVER_CORE"; else start_reference reference $port "$SERVER_CORE"; fi
        # The seed broadcasts userOnline to every client on each connect: connecting N clients costs it
        # O(N²) sends (4000 took 74 s on one core), hence the long connect timeout.
        load "$target-idle-$c" --target "$target" --urls "$URL" --connections "$c" --server-pid "$PID" --connect-timeout 900s \
            $( [ "$target" = confab ] && echo --accounts "$WORK/accounts.json" )
        unset RUN
        stop_server "$PID"
    done
    export RUN="$target-rate"
    if [ "$target" = confab ]; then start_confab confab $port "$SERVER_CORE"; else start_reference reference $port "$SERVER_CORE"; fi
    unset RUN
    load "$target-rate" --target "$target" --urls "$URL" --connections "$RATE_CONNS" --server-pid "$PID" \
        --rate "$RATES" "${step_args[@]}" "${search_args[@]}" \
        $( [ "$target" = confab ] && echo --accounts "$WORK/accounts.json" )
    stop_server "$PID"
    PID=
done

# The table: one column per target.
value() { # value TARGET FILE JQ-EXPR
    local f="$WORK/$1-$2.json"
    [ -s "$f" ] && jq -r "$3" "$f" 2>/dev/null || echo "-"
}
fmt_step() { # fmt_step TARGET INDEX
    value "$1" rate ".steps[$2] | if . == null then \"-\" else \"\(.delivery_ms.p50) / \(.delivery_ms.p99) ms (\(.delivery_ratio * 100 | . * 100 | round / 100)%)\" end"
}
cpu_step() {
    value "$1" rate ".steps[$2] | if . == null or .server_cpu_us_per_delivery == null then \"-\" else \"\(.server_cpu_us_per_delivery | . * 10 | round / 10) µs\" end"
}
{
    echo
    echo "Confab vs the seed's reference server — $(date -u +%Y-%m-%d) — server on core $SERVER_CORE, generator on core $LOAD_CORE"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '| %-52s |' "measurement"; for t in $TARGETS; do printf ' %-30s |' "$t"; done; echo
    printf '|%s|' "$(printf -- '-%.0s' $(seq 54))"; for t in $TARGETS; do printf '%s|' "$(printf -- '-%.0s' $(seq 32))"; done; echo
    for c in $IDLE_CONNS; do
        printf '| %-52s |' "memory per idle connection, $c connections"
        for t in $TARGETS; do printf ' %-30s |' "$(value "$t" "idle-$c" '(.mem_per_conn_bytes / 1024 * 10 | round / 10 | tostring) + " KiB"')"; done; echo
        printf '| %-52s |' "time to connect $c"
        for t in $TARGETS; do printf ' %-30s |' "$(value "$t" "idle-$c" '(.connect_s * 10 | round / 10 | tostring) + " s"')"; done; echo
    done
    i=0
    for r in ${RATES//,/ }; do
        printf '| %-52s |' "delivery p50 / p99 at $r msg/s ($RATE_CONNS conns, pairs)"
        for t in $TARGETS; do printf ' %-30s |' "$(fmt_step "$t" $i)"; done; echo
        printf '| %-52s |' "server CPU per delivered message at $r msg/s"
        for t in $TARGETS; do printf ' %-30s |' "$(cpu_step "$t" $i)"; done; echo
        i=$((i + 1))
    done
    if [ "$SEARCH" = 1 ]; then
        printf '| %-52s |' "highest rate with ≥99.9% delivered and p99 ≤ 50 ms"
        for t in $TARGETS; do printf ' %-30s |' "$(value "$t" rate '(if .max_passing_rate == null then "none" else (.max_passing_rate | tostring) + " msg/s" end) + (if .search_limited_by_generator then " (generator saturated at " else " (fails at " end) + (.min_failing_rate | tostring) + ")"')"; done; echo
    fi
} | tee "$WORK/table.md"
log "raw results and server logs: $WORK"
