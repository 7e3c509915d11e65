#!/bin/bash
# bench/fixture.sh OUT GEN [LIMIT]     build generation GEN of the stand-in upstream in OUT
# bench/fixture.sh serve OUT [PORT]    serve OUT on 127.0.0.1:PORT (default 8088) with a private nginx
# bench/fixture.sh stop [PORT]         stop that nginx
#
# Building is idempotent (make-upstream rebuilds OUT in place; a marker file
# skips a rebuild of the generation OUT already holds).  The apt lists it reads
# are frozen once into $BENCH_DATA/lists so every run sees the same packages.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
case "${1:-}" in
serve)
    out=$(cd "$2" && pwd); port=${3:-$UPSTREAM_PORT}
    nginx_start "upstream-$port" "$out" "$port" ;;
stop)
    nginx_stop "upstream-${2:-$UPSTREAM_PORT}" ;;
""|-h|--help)
    sed -n 2,9p "$0"; exit 2 ;;
*)
    build_fixture "$1" "$2" "${3:-0}" ;;
esac
