#!/usr/bin/env bash
# Installs what the build and the tests need when missing:
# - Debian packages: liblz4, libcrypto and libsqlite3 (with pkg-config) to build; the lz4 tool,
#   with which a test decompresses a journal payload; PostgreSQL's server, of which the
#   read-model tests start throwaway clusters; etcd, of which the replication tests start a
#   throwaway member for leader election;
# - a Python virtual environment, .venv-clients, with Binance's official SDK (binance-sdk-spot)
#   and ccxt from PyPI, with which the gateway tests drive a node as trading bots would.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! pkg-config --exists liblz4 libcrypto sqlite3 2>/dev/null || ! command -v lz4 >/dev/null \
    || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v etcd >/dev/null; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO apt-get install -y liblz4-dev libssl-dev pkg-config lz4 libsqlite3-dev postgresql etcd-server
fi
VENV=.venv-clients
if ! "$VENV/bin/python" -c "import binance_sdk_spot, ccxt, cryptography" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check binance-sdk-spot==13.3.0 ccxt==4.5.90
fi
