#!/usr/bin/env bash
# Side-by-side benchmark of meshkv against Redis 7 on loopback (issue 8); `make bench-redis`.
#
# Runs, one after the other, each on fresh servers and data:
#   1. Redis primary + one replica (`replicaof`), no persistence (--save '' --appendonly no)
#   2. the same with --appendonly yes --appendfsync everysec (on both)
#   3. meshkv over RESP: two `meshkv serve` peers (each pulls from the other), durability
#      buffered, plaintext replication on loopback (no cluster key), `resp_listen`
#   4. meshkv embedded: `Db::put` on an in-process node A, replicated to an in-process node B
# with the load generator and probes of benches/redis_side_by_side.rs (the same client code for
# Redis and meshkv over RESP; only the ports differ), then prints one table with the
# meshkv/Redis ratios, the machine and the load average before and after.
#
# Options (or environment variables):
#   --keys N           MESHKV_BENCH_KEYS         keys of the throughput phase [1000000]
#   --lag-seconds N    MESHKV_BENCH_LAG_SECONDS  length of the fixed-rate lag phase [10]
#   --rate N           MESHKV_BENCH_RATE         writes/s of the lag phase [10000]
#   --only LIST        MESHKV_BENCH_ONLY         comma-separated subset of
#                                                redis,redis-aof,meshkv-resp,embedded [all]
#   --rounds N         MESHKV_BENCH_ROUNDS       run the scenarios in turn N times; the
#                                                table shows medians [1]
#   MESHKV_BIN=PATH    a prebuilt `meshkv` binary for the RESP scenario [built here, release]
# Installs redis-server and redis-tools with apt-get when missing (as root, or with sudo), and
# stops the system service the package may start: this script starts its own servers on free
# loopback ports, in a temporary directory, and kills them on exit.
set -euo pipefail

KEYS=${MESHKV_BENCH_KEYS:-1000000}
LAG_SECONDS=${MESHKV_BENCH_LAG_SECONDS:-10}
RATE=${MESHKV_BENCH_RATE:-10000}
ONLY=${MESHKV_BENCH_ONLY:-redis,redis-aof,meshkv-resp,embedded}
ROUNDS=${MESHKV_BENCH_ROUNDS:-1}
while [ $# -gt 0 ]; do
    case "$1" in
        --keys) KEYS=$2; shift 2 ;;
        --lag-seconds) LAG_SECONDS=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
wanted() { [[ ",$ONLY," == *",$1,"* ]]; }

cd "$(dirname "$0")/.."
log() { echo "== $*" >&2; }

# --- Redis packages -------------------------------------------------------------------------
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    log "installing redis-server and redis-tools"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server redis-tools \
        || { $SUDO apt-get update && $SUDO env DEBIAN_FRONTEND=noninteractive \
             apt-get install -y redis-server redis-tools; }
    # The package may start (and enable) its own service on port 6379; we start ours.
    if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
        $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
    else
        $SUDO service redis-server stop >/dev/null 2>&1 || true
    fi
fi
REDIS_VERSION=$(redis-server --version)
case "$REDIS_VERSION" in
    *v=7.*) ;;
    *) echo "warning: the issue asks for Redis 7; found: $REDIS_VERSION" >&2 ;;
esac

# --- Builds ---------------------------------------------------------------------------------
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
log "building (release): the meshkv binary and the load generator"
if [ -z "${MESHKV_BIN:-}" ]; then
    cargo build --release --quiet --bin meshkv
fi
BUILD_LOG=$(mktemp -t meshkv-redis-bench-build.XXXXXX)
if ! cargo bench --bench redis_side_by_side --no-run > "$BUILD_LOG" 2>&1; then
    cat "$BUILD_LOG" >&2
    rm -f "$BUILD_LOG"
    exit 1
fi
BENCH=$(sed -n 's/.*Executable .*(\(.*\))$/\1/p' "$BUILD_LOG" | tail -1)
rm -f "$BUILD_LOG"
# Cargo prints the path relative to here when the target folder is inside the clone; the load
# generator runs from the work folder, so make it absolute.
case "$BENCH" in /*) ;; *) BENCH="$PWD/$BENCH" ;; esac
MESHKV=${MESHKV_BIN:-$TARGET/release/meshkv}
[ -x "$BENCH" ] || { echo "could not find the redis_side_by_side executable" >&2; exit 1; }
[ -x "$MESHKV" ] || { echo "could not find $MESHKV" >&2; exit 1; }

# --- Processes and clean-up -----------------------------------------------------------------
WORK=$(mktemp -d -t meshkv-redis-bench.XXXXXX)
RESULTS=$WORK/results.tsv
: > "$RESULTS"
PIDS=()
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
BENCH_PID=""
cleanup() {
    if [ -n "$BENCH_PID" ]; then kill "$BENCH_PID" 2>/dev/null || true; fi
    stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$BENCH" free-port; }

wait_ping() { # port what
    for _ in $(seq 1 600); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; then return 0; fi
        sleep 0.1
    done
    echo "$2 on port $1 did not answer PING" >&2
    return 1
}

COMMON=(--keys "$KEYS" --lag-seconds "$LAG_SECONDS" --rate "$RATE")

# Runs the load generator in the background and waits for it (so that a signal reaches the
# traps at once), then keeps its RESULT line.
run_bench() { # load-generator arguments...
    (cd "$WORK" && exec "$BENCH" "$@") > "$WORK/last.out" &
    BENCH_PID=$!
    wait "$BENCH_PID"
    BENCH_PID=""
    cat "$WORK/last.out"
    cat "$WORK/last.out" >> "$RESULTS"
}

run_resp() { # label primary-port replica-port
    run_bench resp --label "$1" --primary "127.0.0.1:$2" --replica "127.0.0.1:$3" "${COMMON[@]}"
}

start_redis() { # dir port persistence-args... ; sets PID
    local dir=$1 port=$2
    shift 2
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' \
        --logfile "$dir/redis.log" --daemonize no "$@" &
    PID=$!
    PIDS+=("$PID")
    wait_ping "$port" "redis-server"
}

redis_scenario() { # label persistence-args...
    local label=$1 p r
    shift
    p=$(free_port)
    r=$(free_port)
    log "$label: primary :$p, replica :$r"
    start_redis "$WORK/redis-primary" "$p" "$@"
    start_redis "$WORK/redis-replica" "$r" "$@" --replicaof 127.0.0.1 "$p"
    for _ in $(seq 1 600); do
        redis-cli -p "$r" info replication | grep -q 'master_link_status:up' && break
        sleep 0.1
    done
    run_resp "$label" "$p" "$r"
    stop_all
    rm -rf "$WORK/redis-primary" "$WORK/redis-replica"
}

meshkv_node() { # name replication-port peer-replication-port resp-port
    local dir=$WORK/$1
    mkdir -p "$dir"
    cat > "$dir/meshkv.toml" <<EOF
data_dir = "$dir/data"
http_listen = "127.0.0.1:0"
listen = "127.0.0.1:$2"
peers = ["127.0.0.1:$3"]
cluster = "redis-bench"
durability = "buffered"
initial_sync_timeout = "1ms"
resp_listen = "127.0.0.1:$4"
EOF
    # No MESHKV_* variable of ours reaches the server (they would override the file).
    local unset=() v
    for v in $(compgen -e | grep '^MESHKV_' || true); do unset+=(-u "$v"); done
    env "${unset[@]}" RUST_LOG=warn "$MESHKV" serve --config "$dir/meshkv.toml" \
        > "$dir/stdout" 2> "$dir/stderr" &
    PIDS+=("$!")
    for _ in $(seq 1 600); do
        grep -q '^listening ' "$dir/stdout" 2>/dev/null && break
        if ! kill -0 "${PIDS[-1]}" 2>/dev/null; then
            echo "meshkv serve ($1) exited:" >&2
            cat "$dir/stderr" >&2
            return 1
        fi
        sleep 0.1
    done
    wait_ping "$4" "meshkv serve ($1) RESP"
}

meshkv_resp_scenario() {
    local label="meshkv RESP (buffered)"
    if ! "$MESHKV" serve --help 2>/dev/null | grep -q -- '--resp-listen'; then
        log "$label: skipped: this meshkv build has no RESP front-end (resp_listen)"
        return 0
    fi
    local rep1 rep2 resp1 resp2
    rep1=$(free_port); rep2=$(free_port); resp1=$(free_port); resp2=$(free_port)
    log "$label: node 1 RESP :$resp1 (written), node 2 RESP :$resp2 (read)"
    meshkv_node node1 "$rep1" "$rep2" "$resp1"
    meshkv_node node2 "$rep2" "$rep1" "$resp2"
    run_resp "$label" "$resp1" "$resp2"
    stop_all
    rm -rf "$WORK/node1" "$WORK/node2"
}

embedded_scenario() {
    local label="meshkv embedded (Db::put, buffered)"
    log "$label: two in-process nodes"
    run_bench embedded --label "$label" "${COMMON[@]}"
}

# --- The run --------------------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u '+%Y-%m-%d %H:%M UTC')
for round in $(seq 1 "$ROUNDS"); do
    if [ "$ROUNDS" -gt 1 ]; then log "round $round of $ROUNDS"; fi
    if wanted redis; then redis_scenario "Redis (no persistence)" --appendonly no; fi
    if wanted redis-aof; then
        redis_scenario "Redis (AOF everysec)" --appendonly yes --appendfsync everysec
    fi
    if wanted meshkv-resp; then meshkv_resp_scenario; fi
    if wanted embedded; then embedded_scenario; fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "meshkv vs Redis, $KEYS keys x 100-byte values, 4 clients x pipeline 16; lag at $RATE writes/s for $LAG_SECONDS s; $ROUNDS round(s)"
echo "started $START; load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
MESHKV_VERSION="meshkv $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if [ -n "${MESHKV_BIN:-}" ]; then MESHKV_VERSION="$MESHKV_VERSION (RESP: $MESHKV_BIN)"; fi
echo "versions: $REDIS_VERSION; $MESHKV_VERSION; $(rustc --version)"
echo
"$BENCH" table "$RESULTS"
