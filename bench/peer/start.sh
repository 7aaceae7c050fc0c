#!/usr/bin/env bash
# Starts the comparison peer: one Redis and two Node server processes (two
# ports sharing Redis: sessions, data, Socket.IO rooms). Waits until both
# answer /healthz, then prints their ports and PIDs.
#
#   bench/peer/start.sh [start] [--appendfsync-always]
#   bench/peer/start.sh stop
#
# --appendfsync-always turns on Redis's append-only file with an fsync
# before every write is acknowledged (the durability-matched run); without
# it Redis keeps nothing on disk (--save '' --appendonly no).
#
# Env: REDIS_PORT (default 6390), PORT_A (3001), PORT_B (3002),
# SESSION_SECRET (random per start if unset), HEALTH_TIMEOUT (seconds, 60),
# PIN (a `taskset -c` CPU list for Redis and both servers; unset: no pinning).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
run="$here/.run"
REDIS_PORT="${REDIS_PORT:-6390}"
PORT_A="${PORT_A:-3001}"
PORT_B="${PORT_B:-3002}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-60}"
pin=()
if [[ -n "${PIN:-}" ]]; then
    pin=(taskset -c "$PIN")
fi

# Stops the process whose PID is in pid file $1: SIGTERM, up to 5 s, then SIGKILL.
stop_one() {
    local file="$1" pid
    [[ -f "$file" ]] || return 0
    pid="$(cat "$file")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        echo "stopped $(basename "$file" .pid) (pid $pid)"
    fi
    rm -f "$file"
}

stop_all() {
    stop_one "$run/server-a.pid"
    stop_one "$run/server-b.pid"
    stop_one "$run/redis.pid"
}

cmd="start"
fsync="no"
for arg in "$@"; do
    case "$arg" in
        start|stop) cmd="$arg" ;;
        --appendfsync-always) fsync="yes" ;;
        *) echo "usage: $0 [start [--appendfsync-always] | stop]" >&2; exit 2 ;;
    esac
done

if [[ "$cmd" == "stop" ]]; then
    stop_all
    exit 0
fi

for f in "$run"/*.pid; do
    if [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null; then
        echo "already running ($f); run $0 stop first" >&2
        exit 1
    fi
done
# Refuses ports that something already listens on.
for port in "$REDIS_PORT" "$PORT_A" "$PORT_B"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is already in use" >&2
        exit 1
    fi
done
command -v redis-server >/dev/null || { echo "redis-server not found (apt-get install redis-server)" >&2; exit 1; }
command -v node >/dev/null || { echo "node not found" >&2; exit 1; }
if [[ ! -d "$here/node_modules" ]]; then
    (cd "$here" && npm ci --no-audit --no-fund)
fi
mkdir -p "$run"
rm -rf "$run/redis-data"
mkdir -p "$run/redis-data"

redis_args=(--port "$REDIS_PORT" --bind 127.0.0.1 --save '' --dir "$run/redis-data")
if [[ "$fsync" == "yes" ]]; then
    redis_args+=(--appendonly yes --appendfsync always)
else
    redis_args+=(--appendonly no)
fi
nohup "${pin[@]}" redis-server "${redis_args[@]}" >"$run/redis.log" 2>&1 &
echo $! >"$run/redis.pid"

# Any failure from here on stops what was started.
trap 'echo "start failed; logs in $run" >&2; stop_all' ERR

for _ in $(seq $((HEALTH_TIMEOUT * 10))); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$REDIS_PORT" ping >/dev/null

export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export SESSION_SECRET="${SESSION_SECRET:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export NODE_ENV=production
for name in a b; do
    port="$PORT_A"
    [[ "$name" == "b" ]] && port="$PORT_B"
    PORT="$port" nohup "${pin[@]}" node "$here/server.js" >"$run/server-$name.log" 2>&1 &
    echo $! >"$run/server-$name.pid"
done

# Healthy: /healthz answers ok with the PID we started (not another process).
healthy() {
    curl -fsS "http://127.0.0.1:$1/healthz" 2>/dev/null | grep -q "\"pid\":$(cat "$run/server-$2.pid")[,}]"
}
ok="no"
for _ in $(seq $((HEALTH_TIMEOUT * 10))); do
    if healthy "$PORT_A" a && healthy "$PORT_B" b; then ok="yes"; break; fi
    for name in a b; do
        kill -0 "$(cat "$run/server-$name.pid")" 2>/dev/null || { cat "$run/server-$name.log" >&2; false; }
    done
    sleep 0.1
done
[[ "$ok" == "yes" ]] || { echo "servers not healthy after ${HEALTH_TIMEOUT}s" >&2; false; }
trap - ERR

durability="none (--save '' --appendonly no)"
[[ "$fsync" == "yes" ]] && durability="appendonly, appendfsync always"
echo "redis     127.0.0.1:$REDIS_PORT  pid $(cat "$run/redis.pid")  durability: $durability"
echo "server a  http://127.0.0.1:$PORT_A  pid $(cat "$run/server-a.pid")"
echo "server b  http://127.0.0.1:$PORT_B  pid $(cat "$run/server-b.pid")"
echo "stop with: $0 stop   (logs in $run)"
