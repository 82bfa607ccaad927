#!/usr/bin/env bash
# FTPS against plain FTP on loopback, same server, same client, one run:
# RETR and STOR of a 1 GiB file, median of N rounds each, interleaved.
#
#   bench/ftps-vs-plain.sh [ROUNDS]      (default 5)
#
# The client is bench/ftpbench (Rust, rustls, 1 MiB buffers): curl and Python
# are slower than the server under TLS and would measure themselves.
# Binds 127.0.0.1 only; everything lives in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
cargo build --release -q
cargo build --release -q --manifest-path bench/ftpbench/Cargo.toml
client=bench/ftpbench/target/release/ftpbench
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/root"
head -c 1073741824 /dev/urandom > "$work/root/1g.bin"
port=$((20000 + RANDOM % 20000))
./target/release/ferroftp serve "$work/root" --listen "127.0.0.1:$port" --user bench:bench \
    --tls --state-dir "$work/state" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do
    grep -q "Press Ctrl-C" "$work/server.log" && break
    sleep 0.1
done

# Each prints "bytes seconds MB/s"; keep bytes per second.
retr() { "$client" "127.0.0.1:$port" bench bench "$1" retr 1g.bin | awk '{ print $1 / $2 }'; }
stor() { "$client" "127.0.0.1:$port" bench bench "$1" stor up.bin 1073741824 | awk '{ print $1 / $2 }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A results
for _ in $(seq "$rounds"); do
    results[retr_plain]+="$(retr plain) "
    results[retr_tls]+="$(retr tls) "
    results[stor_plain]+="$(stor plain) "
    results[stor_tls]+="$(stor tls) "
done

printf '%-6s %14s %14s %8s\n' workload 'plain MB/s' 'FTPS MB/s' ratio
for w in retr stor; do
    plain=$(tr ' ' '\n' <<< "${results[${w}_plain]}" | grep . | median)
    tls=$(tr ' ' '\n' <<< "${results[${w}_tls]}" | grep . | median)
    awk -v w="$w" -v p="$plain" -v t="$tls" \
        'BEGIN { printf "%-6s %14.0f %14.0f %7.0f%%\n", toupper(w), p / 1e6, t / 1e6, 100 * t / p }'
done
