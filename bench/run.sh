#!/usr/bin/env bash
# ferroftp against vsftpd, pure-ftpd, ProFTPD, pyftpdlib and unFTP on loopback,
# the same workloads against each, one server after another in one run, and the
# machine's limit measured beside them. See bench/README.md.
#
#   bench/run.sh                 everything, 3 rounds
#   ROUNDS=5 bench/run.sh        more rounds (medians are printed)
#   SERVERS="ferroftp vsftpd" SESSIONS="100 1000" BIG_MIB=256 bench/run.sh
#   bench/run.sh --quick         ferroftp and vsftpd, one round, smaller sizes
#   BASELINE=HEAD~3 bench/run.sh --quick    also that revision of ferroftp, as "baseline"
#
# Needs root (Debian packages are installed, servers drop to the ftp user).
# Binds 127.0.0.1 only; everything lives in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
if [ "${1:-}" = --quick ]; then
    : "${SERVERS:=ferroftp vsftpd}" "${ROUNDS:=1}" "${BIG_MIB:=256}" "${SESSIONS:=100 1000}" "${LOGINS:=300}"
fi
rounds=${ROUNDS:-3}
big_mib=${BIG_MIB:-1024}
small_files=${SMALL_FILES:-2000}
logins=${LOGINS:-1000}
sessions=${SESSIONS:-"100 1000 10000"}
servers=${SERVERS:-"ferroftp vsftpd pure-ftpd proftpd pyftpdlib unftp"}
baseline=${BASELINE:-}
[ -z "$baseline" ] || servers+=" baseline"
peers=$repo/bench/.peers        # downloaded peers, ignored by git
client=$repo/bench/ftpbench/target/release/ftpbench

log() { printf '== %s\n' "$*" >&2; }

# ---------------------------------------------------------------- peers
wants() { [[ " $servers " == *" $1 "* ]]; }

install_peers() {
    export DEBIAN_FRONTEND=noninteractive
    local need=()
    command -v vsftpd >/dev/null || [ -x /usr/sbin/vsftpd ] || need+=(vsftpd)
    # ProFTPD's optional back-ends, so its binary loads; python3 for pyftpdlib.
    need+=(libhiredis0.14 libmemcached11 libmemcachedutil2 libpcre2-posix3 python3 python3-pip)
    log "apt: ${need[*]}"
    apt-get install -y -qq "${need[@]}" >/dev/null
    # pure-ftpd and proftpd conflict with vsftpd in apt: unpacked, not installed.
    if { wants pure-ftpd || wants proftpd; } &&
        { [ ! -x "$peers/root/usr/sbin/pure-ftpd" ] || [ ! -x "$peers/root/usr/sbin/proftpd" ]; }; then
        log "unpacking pure-ftpd and proftpd-core"
        mkdir -p "$peers/debs" "$peers/root"
        (cd "$peers/debs" && apt-get download pure-ftpd pure-ftpd-common proftpd-core 2>/dev/null)
        for deb in "$peers"/debs/*.deb; do dpkg-deb -x "$deb" "$peers/root"; done
    fi
    python3 -c 'import pyftpdlib' 2>/dev/null || python3 -m pip install -q pyftpdlib==2.2.0 2>/dev/null ||
        python3 -m pip install -q --break-system-packages pyftpdlib==2.2.0
    if wants unftp && [ ! -x "$peers/unftp/bin/unftp" ]; then
        log "cargo install unftp (once; a few minutes)"
        cargo install unftp --locked --root "$peers/unftp" -q
    fi
}

# ---------------------------------------------------------------- servers
# Each start_* starts one server on $port serving $work/root (files under
# pub/, uploads allowed there) and sets $pid to the process to measure.
# Logins are anonymous wherever the server has anonymous access, so that every
# server pays the same for authentication; pure-ftpd's anonymous root is the
# ftp user's home, so it gets a virtual user with an MD5-crypt password.
user=anonymous
pass=bench@

start_ferroftp() {
    local bin=${1:-}
    [ -n "$bin" ] || bin=$repo/target/release/ferroftp
    cat > "$work/ferroftp.toml" <<EOF
[server]
listen = ["127.0.0.1:$port"]
max_connections = 30000
max_connections_per_ip = 30000
log_level = "error"
${2:-}
[anonymous]
access = "write"
root = "$work/root"
max_sessions = 30000
EOF
    "$bin" serve --config "$work/ferroftp.toml" > "$work/ferroftp.log" 2>&1 &
    pid=$!
}

# The same configuration for another build of ferroftp ($BASELINE).
start_baseline() { start_ferroftp "$peers/baseline/target/release/ferroftp"; }
# ferroftp without flushing uploads to disk before 226, to see what that costs.
start_ferroftp-nosync() { start_ferroftp "" "sync_uploads = false"; }

start_vsftpd() {
    cat > "$work/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$port
background=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=$work/root
write_enable=YES
anon_upload_enable=YES
anon_other_write_enable=YES
anon_umask=022
ftp_username=ftp
nopriv_user=ftp
secure_chroot_dir=$work/empty
seccomp_sandbox=NO
max_clients=0
max_per_ip=0
xferlog_enable=NO
EOF
    "$(command -v vsftpd || echo /usr/sbin/vsftpd)" "$work/vsftpd.conf" > "$work/vsftpd.log" 2>&1 &
    pid=$!
}

start_pure-ftpd() {
    printf 'bench:%s:%s:%s::%s/./::::::::::::\n' "$(openssl passwd -1 bench)" "$(id -u ftp)" "$(id -g ftp)" \
        "$work/root" > "$work/pureftpd.passwd"
    "$peers/root/usr/bin/pure-pw" mkdb "$work/pureftpd.pdb" -f "$work/pureftpd.passwd"
    user=bench pass=bench
    "$peers/root/usr/sbin/pure-ftpd" -S "127.0.0.1,$port" -l "puredb:$work/pureftpd.pdb" -E -H -A \
        -c 30000 -C 30000 > "$work/pure-ftpd.log" 2>&1 &
    pid=$!
}

start_proftpd() {
    cat > "$work/proftpd.conf" <<EOF
ServerType standalone
DefaultServer on
Port $port
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
UseReverseDNS off
User nobody
Group nogroup
MaxInstances 30000
ScoreboardFile $work/proftpd.scoreboard
PidFile $work/proftpd.pid
DelayTable none
WtmpLog off
TransferLog none
SystemLog $work/proftpd.log
RequireValidShell off
<Anonymous $work/root>
  User ftp
  Group nogroup
  UserAlias anonymous ftp
  <Directory *>
    <Limit WRITE>
      AllowAll
    </Limit>
  </Directory>
</Anonymous>
EOF
    "$peers/root/usr/sbin/proftpd" -n -q -c "$work/proftpd.conf" > "$work/proftpd.out" 2>&1 &
    pid=$!
}

start_pyftpdlib() {
    python3 - "$work/root" "$port" > "$work/pyftpdlib.log" 2>&1 <<'EOF' &
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
logging.basicConfig(level=logging.ERROR)
auth = DummyAuthorizer()
auth.add_anonymous(sys.argv[1], perm="elradfmwMT")
FTPHandler.authorizer = auth
server = FTPServer(("127.0.0.1", int(sys.argv[2])), FTPHandler)
server.max_cons = 30000
server.max_cons_per_ip = 0
server.serve_forever()
EOF
    pid=$!
}

start_unftp() {
    "$peers/unftp/bin/unftp" --bind-address "127.0.0.1:$port" --root-dir "$work/root" --auth-type anonymous \
        --passive-ports 10000-60000 --log-level error > "$work/unftp.log" 2>&1 &
    pid=$!
}

wait_ready() {
    for _ in $(seq 100); do
        # In a subshell: a failed redirection on exec would end the script.
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "$1 did not start on port $port; its log and the port's users:"
    cat "$work/$1"*.log >&2 || true
    ss -tanp "sport = :$port" >&2 || true
    ps -o pid,stat,cmd -p "$pid" >&2 || true
    return 1
}

stop_server() {
    kill "$pid" 2>/dev/null || true
    # Forking servers leave session processes behind.
    pkill -P "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    case $1 in
        vsftpd) pkill -f "vsftpd $work" || true ;;
        pure-ftpd) pkill -f "pure-ftpd -S 127.0.0.1,$port" || true ;;
        proftpd) pkill -f "proftpd -n -q -c $work" || true ;;
    esac
}

# ---------------------------------------------------------------- workloads
# Each prints one number: MB/s, files/s, logins/s, or "failures pss_kib".
mbps() { awk '{ print $3 }'; }
w_retr() { "$client" "127.0.0.1:$port" "$user" "$pass" plain retr pub/big.bin | mbps; }
w_stor() {
    # Each upload starts with no dirty pages left to write back from the one before.
    sync
    "$client" "127.0.0.1:$port" "$user" "$pass" plain stor "pub/up-$1-$2.bin" $((big_mib << 20)) | mbps
    rm -f "$work/root/pub/up-$1-$2.bin"
}
w_files() { "$client" "127.0.0.1:$port" "$user" "$pass" plain files "$small_files" pub/small/f | awk '{ print $3 " " $4 }'; }
w_logins() { "$client" "127.0.0.1:$port" "$user" "$pass" plain logins "$logins" | awk '{ print $3 " " $4 }'; }
w_sessions() {
    "$client" "127.0.0.1:$port" "$user" "$pass" plain sessions "$1" pub/s.bin "$pid" |
        awk '{ print $3 " " $4 }'
}

# Every closed connection leaves a TIME_WAIT socket for 60 s, and a server
# that binds port 0 for its passive listeners pays for each of them (the
# kernel walks them looking for a free port): at 24,000 of them such a server
# fetched 4 KiB files 20 times slower. The 10,000-session workload leaves
# ~20,000; so each server starts once they have drained from the one before.
settle() {
    local waited=0
    # State 06 in /proc/net/tcp* is TIME_WAIT.
    while [ "$(awk '$4 == "06"' /proc/net/tcp /proc/net/tcp6 2>/dev/null | wc -l)" -gt 4000 ] &&
        [ "$waited" -lt 70 ]; do
        sleep 1
        waited=$((waited + 1))
    done
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }

# ---------------------------------------------------------------- run
[ "$(id -u)" -eq 0 ] || { echo "bench/run.sh needs root (apt, and servers that drop privileges)" >&2; exit 1; }
install_peers
log "building ferroftp and the benchmark client"
cargo build --release -q
cargo build --release -q --manifest-path bench/ftpbench/Cargo.toml
if [ -n "$baseline" ]; then
    log "building ferroftp $baseline as the baseline"
    rm -rf "$peers/baseline/src"
    git worktree prune
    git worktree add -f --detach "$peers/baseline/src" "$baseline" >/dev/null
    (cd "$peers/baseline/src" && CARGO_TARGET_DIR="$peers/baseline/target" cargo build --release -q -p ferroftp)
    git worktree remove --force "$peers/baseline/src"
fi
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/ferroftp-bench.XXXXXX)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir -p "$work/root/pub/small" "$work/empty"
chmod 755 "$work/root"
log "test files: ${big_mib} MiB, ${small_files} x 4 KiB"
head -c $((big_mib << 20)) /dev/urandom > "$work/root/pub/big.bin"
for i in $(seq 0 $((small_files - 1))); do head -c 4096 /dev/urandom > "$work/root/pub/small/f$i"; done
head -c 4096 /dev/urandom > "$work/root/pub/s.bin"
chmod -R a+rX "$work/root"
chmod 777 "$work/root/pub"
# The kernel's own limits for 10,000 sessions at once.
sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
    net.ipv4.ip_local_port_range="10000 65000" 2>/dev/null || true

declare -A r
for round in $(seq "$rounds"); do
    log "round $round of $rounds: machine limit"
    r[limit,retr]+="$("$client" - - - plain raw-send "$work/root/pub/big.bin" | mbps) "
    sync
    r[limit,stor]+="$("$client" - - - plain raw-receive "$work/raw.bin" $((big_mib << 20)) | mbps) "
    rm -f "$work/raw.bin"
    for s in $servers; do
        # Below the local port range, so no client connection holds it.
        port=$((5000 + RANDOM % 4900))
        user=anonymous pass=bench@
        settle
        "start_$s"
        if ! wait_ready "$s"; then
            log "$s is left out of round $round"
            stop_server "$s"
            continue
        fi
        log "round $round: $s (port $port)"
        r[$s,retr]+="$(w_retr) "
        r[$s,stor]+="$(w_stor "$s" "$round") "
        read -r rate fails < <(w_files)
        r[$s,files]+="$rate "
        r[$s,files_fail]=$(( ${r[$s,files_fail]:-0} + fails ))
        read -r rate fails < <(w_logins)
        r[$s,logins]+="$rate "
        r[$s,logins_fail]=$(( ${r[$s,logins_fail]:-0} + fails ))
        base=$("$client" - - - plain pss "$pid")
        for n in $sessions; do
            read -r fails pss < <(w_sessions "$n")
            # What the sessions added, not what the server had before.
            r[$s,s$n]+="$((pss - base)) "
            r[$s,s${n}_fail]=$(( ${r[$s,s${n}_fail]:-0} + fails ))
        done
        stop_server "$s"
    done
done

# ---------------------------------------------------------------- report
med() { tr ' ' '\n' <<< "${r[$1]:-}" | grep . | median; }
echo
echo "ferroftp benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), medians of $rounds rounds"
echo
printf '| %-10s | %12s | %12s | %16s | %14s |' server "RETR MB/s" "STOR MB/s" "${small_files}x4KiB files/s" "logins/s"
for n in $sessions; do printf ' %18s |' "$n sessions: fail/MiB"; done
echo
printf '|%s|%s|%s|%s|%s|' ------------ -------------: -------------: -----------------: ---------------:
for n in $sessions; do printf '%s|' -------------------:; done
echo
best() { # the best peer's median for a workload (highest; lowest for memory)
    local w=$1 order=${2:--rn} v
    for s in $servers; do
        case $s in ferroftp | ferroftp-nosync | baseline) continue ;; esac
        # A peer that dropped sessions held fewer of them: not comparable.
        [ "${r[$s,${w}_fail]:-0}" -eq 0 ] || continue
        v=$(med "$s,$w"); [ "$v" = - ] || echo "$v"
    done | sort $order | head -1
}
num() { awk -v v="$1" -v d="${2:-1}" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.*f", (d == 1 ? 0 : 1), v / d }'; }
for s in $servers; do
    printf '| %-10s | %12s | %12s | %16s | %14s |' "$s" "$(num "$(med "$s,retr")")" "$(num "$(med "$s,stor")")" \
        "$(num "$(med "$s,files")")" "$(num "$(med "$s,logins")")"
    for n in $sessions; do
        printf ' %9s / %6s |' "${r[$s,s${n}_fail]:-0}" "$(num "$(med "$s,s$n")" 1024)"
    done
    echo
done
printf '| %-10s | %12s | %12s | %16s | %14s |\n' "raw TCP" "$(num "$(med limit,retr)")" "$(num "$(med limit,stor)")" - -
echo
if [[ " $servers " == *" ferroftp "* ]]; then
    echo "ferroftp as a ratio to the best peer (and to the machine's limit):"
    for w in retr stor files logins; do
        b=$(best "$w"); f=$(med "ferroftp,$w")
        line=$(awk -v f="$f" -v b="$b" 'BEGIN { if (b > 0) printf "%.2fx the best peer", f / b; else printf "no peer" }')
        case $w in retr | stor)
            line+=$(awk -v f="$f" -v l="$(med "limit,$w")" 'BEGIN { printf ", %.0f%% of raw TCP", 100 * f / l }') ;;
        esac
        echo "  $w: $line"
    done
    for n in $sessions; do
        b=$(best "s$n" -n); f=$(med "ferroftp,s$n")
        awk -v n="$n" -v f="$f" -v b="$b" 'BEGIN {
            printf "  %d sessions: %.1f KiB per session", n, f / n;
            if (b > 0) printf ", %.2fx the memory of the leanest peer", f / b; print "" }'
    done
fi
if [ -n "$baseline" ]; then
    echo "ferroftp as a ratio to the baseline ($baseline):"
    for w in retr stor files logins; do
        awk -v w="$w" -v f="$(med "ferroftp,$w")" -v b="$(med "baseline,$w")" \
            'BEGIN { if (b > 0) printf "  %s: %.2fx\n", w, f / b }'
    done
fi
