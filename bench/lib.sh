# Shared helpers for the aptsnap benchmarks.  Sourced, not run.
# Large data lives under $BENCH_DATA (default .bench-data in the repository,
# which git ignores; give another disk with BENCH_DATA=...), never in git.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
BENCH_DATA=${BENCH_DATA:-$REPO_DIR/.bench-data}
RESULTS=${RESULTS:-$BENCH_DIR/results}

# portable_paths rewrites this machine's paths in what goes to
# bench/results: $BENCH_DATA by name, the repository's relative.
portable_paths() {
    sed -e "s|$BENCH_DATA|\$BENCH_DATA|g" -e "s|$REPO_DIR/||g"
}
# The shared fixture generator sits beside the repository (../shared).
MAKE_UPSTREAM=${MAKE_UPSTREAM:-$REPO_DIR/../shared/fixtures/make-upstream}
UPSTREAM_PORT=${UPSTREAM_PORT:-8088}
# Frozen copy of the apt index files make-upstream reads, so that an
# `apt-get update` during a run cannot change the workload under our feet.
LISTS=${LISTS:-$BENCH_DATA/lists}

mkdir -p "$BENCH_DATA" "$RESULTS"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# timed TSV TOOL GEN PHASE ITEM -- CMD...
# Runs CMD under /usr/bin/time, appends one row
#   tool gen phase item wall_s user_s sys_s maxrss_kb rc
# to TSV, and returns CMD's exit code.  CMD's own output goes to $STEP_LOG
# (default /dev/stderr).
timed() {
    local tsv=$1 tool=$2 gen=$3 phase=$4 item=$5; shift 6
    local tf rc; tf=$(mktemp)
    [ -s "$tsv" ] || printf 'tool\tgen\tphase\titem\twall_s\tuser_s\tsys_s\tmaxrss_kb\trc\n' >"$tsv"
    /usr/bin/time -f '%e\t%U\t%S\t%M' -o "$tf" "$@" >>"${STEP_LOG:-/dev/stderr}" 2>&1
    rc=$?
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$gen" "$phase" "$item" "$(tail -1 "$tf")" "$rc" >>"$tsv"
    log "$tool gen=$gen $phase $item: $(tail -1 "$tf" | cut -f1)s rc=$rc"
    rm -f "$tf"
    return $rc
}

# Sum of wall_s for TOOL GEN over phases matching the awk regex PHASES.
sum_wall() {
    awk -F'\t' -v t="$2" -v g="$3" -v p="$4" \
        'NR>1 && $1==t && $2==g && $3 ~ p {s+=$5} END {printf "%.2f", s}' "$1"
}

freeze_lists() {
    [ -d "$LISTS" ] && ls "$LISTS"/*_Packages* >/dev/null 2>&1 && return 0
    mkdir -p "$LISTS"
    local f n=0
    for f in /var/lib/apt/lists/*_debian_dists_bookworm_main_binary-amd64_Packages* \
             /var/lib/apt/lists/*_debian_dists_bookworm-updates_main_binary-amd64_Packages* \
             /var/lib/apt/lists/*_debian-security_dists_bookworm-security_main_binary-amd64_Packages*; do
        [ -e "$f" ] || continue
        cp -p "$f" "$LISTS/"; n=$((n+1))
    done
    [ "$n" -ge 3 ] || die "apt lists for bookworm, bookworm-updates, bookworm-security missing: run bench/setup.sh"
    (cd "$LISTS" && sha256sum -- *_Packages* >SHA256SUMS)
}

machine_info() {
    echo "date: $(date -u +%FT%TZ)"
    echo "kernel: $(uname -r)"
    echo "cpu: $(nproc) x $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
    echo "mem: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "loadavg: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "aptly: $(aptly version 2>/dev/null | sed 's/aptly version: //')"
    echo "nginx: $(nginx -v 2>&1 | sed 's/.*nginx\///')"
    echo "wrk: $(dpkg-query -W -f='${Version}' wrk 2>/dev/null)"
    echo "fs: $(df -T "$BENCH_DATA" | awk 'NR==2{print $2" on "$1}')"
}

# nginx_start NAME ROOT PORT [tuned]: a private nginx (daemon, pid file in its
# own directory under $BENCH_DATA/run) serving ROOT statically on 127.0.0.1:PORT,
# a worker per core, sendfile and tcp_nopush.  With "tuned" it also keeps
# descriptors of the files it serves open (open_file_cache, as a site serving
# an archive would), which only suits a ROOT whose files do not change while
# it runs: the upstream fixture, rewritten between generations, gets none.
# Idempotent: an instance already running for NAME is restarted on the new ROOT.
nginx_start() {
    local name=$1 root=$2 port=$3 d="$BENCH_DATA/run/nginx-$1" cache=
    nginx_stop "$name"
    mkdir -p "$d/tmp"
    if [ "${4:-}" = tuned ]; then
        cache="open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_min_uses 1;
    open_file_cache_errors on;"
    fi
    cat >"$d/nginx.conf" <<CONF
worker_processes ${NGINX_WORKERS:-auto};
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    access_log off;
    $cache
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        root $root;
        autoindex off;
    }
}
CONF
    # 9>&-: a script holding the benchmark lock on fd 9 (bench/pulse.sh) must
    # not hand it to the daemon, which would hold it after the script ends
    nginx -c "$d/nginx.conf" 9>&- || die "nginx $name failed to start (see $d/error.log)"
    local i
    for i in $(seq 50); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)" != 000 ] && break
        sleep 0.1
    done
    log "nginx $name: pid $(cat "$d/nginx.pid") serving $root on 127.0.0.1:$port${4:+ ($4)}"
}

nginx_stop() {
    local d="$BENCH_DATA/run/nginx-$1" pid
    [ -s "$d/nginx.pid" ] || return 0
    pid=$(cat "$d/nginx.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -QUIT "$pid"
        local i; for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$d/nginx.pid"
}

# build_fixture OUT GEN [LIMIT]
build_fixture() {
    local out=$1 gen=$2 limit=${3:-0}
    freeze_lists
    mkdir -p "$out"
    if [ -f "$out/.fixture-state" ] && [ "$(cat "$out/.fixture-state")" = "gen=$gen limit=$limit" ]; then
        log "fixture $out already at generation $gen (limit $limit)"
        return 0
    fi
    python3 "$MAKE_UPSTREAM" --out "$out" --generation "$gen" --limit "$limit" --lists "$LISTS" >&2 \
        || die "make-upstream failed"
    echo "gen=$gen limit=$limit" >"$out/.fixture-state"
}
