#!/usr/bin/env bash
# Where the time of a round-trip-bound workload goes: per operation, the wall
# time, the benchmark client's CPU time and everyone else's (the server's, on
# an otherwise idle machine). For the small-file and login workloads, where
# client and server wait for each other in turn, so that the client's own
# share bounds what any server can reach.
#
#   bench/cpu-split.sh ADDR USER PASS files 2000 pub/small/f [RUNS]
#   bench/cpu-split.sh ADDR USER PASS logins 1000 [RUNS]
#
# Prints one line per run and the medians: ops/s, then microseconds per
# operation of wall time, client CPU and server CPU (all CPU time of the
# machine, from /proc/stat, less the client's; forking servers' session
# processes included). Start the server yourself (bench/run.sh shows how for
# each peer); the machine should be otherwise idle.
set -euo pipefail
cd "$(dirname "$0")/.."
client=bench/ftpbench/target/release/ftpbench
[ -x "$client" ] || cargo build --release -q --manifest-path bench/ftpbench/Cargo.toml
addr=$1 user=$2 pass=$3 workload=$4 n=$5
case $workload in
    files) prefix=$6 runs=${7:-5}; args=(files "$n" "$prefix") ;;
    logins) runs=${6:-5}; args=(logins "$n") ;;
    *) echo "workload: files or logins" >&2; exit 2 ;;
esac
hz=$(getconf CLK_TCK)
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

results=()
for i in $(seq "$runs"); do
    before=$(busy)
    # bash's `time` gives the client's user and system CPU to the millisecond.
    { out=$( { TIMEFORMAT='%U %S'; time "$client" "$addr" "$user" "$pass" plain "${args[@]}"; } 2>&1 ); } || true
    after=$(busy)
    read -r ops secs rate fails <<< "$(head -1 <<< "$out")"
    read -r cu cs <<< "$(tail -1 <<< "$out")"
    line=$(awk -v n="$ops" -v s="$secs" -v r="$rate" -v f="$fails" -v cu="$cu" -v cs="$cs" \
        -v b=$((after - before)) -v hz="$hz" 'BEGIN {
            client = cu + cs; server = b / hz - client; if (server < 0) server = 0
            printf "%d %.1f %.1f %.1f %d", r, 1e6 * s / n, 1e6 * client / n, 1e6 * server / n, f }')
    echo "run $i: $line"
    results+=("$line")
done
printf '%s\n' "${results[@]}" | awk '
    { for (c = 1; c <= 4; c++) v[c, NR] = $c }
    END {
        printf "median: "
        split("ops/s wall_us client_cpu_us server_cpu_us", name, " ")
        for (c = 1; c <= 4; c++) {
            m = 0; for (i = 1; i <= NR; i++) a[i] = v[c, i]
            for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            printf "%s=%s ", name[c], a[int((NR + 1) / 2)]
        }
        print ""
    }'
