#!/usr/bin/env bash
# Installs what the multi-node tests (tests/cluster.rs) run: Debian's `redis-server` (the
# backplane the nodes share) and `nginx` (a WebSocket-aware load balancer in front of them).
# Idempotent; any failure exits non-zero with the reason, so the tests fail instead of skipping.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib/apt.sh
. "$root/scripts/lib/apt.sh"
export PATH="$PATH:/usr/sbin:/sbin"
ensure_command redis-server redis-server
ensure_command nginx nginx
echo "cluster: ready ($(redis-server --version | head -1); $(nginx -v 2>&1))" >&2
