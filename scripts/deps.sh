#!/usr/bin/env bash
# The one installer for everything outside Cargo that the tests and benchmarks use.
#
#   scripts/deps.sh COMPONENT...
#
#   interop  Python `websockets` (PyPI) in target/interop/venv; Node `ws`, `undici` (Node 22+'s
#            WebSocket, for Node 20), `@asyncapi/parser`, `@asyncapi/diff`, `typescript` (npm,
#            from tests/interop/node/package-lock.json); Debian's `chromium`
#   cluster  Debian's `redis-server` (the backplane) and `nginx` (a load balancer in front)
#   bench    starlette + uvicorn + websockets (PyPI) in target/bench/venv, the Python baseline;
#            Debian's `valgrind` (`cargo xtask callgrind`)
#
# Safe to run from many processes and threads at once: one exclusive lock (flock on
# target/deps.lock) is held across the whole install, so concurrent runs wait for each other and
# find the work done; apt-get waits a bounded time for the package manager's own lock instead of
# failing at once. Idempotent: what is present is not installed again. When something cannot be
# installed (no root and no sudo, no apt-get, no registry), it exits non-zero with one message
# naming what is missing and the command that installs it; every step has a time bound.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
# Debian puts daemons (nginx) in sbin, which a normal user's PATH lacks.
export PATH="$PATH:${WSGEN_DEPS_SBIN-/usr/sbin:/sbin}"

if [ "$#" -eq 0 ]; then
    echo "usage: scripts/deps.sh {interop|cluster|bench}..." >&2
    exit 2
fi
for component in "$@"; do
    case "$component" in
        interop | cluster | bench) ;;
        *) echo "scripts/deps.sh: unknown component '$component' (expected interop, cluster or bench)" >&2; exit 2 ;;
    esac
done

mkdir -p "$target"
lock="${WSGEN_DEPS_LOCK:-$target/deps.lock}"
exec 9>"$lock"
if ! flock -w "${WSGEN_DEPS_LOCK_WAIT:-1800}" 9; then
    echo "scripts/deps.sh: another install held $lock for too long; is one stuck?" >&2
    exit 1
fi

# How long apt-get waits for the package manager's lock (held by another apt-get, or by the
# system's unattended upgrades) before giving up, and for the whole of any one step.
apt_lock_wait="${WSGEN_APT_LOCK_WAIT:-300}"
step_limit="${WSGEN_STEP_LIMIT:-900}"
apt_updated=""

# `need_command COMMAND PACKAGE`: installs the Debian PACKAGE unless COMMAND is on PATH.
need_command() {
    local command="$1" package="$2"
    if command -v "$command" >/dev/null 2>&1; then
        return 0
    fi
    local how="sudo apt-get install -y $package"
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "scripts/deps.sh: '$command' is missing and this system has no apt-get; install '$package' (Debian's name) with your package manager and run again" >&2
        return 1
    fi
    local sudo_cmd=()
    if [ "$(id -u)" != "0" ]; then
        if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
            echo "scripts/deps.sh: '$command' is missing and this user can install nothing (not root, no password-less sudo); install it with: $how" >&2
            return 1
        fi
        sudo_cmd=(sudo -n)
    fi
    echo "scripts/deps.sh: installing Debian's $package (for $command)" >&2
    export DEBIAN_FRONTEND=noninteractive
    local apt=(timeout "$step_limit" "${sudo_cmd[@]}" apt-get -o "DPkg::Lock::Timeout=$apt_lock_wait" -qq)
    if [ -z "$apt_updated" ]; then
        if ! "${apt[@]}" update >&2; then
            echo "scripts/deps.sh: 'apt-get update' failed (is the package registry reachable?); install '$command' with: $how" >&2
            return 1
        fi
        apt_updated=1
    fi
    if ! "${apt[@]}" install -y --no-install-recommends "$package" >/dev/null; then
        echo "scripts/deps.sh: installing '$package' failed (output above); install it with: $how" >&2
        return 1
    fi
    if ! command -v "$command" >/dev/null 2>&1; then
        echo "scripts/deps.sh: '$command' is still not on PATH after installing '$package'" >&2
        return 1
    fi
}

# `need_venv DIR CHECK REQUIREMENT...`: a virtualenv at DIR where the Python CHECK passes.
need_venv() {
    local venv="$1" check="$2"
    shift 2
    if "$venv/bin/python" -c "$check" 2>/dev/null; then
        return 0
    fi
    echo "scripts/deps.sh: installing $* into $venv" >&2
    need_command python3 python3
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" >&2; then
        echo "scripts/deps.sh: 'python3 -m venv' failed; install it with: sudo apt-get install -y python3-venv" >&2
        return 1
    fi
    if ! timeout "$step_limit" "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 30 --retries 2 "$@" >&2; then
        echo "scripts/deps.sh: pip could not install $* (is PyPI reachable?); run: $venv/bin/pip install $*" >&2
        return 1
    fi
}

interop() {
    local websockets=17.4
    need_venv "$target/interop/venv" \
        "import websockets, sys; sys.exit(websockets.__version__ != '$websockets')" \
        "websockets==$websockets"
    local node_dir="$root/tests/interop/node" module
    for module in ws undici @asyncapi/parser @asyncapi/diff typescript; do
        if [ ! -f "$node_dir/node_modules/$module/package.json" ]; then
            need_command npm npm
            echo "scripts/deps.sh: installing the Node packages of $node_dir from package-lock.json" >&2
            if ! (cd "$node_dir" && timeout "$step_limit" npm ci --silent --no-audit --no-fund --fetch-retries 2 >&2); then
                echo "scripts/deps.sh: 'npm ci' failed (is the npm registry reachable?); run: (cd tests/interop/node && npm ci)" >&2
                return 1
            fi
            break
        fi
    done
    need_command chromium chromium
}

cluster() {
    need_command redis-server redis-server
    need_command nginx nginx
}

bench() {
    need_command valgrind valgrind
    need_venv "$target/bench/venv" \
        "import starlette, uvicorn, websockets; assert starlette.__version__ == '1.10.0' and uvicorn.__version__ == '0.54.0'" \
        starlette==1.10.0 uvicorn==0.54.0 websockets==17.4
}

for component in "$@"; do
    "$component"
done
echo "scripts/deps.sh: ready ($*)" >&2
