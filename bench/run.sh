#!/usr/bin/env bash
# kith side by side with the stack it replaces (bench/peer: Express,
# express-session + connect-redis, Socket.IO + redis adapter on two Node
# processes, BullMQ, Redis), on this machine, in one run.
#
#   bench/run.sh            five runs per figure (about 10 minutes once built)
#   bench/run.sh --quick    three shorter runs (about 5 minutes once built)
#   bench/run.sh --kith-only [kith-bench options]
#                           kith's own benchmarks (writer, HTTP, realtime,
#                           jobs, cluster), no peer
#   bench/run.sh --soak [--soak-seconds S] [--soak-users N] [--soak-warmup S]
#                           the soak: 2,000 users connected for 10 minutes
#                           under a mixed load (about 15 minutes once built);
#                           ends with a SOAK line, exits non-zero on errors
#   bench/run.sh --capacity [--capacity-users N] [--capacity-seconds S]
#                [--capacity-step-seconds S] [--capacity-max N]
#                [--capacity-ws-max N]
#                           capacity: 10,000 users connected for 5 minutes
#                           at human rates, then 10,000 more at a time for
#                           60 s each until API p99 passes 100 ms or an error
#                           (setting users up is most of the time: tens of
#                           minutes for 50,000); users past what the
#                           open-file limit allows over WebSocket connect
#                           over WebTransport; a table per step, ends with
#                           a CAPACITY line
#   bench/run.sh --chaos    the chaos soak: three nodes in network namespaces
#                           for 30 minutes under load, a random node killed
#                           or paused every 2 minutes, then the fault
#                           scenarios' history checks (tests/cluster/chaos.rs;
#                           needs root for the namespaces). CHAOS_SECS,
#                           CHAOS_EVERY_SECS and CHAOS_SEED change it. Ends
#                           with CHAOS lines, exits non-zero when a check fails
#
# Builds kith and the load generator in release mode, installs what the peer
# needs when missing (redis-server from apt, node and npm from apt, the
# peer's locked packages with npm ci), pins the load generator to CPU 0 and
# every server to the other CPUs with taskset, prints the machine, the
# versions, a table of medians, and last a line of this form:
#   SUMMARY http_rps_ratio=R http_p99_ratio=R ws_msgs_ratio=R ws_mem_ratio=R jobs_ratio=R
# Extra arguments go to kith-bench (--runs N, --seconds S, --idle N, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="compare"
args=()
for a in "$@"; do
    case "$a" in
        --quick) mode="quick" ;;
        --kith-only) mode="kith" ;;
        --soak) mode="soak" ;;
        --capacity) mode="capacity" ;;
        --chaos) mode="chaos" ;;
        *) args+=("$a") ;;
    esac
done

if [[ "$mode" == "chaos" ]]; then
    # The scenarios' own harness and history checks, at length; the same
    # build as the tests.
    command -v ip >/dev/null || { echo "the chaos soak needs ip (iproute2)" >&2; exit 1; }
    exec cargo test --test cluster chaos::chaos_soak -- --ignored --exact --nocapture "${args[@]}"
fi

need_apt=()
if [[ "$mode" == "compare" || "$mode" == "quick" ]]; then
    command -v redis-server >/dev/null || need_apt+=(redis-server)
    command -v node >/dev/null || need_apt+=(nodejs)
    command -v npm >/dev/null || need_apt+=(npm)
fi
command -v taskset >/dev/null || need_apt+=(util-linux)
# --only wrk measures with wrk, a load generator nobody here wrote (Debian's).
wrk=false
[[ " ${args[*]} " != *" wrk "* ]] || wrk=true
! $wrk || command -v wrk >/dev/null || need_apt+=(wrk)
[[ "$mode" == "soak" || "$mode" == "capacity" ]] || command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
if ((${#need_apt[@]})); then
    sudo=()
    [[ "$(id -u)" == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [[ ( "$mode" == "compare" || "$mode" == "quick" ) && ! -d bench/peer/node_modules ]]; then
    (cd bench/peer && npm ci --no-audit --no-fund)
fi

cargo build --release -p kith -p kith-bench --bins

# The load generator on CPU 0, the servers on the rest (when there is a rest).
cpus="$(nproc --all)"
pin=()
server_cpus=()
if ((cpus >= 2)) && command -v taskset >/dev/null; then
    pin=(taskset -c 0)
    last=$((cpus - 1))
    server_cpus=(--server-cpus "$([[ $last == 1 ]] && echo 1 || echo "1-$last")")
fi

if [[ "$mode" == "capacity" ]]; then
    # A WebSocket is a descriptor on each side, and the server and the
    # load generator each hold one per such user (100,000 at
    # --capacity-max's default): ask for the kernel's most, else as many
    # as allowed; the users past that connect over WebTransport.
    ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi

# Where cargo put them (CARGO_TARGET_DIR, when set, moves target/).
release="${CARGO_TARGET_DIR:-target}/release"
bench=("$release/kith-bench" --kith-bin "$release/kith")
case "$mode" in
    # wrk's goals are for one server core: pinned as the side-by-side is.
    # kith's other benchmarks run unpinned, as their sections say.
    kith)
        if $wrk; then
            exec "${pin[@]}" "${bench[@]}" "${server_cpus[@]}" "${args[@]}"
        fi
        exec "${bench[@]}" "${args[@]}"
        ;;
    # A later --kith-bin PATH in the arguments wins (a copy of the binary
    # that a rebuild cannot replace).
    soak) exec "${pin[@]}" "${bench[@]}" "${server_cpus[@]}" --soak "${args[@]}" ;;
    capacity) exec "${pin[@]}" "${bench[@]}" "${server_cpus[@]}" --capacity "${args[@]}" ;;
    quick) exec "${pin[@]}" "${bench[@]}" "${server_cpus[@]}" --compare bench/peer --runs 3 --seconds 3 "${args[@]}" ;;
    compare) exec "${pin[@]}" "${bench[@]}" "${server_cpus[@]}" --compare bench/peer --runs 5 --seconds 6 "${args[@]}" ;;
esac
