#!/usr/bin/env bash
# A three-node registryd cluster on 127.0.0.1, for trying things out locally.
#
#   deploy/local/cluster.sh start|stop|status [DIR]     (DIR defaults to ./local-cluster)
#
# Node N (1..3): HTTP 127.0.0.1:1876N, Raft 127.0.0.1:1710N, data DIR/nodeN, log DIR/nodeN.log,
# pid DIR/nodeN.pid. The binary is $REGISTRYD (default target/release/registryd).
set -euo pipefail

REGISTRYD="${REGISTRYD:-target/release/registryd}"
NODES=(1 2 3)
PEERS="1=127.0.0.1:17101,2=127.0.0.1:17102,3=127.0.0.1:17103"
START_TIMEOUT_S=20
STOP_TIMEOUT_S=15

usage() {
    echo "usage: $0 start|stop|status [DIR]   (DIR defaults to ./local-cluster)" >&2
    exit 2
}

http_addr() { echo "127.0.0.1:$((18760 + $1))"; }
raft_addr() { echo "127.0.0.1:$((17100 + $1))"; }

# Prints the pid of node $1 if its pid file names a live process; fails otherwise.
running_pid() {
    local file="$DIR/node$1.pid" pid
    [[ -f "$file" ]] || return 1
    pid="$(cat "$file")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

# HTTP status code of GET http://ADDR/PATH ("000" when nothing answers).
http_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$1$2" || true
}

start() {
    if [[ ! -x "$REGISTRYD" ]]; then
        echo "registryd binary not found at $REGISTRYD." >&2
        echo "Build it with:  cargo build --release -p registry-http" >&2
        echo "or point REGISTRYD at an existing binary." >&2
        exit 1
    fi
    mkdir -p "$DIR"
    local n pid
    for n in "${NODES[@]}"; do
        if pid="$(running_pid "$n")"; then
            echo "node$n already running (pid $pid)"
            continue
        fi
        "$REGISTRYD" \
            --node-id "$n" \
            --data-dir "$DIR/node$n" \
            --http "$(http_addr "$n")" \
            --raft "$(raft_addr "$n")" \
            --peers "$PEERS" \
            >>"$DIR/node$n.log" 2>&1 &
        echo $! >"$DIR/node$n.pid"
        echo "node$n started (pid $!): http $(http_addr "$n"), raft $(raft_addr "$n"), log $DIR/node$n.log"
    done

    local deadline=$((SECONDS + START_TIMEOUT_S)) healthy
    while :; do
        healthy=0
        for n in "${NODES[@]}"; do
            if ! running_pid "$n" >/dev/null; then
                echo "node$n exited; last lines of $DIR/node$n.log:" >&2
                tail -n 20 "$DIR/node$n.log" >&2 || true
                exit 1
            fi
            [[ "$(http_code "$(http_addr "$n")" /health)" == 200 ]] && healthy=$((healthy + 1))
        done
        ((healthy == ${#NODES[@]})) && break
        if ((SECONDS >= deadline)); then
            echo "cluster not healthy after ${START_TIMEOUT_S}s ($healthy of ${#NODES[@]} nodes); see $DIR/node*.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "all nodes healthy. GET /admin/cluster on node1:"
    curl -s --max-time 2 "http://$(http_addr 1)/admin/cluster"
    echo
}

stop() {
    local n pid
    for n in "${NODES[@]}"; do
        if pid="$(running_pid "$n")"; then
            kill -TERM "$pid"
            echo "node$n: SIGTERM sent (pid $pid)"
        fi
    done
    local deadline=$((SECONDS + STOP_TIMEOUT_S)) left
    while :; do
        left=0
        for n in "${NODES[@]}"; do
            if running_pid "$n" >/dev/null; then
                left=$((left + 1))
            else
                rm -f "$DIR/node$n.pid"
            fi
        done
        ((left == 0)) && break
        if ((SECONDS >= deadline)); then
            echo "$left node(s) still running after ${STOP_TIMEOUT_S}s; pids in $DIR/node*.pid" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "all nodes stopped"
}

status() {
    local n pid addr health cluster
    for n in "${NODES[@]}"; do
        addr="$(http_addr "$n")"
        if pid="$(running_pid "$n")"; then
            echo "node$n (pid $pid, http $addr)"
        else
            echo "node$n (not running, http $addr)"
        fi
        health="$(curl -s --max-time 2 -w ' (HTTP %{http_code})' "http://$addr/health")" || health="no answer"
        cluster="$(curl -s --max-time 2 "http://$addr/admin/cluster")" || cluster="no answer"
        echo "  GET /health         $health"
        echo "  GET /admin/cluster  $cluster"
    done
}

[[ $# -ge 1 && $# -le 2 ]] || usage
DIR="${2:-./local-cluster}"
case "$1" in
start) start ;;
stop) stop ;;
status) status ;;
*) usage ;;
esac
