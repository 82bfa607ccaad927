#!/usr/bin/env bash
# What putting uploads on disk before 226 costs (server.sync_uploads): the
# same ferroftp binary with the setting on and off, one after the other per
# round, on a 1 GiB STOR and on 2,000 uploads of 4 KiB in one session.
#
#   bench/sync-cost.sh              3 rounds, 1 GiB, 2,000 files
#   ROUNDS=5 BIG_MIB=256 SMALL_FILES=500 bench/sync-cost.sh
#
# Binds 127.0.0.1 only; the served folder is a temporary directory on the
# file system of /tmp (its fsync cost is what is measured: say which it is).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
rounds=${ROUNDS:-3}
big_mib=${BIG_MIB:-1024}
small_files=${SMALL_FILES:-2000}
client=$repo/bench/ftpbench/target/release/ftpbench

cargo build --release -q
cargo build --release -q --manifest-path bench/ftpbench/Cargo.toml
work=$(mktemp -d /tmp/ferroftp-sync.XXXXXX)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/root"

start() { # $1: true or false
    port=$((5000 + RANDOM % 4900))
    cat > "$work/ferroftp.toml" <<CONF
[server]
listen = ["127.0.0.1:$port"]
log_level = "error"
sync_uploads = $1
[anonymous]
access = "write"
root = "$work/root"
CONF
    "$repo/target/release/ferroftp" serve --config "$work/ferroftp.toml" > "$work/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "ferroftp did not start" >&2; cat "$work/log" >&2; exit 1
}

declare -A r
for round in $(seq "$rounds"); do
    for sync in true false; do
        start "$sync"
        sync
        r[$sync,stor]+="$("$client" "127.0.0.1:$port" anonymous bench@ plain stor "big-$round-$sync.bin" $((big_mib << 20)) | awk '{ print $3 }') "
        rm -f "$work/root/big-$round-$sync.bin"
        sync
        r[$sync,puts]+="$("$client" "127.0.0.1:$port" anonymous bench@ plain puts "$small_files" "s-$round-$sync-" | awk '{ print $3 }') "
        rm -f "$work/root"/s-*
        kill "$pid"; wait "$pid" 2>/dev/null || true
        echo "round $round, sync_uploads = $sync: STOR ${r[$sync,stor]}MB/s; uploads ${r[$sync,puts]}files/s" >&2
    done
done
median() { tr ' ' '\n' <<< "$1" | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
fs=$(df -T "$work" | awk 'NR == 2 { print $2 " on " $1 }')
echo
echo "sync_uploads cost, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), $fs, medians of $rounds rounds"
echo
echo "| sync_uploads | STOR ${big_mib} MiB, MB/s | ${small_files} x 4 KiB uploads, files/s |"
echo "|---|---:|---:|"
for sync in true false; do
    echo "| $sync | $(median "${r[$sync,stor]}") | $(median "${r[$sync,puts]}") |"
done
