#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need when missing: liblz4, libcrypto and
# libsqlite3 (with pkg-config) to build; the lz4 tool, with which a test decompresses a journal
# payload; PostgreSQL's server, of which the read-model tests start throwaway clusters.
set -euo pipefail
if pkg-config --exists liblz4 libcrypto sqlite3 2>/dev/null && command -v lz4 >/dev/null \
    && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y liblz4-dev libssl-dev pkg-config lz4 libsqlite3-dev postgresql
