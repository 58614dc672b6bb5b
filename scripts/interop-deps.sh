#!/usr/bin/env bash
# Installs what the interop tests (tests/interop.rs) talk to a generated server with:
#   - Python `websockets` (PyPI), in a virtualenv under target/interop/venv
#   - Node `ws`, `undici` (the WebSocket of Node 22+, for Node 20), `typescript` and
#     `@asyncapi/parser` (npm), from tests/interop/node/package-lock.json
#   - Chromium (Debian's `chromium` package), unless one is already on PATH
# Idempotent: what is present is not installed again. Any failure exits non-zero with the
# reason, so that the tests fail loudly instead of skipping.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/target/interop"
mkdir -p "$out"

websockets_version="17.4"
venv="$out/venv"
if ! "$venv/bin/python" -c "import websockets, sys; sys.exit(websockets.__version__ != '$websockets_version')" 2>/dev/null; then
    echo "interop: installing Python websockets $websockets_version into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "websockets==$websockets_version"
fi

node_dir="$root/tests/interop/node"
if [ ! -f "$node_dir/node_modules/ws/package.json" ] || [ ! -f "$node_dir/node_modules/undici/package.json" ] || [ ! -f "$node_dir/node_modules/@asyncapi/parser/package.json" ] || [ ! -f "$node_dir/node_modules/typescript/package.json" ]; then
    echo "interop: installing Node ws, undici, @asyncapi/parser and typescript from package-lock.json" >&2
    (cd "$node_dir" && npm ci --silent --no-audit --no-fund)
fi

# shellcheck source=lib/apt.sh
. "$root/scripts/lib/apt.sh"
ensure_command chromium chromium
echo "interop: ready (python websockets $websockets_version, node ws $(node -p "require('$node_dir/node_modules/ws/package.json').version"), undici $(node -p "require('$node_dir/node_modules/undici/package.json').version"), $(chromium --version 2>/dev/null | head -1))" >&2
