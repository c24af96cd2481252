#!/usr/bin/env bash
# One Confab node against two nodes sharing PostgreSQL and Redis: message rate, delivery latency and
# memory per connection per node. Each configuration gets a fresh PostgreSQL database (dropped after)
# and, with Redis, a unique --redis-prefix. Connections go round-robin over the nodes, so with two
# nodes the two members of every conversation are on different nodes: every message crosses Redis.
#
#   bench/run-nodes.sh                 # 2000 connections, 1k and 5k msg/s, then the rate search
#   QUICK=1 bench/run-nodes.sh         # 200 connections, 200 and 500 msg/s, no search
#
# Configurations (CONFIGS, default "one one-redis two"):
#   one        1 node, PostgreSQL, no Redis
#   one-redis  1 node, PostgreSQL, Redis adapter on (the cost of the adapter alone)
#   two        2 nodes, PostgreSQL, Redis
# This machine has 2 cores: by default both nodes share core 0 (NODE_CORES="0 0"), i.e. the same CPU
# budget as one node, and the generator has core 1; PostgreSQL and Redis are not pinned. So this
# measures what clustering costs, not what a second machine would add.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVER_CORE=0
LOAD_CORE=${LOAD_CORE:-1}
read -r CORE_A CORE_B <<<"${NODE_CORES:-0 0}"
if [ -n "${QUICK:-}" ]; then
    CONNS=${CONNS:-200}; RATES=${RATES:-"200,500"}; SEARCH=${SEARCH:-0}; DURATION=${DURATION:-5s}; WARMUP=${WARMUP:-2s}
fi
CONNS=${CONNS:-2000}
RATES=${RATES:-"1000,5000"}
SEARCH=${SEARCH:-1}
SEARCH_START=${SEARCH_START:-1000}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONFIGS=${CONFIGS:-"one one-redis two"}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${REDIS_URL:-"redis://127.0.0.1:6379/?protocol=resp3"}
WORK=$(mktemp -d /tmp/confab-nodes.XXXXXX)
source "$ROOT/bench/lib.sh"

PIDS=()
DB=
cleanup() {
    for p in "${PIDS[@]}"; do stop_server "$p"; done
    [ -n "$DB" ] && psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
    return 0
}
trap cleanup EXIT
prepare
search_args=()
[ "$SEARCH" = 1 ] && search_args=(--search --search-start "$SEARCH_START")

# start_nodes CONFIG → sets PIDS and URLS.
start_nodes() {
    local config=$1 redis=()
    [ "$config" != one ] && redis=(--redis-url "$REDIS_URL" --redis-prefix "bench-$$-$config")
    PIDS=(); URLS=""
    RUN="$config-$phase-a" start_confab "$config-a" 4200 "$CORE_A" --database-url "$PG_BASE/$DB" "${redis[@]}"
    PIDS+=("$PID"); URLS=$URL
    if [ "$config" = two ]; then
        RUN="$config-$phase-b" start_confab "$config-b" 4201 "$CORE_B" --database-url "$PG_BASE/$DB" "${redis[@]}"
        PIDS+=("$PID"); URLS="$URLS,$URL"
    fi
}
stop_nodes() { for p in "${PIDS[@]}"; do stop_server "$p"; done; PIDS=(); }

for config in $CONFIGS; do
    DB="confab_bench_$(date +%s)_$$_${config//-/_}"
    psql "$PG_BASE/postgres" -qc "CREATE DATABASE $DB" >/dev/null
    log "$config: database $DB"
    phase=setup start_nodes "$config"
    load "$config-setup" --target confab --urls "${URLS%%,*}" --connections "$CONNS" --accounts "$WORK/$config-accounts.json" --setup-only
    # Fresh processes for the measurement: the RSS baseline must not hold registration's Argon2 memory.
    stop_nodes
    phase=measure start_nodes "$config"
    pid_list=$(IFS=,; echo "${PIDS[*]}")
    load "$config" --target confab --urls "$URLS" --server-pid "$pid_list" --connections "$CONNS" \
        --accounts "$WORK/$config-accounts.json" --rate "$RATES" --duration "$DURATION" --warmup "$WARMUP" "${search_args[@]}"
    stop_nodes
    psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null
    DB=
done

value() { local f="$WORK/$1.json"; [ -s "$f" ] && jq -r "$2" "$f" 2>/dev/null || echo "-"; }
{
    echo
    echo "Confab: one node vs two (PostgreSQL + Redis) — $(date -u +%Y-%m-%d) — nodes on cores $CORE_A/$CORE_B, generator on core $LOAD_CORE, $CONNS connections in pairs"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '| %-46s |' "measurement"; for c in $CONFIGS; do printf ' %-30s |' "$c"; done; echo
    printf '|%s|' "$(printf -- '-%.0s' $(seq 48))"; for c in $CONFIGS; do printf '%s|' "$(printf -- '-%.0s' $(seq 32))"; done; echo
    printf '| %-46s |' "memory per idle connection, per node"
    for c in $CONFIGS; do printf ' %-30s |' "$(value "$c" '[.servers[] | (.mem_per_conn_bytes / 1024 * 10 | round / 10 | tostring) + " KiB"] | join(", ")')"; done; echo
    i=0
    for r in ${RATES//,/ }; do
        printf '| %-46s |' "delivery p50 / p99 at $r msg/s"
        for c in $CONFIGS; do printf ' %-30s |' "$(value "$c" ".steps[$i] | \"\(.delivery_ms.p50) / \(.delivery_ms.p99) ms (\(.delivery_ratio * 10000 | round / 100)%)\"")"; done; echo
        printf '| %-46s |' "server CPU per delivered message at $r msg/s"
        for c in $CONFIGS; do printf ' %-30s |' "$(value "$c" ".steps[$i].server_cpu_us_per_delivery | if . == null then \"-\" else (. * 10 | round / 10 | tostring) + \" µs (all nodes)\" end")"; done; echo
        i=$((i + 1))
    done
    if [ "$SEARCH" = 1 ]; then
        printf '| %-46s |' "highest rate, ≥99.9% delivered and p99 ≤ 50 ms"
        for c in $CONFIGS; do printf ' %-30s |' "$(value "$c" '(if .max_passing_rate == null then "none" else (.max_passing_rate | tostring) + " msg/s" end) + (if .search_limited_by_generator then " (generator saturated at " else " (fails at " end) + (.min_failing_rate | tostring) + ")"')"; done; echo
    fi
} | tee "$WORK/table.md"
log "raw results and server logs: $WORK"
