#!/usr/bin/env bash
# rctdb demo: a 3-node cluster on this machine, one network namespace per
# node, joined by a bridge in a "switch" namespace. Run as root:
#
#   sudo scripts/demo.sh
#
# Builds the release binaries (unless RCTDB_BIN_DIR names a directory that
# holds rctdbd and rctdb), starts three rctdbd with the stock event scripts,
# a cluster lock and six public addresses, shows the cluster, its event
# scripts and where the addresses are, kills a node with kill -9 and shows
# the others noticing and its addresses moving. Everything it creates
# (namespaces rctdb-demo-<pid>-*, processes, a temporary directory) is
# removed when it exits, also on Ctrl-C or error. Node addresses are
# 192.0.2.11-13 and public addresses 198.51.100.1-6 (documentation ranges);
# they exist only inside the namespaces.
#
# Steps are functions so later milestones can add scenes (scriptstatus,
# public IPs, failover) to main().
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODES=3
STEM="rctdb-demo-$$"
SWITCH="$STEM-sw"
WORK=""
BIN=""

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi
say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

node_ns()   { echo "$STEM-n$1"; }
node_addr() { echo "192.0.2.$((11 + $1))"; }
node_dir()  { echo "$WORK/n$1"; }

# rctdb against node $1: `on 0 status`.
on() {
    local i=$1; shift
    RCTDB_SOCKET="$(node_dir "$i")/run/rctdbd.socket" RCTDB_BASE="$(node_dir "$i")/base" "$BIN/rctdb" "$@"
}

# Show a command as an operator would type it on node $1, then run it.
show() {
    local i=$1; shift
    printf '[node %s]$ rctdb %s\n' "$i" "$*"
    on "$i" "$@" || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    say "Cleaning up"
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$STEM-" || true); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -9 "$pid" 2>/dev/null || true
        done
    done
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$STEM-" || true); do
        ip netns delete "$ns" || true
    done
    if [ -n "$WORK" ]; then
        rm -rf "$WORK"
        echo "removed namespaces $STEM-*, their daemons, and $WORK"
    fi
    exit "$rc"
}

# Namespaces of an earlier demo that was killed before it could clean up.
remove_stale() {
    local ns pid owner
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^rctdb-demo-' || true); do
        owner=${ns#rctdb-demo-}; owner=${owner%%-*}
        if [ -d "/proc/$owner" ]; then continue; fi
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns delete "$ns" 2>/dev/null || true
        echo "removed stale namespace $ns"
    done
}

preflight() {
    [ "$(id -u)" = 0 ] || die "run as root (network namespaces): sudo $0"
    command -v ip >/dev/null || die "ip (iproute2) is required"
    command -v setpriv >/dev/null || die "setpriv (util-linux) is required"
}

# cargo may not be on root's PATH under sudo: fall back to the invoking
# user's toolchain.
find_cargo() {
    command -v cargo >/dev/null && return
    if [ -n "${SUDO_USER:-}" ]; then
        local home
        home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
        if [ -x "$home/.cargo/bin/cargo" ]; then
            export PATH="$home/.cargo/bin:$PATH" CARGO_HOME="$home/.cargo" RUSTUP_HOME="$home/.rustup"
            return
        fi
    fi
    die "cargo not found (install Rust, or set RCTDB_BIN_DIR to prebuilt binaries)"
}

build() {
    if [ -n "${RCTDB_BIN_DIR:-}" ]; then
        BIN=$RCTDB_BIN_DIR
        say "Using binaries from $BIN"
    else
        say "Building rctdb (cargo build --release --workspace --bins)"
        find_cargo
        (cd "$ROOT" && cargo build --release --workspace --bins)
        BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
    fi
    [ -x "$BIN/rctdbd" ] && [ -x "$BIN/rctdb" ] || die "rctdbd and rctdb not found in $BIN"
}

create_network() {
    say "Creating $NODES test hosts: namespaces $STEM-n0..n$((NODES - 1)) on a bridge in $SWITCH"
    ip netns add "$SWITCH"
    ip -n "$SWITCH" link set lo up
    ip -n "$SWITCH" link add br0 type bridge
    ip -n "$SWITCH" link set br0 up
    local i ns
    for ((i = 0; i < NODES; i++)); do
        ns=$(node_ns "$i")
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip -n "$SWITCH" link add "v$i" type veth peer name eth0 netns "$ns"
        ip -n "$SWITCH" link set "v$i" master br0 up
        ip -n "$ns" addr add "$(node_addr "$i")/24" dev eth0
        ip -n "$ns" link set eth0 up
        echo "  node $i: $(node_addr "$i") in namespace $ns"
    done
}

write_config() {
    local i d
    for ((i = 0; i < NODES; i++)); do
        d=$(node_dir "$i")
        mkdir -p "$d/base" "$d/run" "$d/var"
        printf '[logging]\n\tlocation = file:\n\tlog level = NOTICE\n[cluster]\n\tnode address = %s\n\ttransport port = 4379\n\tcluster lock = %s\n\tleader timeout = 1\n' \
            "$(node_addr "$i")" "$WORK/shared/cluster.lock" >"$d/base/rctdb.conf"
        : >"$d/base/nodes"
        local j
        for ((j = 0; j < NODES; j++)); do node_addr "$j" >>"$d/base/nodes"; done
        printf 'KeepaliveInterval=1\nKeepaliveLimit=3\nMonitorInterval=5\n' >"$d/base/tunables"
        : >"$d/base/public_addresses"
        for ((j = 1; j <= 6; j++)); do echo "198.51.100.$j/24 eth0" >>"$d/base/public_addresses"; done
        mkdir -p "$d/base/events/legacy"
        cp "$ROOT/scripts/functions" "$d/base/functions"
        cp "$ROOT"/scripts/events/legacy/* "$d/base/events/legacy/"
    done
    mkdir -p "$WORK/shared"
    echo "  configuration in $WORK/n<i>/base (rctdb.conf, nodes, tunables, public_addresses, events/legacy)"
    echo "  cluster lock: $WORK/shared/cluster.lock (a directory every node shares)"
}

start_node() {
    local i=$1 d
    d=$(node_dir "$i")
    # setpriv: the daemon dies with this script even if it is killed -9.
    RCTDB_BASE="$d/base" RCTDB_RUNDIR="$d/run" RCTDB_VARDIR="$d/var" \
        ip netns exec "$(node_ns "$i")" setpriv --pdeathsig KILL -- \
        "$BIN/rctdbd" --interactive >"$d/log" 2>&1 &
    echo $! >"$d/pid"
    disown $!  # no "Killed" job report when the demo kills it
}

start_nodes() {
    say "Starting rctdbd on every node (logs in $WORK/n<i>/log)"
    local i
    for ((i = 0; i < NODES; i++)); do
        start_node "$i"
        echo "  node $i: rctdbd pid $(cat "$(node_dir "$i")/pid")"
    done
    for ((i = 0; i < NODES; i++)); do
        wait_for "node $i to answer" 20 on "$i" pnn
    done
}

# wait_for WHAT SECONDS CMD...: poll CMD (quietly) until it succeeds.
wait_for() {
    local what=$1 secs=$2; shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            echo "timed out waiting for $what; node logs:" >&2
            tail -n 20 "$WORK"/n*/log >&2 || true
            exit 1
        fi
        sleep 0.1
    done
}

# True if node $1 sees every node in its -X status table with Disconnected=0.
all_connected_from() {
    on "$1" -X status | awk -F'|' 'NR > 1 && $4 != "0" { bad = 1 } END { exit bad }'
}

# True if node $1 sees node $2 with Disconnected=1.
sees_disconnected() {
    on "$1" -X status | awk -F'|' -v n="$2" 'NR > 1 && $2 == n && $4 == "1" { ok = 1 } END { exit !ok }'
}

wait_converged() {
    say "Waiting for every node to connect to every other node"
    local start=$SECONDS i
    for ((i = 0; i < NODES; i++)); do
        wait_for "node $i to see all nodes connected" 30 all_connected_from "$i"
    done
    echo "  converged after about $((SECONDS - start)) s"
}

# True when every node is OK (nodestatus exits with the OR of all flags).
all_healthy_from() {
    on "$1" nodestatus all >/dev/null
}

# True when every node's namespace holds at least one public address.
balanced() {
    local i
    for ((i = 0; i < NODES; i++)); do
        ip -n "$(node_ns "$i")" -4 -o addr show dev eth0 | grep -q ' 198\.51\.100\.' || return 1
    done
}

show_cluster() {
    say "Waiting for the first recovery, the startup event and a passing monitor on every node"
    local start=$SECONDS
    wait_for "every node to be healthy" 60 all_healthy_from 0
    echo "  healthy after about $((SECONDS - start)) s"
    say "The cluster as node 0 sees it"
    show 0 status
    echo
    show 0 listnodes
    say "Health checks: the stock event scripts' last monitor run on node 0"
    show 0 scriptstatus
}

# True when node $1 sees every public address hosted by some node.
all_hosted_from() {
    on "$1" ip all | awk 'NR > 1 && $2 == "-1" { bad = 1 } NR > 1 { n++ } END { exit bad || n == 0 }'
}

# Which namespace really has each public address (ip addr, not rctdb).
kernel_view() {
    local i ns
    for ((i = 0; i < NODES; i++)); do
        ns=$(node_ns "$i")
        printf '  node %s (%s): %s\n' "$i" "$ns" \
            "$(ip -n "$ns" -4 -o addr show dev eth0 | awk '{print $4}' | grep '^198\.51\.100\.' | tr '\n' ' ')"
    done
}

show_ips() {
    say "Public addresses: where rctdb put them, and what each namespace's kernel has"
    wait_for "every public address to be hosted" 30 all_hosted_from 0
    wait_for "every node to host some addresses" 30 balanced
    show 0 ip all
    kernel_view
}

kill_node() {
    local victim=$1 t0
    say "Killing node $victim's rctdbd with kill -9 (no goodbye to its peers)"
    t0=$(date +%s%N)
    kill -9 "$(cat "$(node_dir "$victim")/pid")"
    wait_for "node 0 to see node $victim DISCONNECTED" 10 sees_disconnected 0 "$victim"
    echo "  node 0 marked node $victim DISCONNECTED after $((($(date +%s%N) - t0) / 1000000)) ms"
    echo "  (the TCP connection closed; no need to wait for KeepaliveInterval x KeepaliveLimit)"
    show 0 status
    local t1=$(date +%s%N)
    wait_for "node $victim's addresses to move" 20 all_hosted_from 0
    say "Node $victim's addresses moved to the survivors $((($(date +%s%N) - t1) / 1000000 + ($t1 - t0) / 1000000)) ms after the kill"
    show 0 ip all
    kernel_view
}

main() {
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    preflight
    remove_stale
    build
    WORK=$(mktemp -d /tmp/rctdb-demo.XXXXXX)
    create_network
    write_config
    start_nodes
    wait_converged
    show_cluster
    show_ips
    kill_node 2
    say "Done"
}

main "$@"
