#!/usr/bin/env bash
# Installs what building meshkv needs on a fresh machine that has only the Rust toolchain:
# libclang (bindgen for the rocksdb crate), and redis-cli (redis-tools) for the RESP tests.
# Idempotent and quick when everything is there.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is missing; install the Rust toolchain (https://rustup.rs)" >&2
    exit 1
fi

have_libclang() {
    ldconfig -p 2>/dev/null | grep -q 'libclang\(-[0-9.]*\)\?\.so' ||
        ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1
}

# apt-get install PACKAGE, updating the package lists first only when needed.
apt_install() {
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y "$1" >/dev/null 2>&1 ||
        { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y "$1" >/dev/null; }
}

if ! have_libclang; then
    echo "setup: installing libclang-dev (needed to build RocksDB bindings)" >&2
    apt_install libclang-dev
fi

if ! command -v redis-cli >/dev/null 2>&1; then
    echo "setup: installing redis-tools (redis-cli, used by the RESP tests)" >&2
    apt_install redis-tools
fi
