#!/usr/bin/env bash
# Installs the Debian packages the build needs (liblz4, libcrypto, pkg-config) when missing.
set -euo pipefail
if pkg-config --exists liblz4 libcrypto 2>/dev/null; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y liblz4-dev libssl-dev pkg-config
