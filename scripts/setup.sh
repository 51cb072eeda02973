#!/usr/bin/env bash
# Installs what building meshkv needs on a fresh machine that has only the Rust toolchain:
# libclang (bindgen for the rocksdb crate), redis-cli (redis-tools) and redis-server for the
# RESP tests, curl for the HTTP tests.
# Idempotent and quick when everything is there.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is missing; install the Rust toolchain (https://rustup.rs)" >&2
    exit 1
fi

# What bindgen can load (libclang.so / libclang-N.so.*, never libclang-cpp): scripts/libclang.sh.
source "$(dirname "$0")/libclang.sh"

# apt-get install PACKAGE, updating the package lists first only when needed.
apt_install() {
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y "$1" >/dev/null 2>&1 ||
        { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y "$1" >/dev/null; }
}

if ! libclang_status / >/dev/null; then
    echo "setup: installing libclang-dev (needed to build RocksDB bindings)" >&2
    apt_install libclang-dev
    libclang_status / >/dev/null ||
        { echo "setup: libclang-dev is installed but no libclang.so was found; set LIBCLANG_PATH" >&2; exit 1; }
fi

if ! command -v redis-cli >/dev/null 2>&1; then
    echo "setup: installing redis-tools (redis-cli, used by the RESP tests)" >&2
    apt_install redis-tools
fi

if ! command -v curl >/dev/null 2>&1; then
    echo "setup: installing curl (the HTTP tests use a real client)" >&2
    apt_install curl
fi

if ! command -v redis-server >/dev/null 2>&1; then
    echo "setup: installing redis-server (the RESP tests compare meshkv's replies with it)" >&2
    apt_install redis-server
    # The package may start a service on port 6379; the tests start their own on free ports.
    if command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
    fi
    $SUDO service redis-server stop >/dev/null 2>&1 || true
fi
