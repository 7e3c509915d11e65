#!/bin/bash
# Install what the benchmarks need.  Idempotent: safe to run again.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PKGS="aptly reprepro nginx-light wrk lz4 hyperfine xz-utils gnupg time python3"

# apt-get update only if the package lists (and so make-upstream's input) are
# missing: an update moves bookworm-updates/-security and so the workload.
if ! ls /var/lib/apt/lists/*_debian_dists_bookworm_main_binary-amd64_Packages* >/dev/null 2>&1 \
   || ! apt-cache show aptly >/dev/null 2>&1; then
    apt-get update
fi
if ! apt-cache show nginx-light >/dev/null 2>&1; then
    PKGS=${PKGS/nginx-light/nginx}
fi
missing=
for p in $PKGS; do
    case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" in *"ok installed") ;; *) missing="$missing $p" ;; esac
done
if [ -n "$missing" ]; then
    apt-get install -y --no-install-recommends $missing
fi
# The Debian nginx package may try to start a system nginx on :80; the
# benchmarks run their own nginx instances from generated configs.
for c in aptly nginx wrk hyperfine lz4 xz gpg /usr/bin/time python3; do
    command -v "$c" >/dev/null || { echo "setup: $c missing" >&2; exit 1; }
done
echo "setup: ok ($(aptly version))"
