#!/usr/bin/env bash
# Installs the Python baseline of `cargo xtask bench` (starlette + uvicorn with the websockets
# protocol, from PyPI) into target/bench/venv. Idempotent; fails loudly.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/bench/venv"
want="starlette==1.10.0 uvicorn==0.54.0 websockets==17.4"
if ! "$venv/bin/python" -c "import starlette, uvicorn, websockets; assert starlette.__version__ == '1.10.0' and uvicorn.__version__ == '0.54.0'" 2>/dev/null; then
    echo "bench: installing $want into $venv" >&2
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $want
fi
