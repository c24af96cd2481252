# Helpers shared by run-matrix.sh and run-nodes.sh (sourced, not run).
# Expects ROOT, WORK, SERVER_CORE, LOAD_CORE; defines SERVER_BIN, LOAD_BIN.

: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR
# SERVER_BIN may name another build, to compare two versions (with NO_BUILD=1).
SERVER_BIN="${SERVER_BIN:-$CARGO_TARGET_DIR/release/confab-server}"
LOAD_BIN="$CARGO_TARGET_DIR/release/confab-load"
# Rate limits raised far above any benchmark rate rather than switched off, so the limiter's own cost
# (one bucket check per message) stays in the measurement.
BENCH_RATE_LIMITS="messages=10000000:10000000,register=10000000:10000000,login=10000000:10000000,login_ip=10000000:10000000,signaling=10000000:10000000"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

build() {
    [ -n "${NO_BUILD:-}" ] && { log "NO_BUILD: using $SERVER_BIN as it is"; return 0; }
    log "building release binaries (confab-server, confab-load)"
    (cd "$ROOT" && cargo build --release -p confab-server -p confab-bench) >&2
    if [ ! -d "$ROOT/bench/reference/node_modules" ]; then
        log "installing the reference server's packages"
        (cd "$ROOT/bench/reference" && npm ci --no-audit --no-fund) >&2
    fi
}

# Both this shell and the servers it starts need descriptors for every connection; the hard limit is
# the ceiling (about 20,000 here; only a process with CAP_SYS_RESOURCE could go past it).
raise_nofile() {
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    log "open-file limit: $(ulimit -n) (hard $(ulimit -Hn))"
}

# wait_listening OUTFILE PID → prints the URL from the server's "listening on http://…" line.
wait_listening() {
    local out=$1 pid=$2 url=""
    for _ in $(seq 1 300); do
        url=$(grep -o 'http://[0-9.:]*' "$out" 2>/dev/null | head -1 || true)
        [ -n "$url" ] && { echo "$url"; return 0; }
        kill -0 "$pid" 2>/dev/null || { log "server $pid exited:"; cat "${out%.out}.log" >&2; return 1; }
        sleep 0.1
    done
    log "server $pid did not start"; return 1
}

# start_confab NAME PORT CORE [extra server args…] → sets PID and URL. SQLite in $WORK/NAME unless
# --database-url is passed. Output and log go to $WORK/$RUN.out/.log ($RUN defaults to NAME).
start_confab() {
    local name=$1 port=$2 core=$3; shift 3
    local run=${RUN:-$name}
    mkdir -p "$WORK/$name"
    CONFAB_RATE_LIMITS="$BENCH_RATE_LIMITS" RUST_LOG="${RUST_LOG:-warn}" \
        taskset -c "$core" "$SERVER_BIN" --listen "127.0.0.1:$port" --data-dir "$WORK/$name" "$@" \
        >"$WORK/$run.out" 2>"$WORK/$run.log" &
    PID=$!
    URL=$(wait_listening "$WORK/$run.out" "$PID")
    log "confab $name: pid $PID at $URL on core $core (open files $(grep 'open files' /proc/$PID/limits | awk '{print $4}'))"
}

# start_reference NAME PORT CORE → sets PID and URL.
start_reference() {
    local name=$1 port=$2 core=$3
    local run=${RUN:-$name}
    PORT=$port HOST=127.0.0.1 taskset -c "$core" node "$ROOT/bench/reference/src/index.js" \
        >"$WORK/$run.out" 2>"$WORK/$run.log" &
    PID=$!
    URL=$(wait_listening "$WORK/$run.out" "$PID")
    log "reference $name: pid $PID at $URL on core $core"
}

# The exit trap of scripts that run one server at a time: stops the last one started ($PID).
stop_current_server() {
    [ -n "${PID:-}" ] && stop_server "$PID"
    return 0
}

# The start of every script: release binaries, the open-file limit, where the results go.
prepare() {
    build
    raise_nofile
    log "work directory $WORK; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}

stop_server() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# load OUTNAME [confab-load args…]: runs the generator on $LOAD_CORE, JSON to $WORK/OUTNAME.json.
load() {
    local name=$1; shift
    log "confab-load $*"
    taskset -c "$LOAD_CORE" "$LOAD_BIN" --json "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" || {
        log "confab-load failed:"; tail -20 "$WORK/$name.err" >&2; return 1; }
    grep -v '^\(connecting\|connected\|accounts\|step\)' "$WORK/$name.err" | sed 's/^/    /' >&2 || true
}
