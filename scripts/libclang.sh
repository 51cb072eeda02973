#!/usr/bin/env bash
# Says whether a libclang that bindgen (clang-sys) can load is installed under a root folder.
#
#   bash scripts/libclang.sh [ROOT]     prints "present" (exit 0) or "missing" (exit 1); ROOT: /
#
# clang-sys loads `libclang.so`, `libclang-N.so`, `libclang.so.N` or `libclang-N.so.N`, from
# LIBCLANG_PATH or the usual library folders. `libclang-cpp.so.N` (Debian's libclang-cpp14,
# shipped on this project's machine image) is the C++ library, which bindgen cannot use: it must
# not count. Taking ROOT lets the test suite run this against fake trees.
set -euo pipefail

# libclang_status ROOT: prints present/missing for the library folders under ROOT.
libclang_status() {
    local root="${1%/}" dir file name
    local -a dirs=("$root/usr/lib" "$root/usr/lib64" "$root/usr/local/lib" "$root/lib" "$root/lib64")
    for dir in "$root"/usr/lib/*-linux-gnu "$root"/usr/lib/llvm-* "$root"/usr/lib/llvm-*/lib; do
        [ -d "$dir" ] && dirs+=("$dir")
    done
    if [ -z "$root" ] && [ -n "${LIBCLANG_PATH:-}" ]; then dirs+=("$LIBCLANG_PATH"); fi
    for dir in "${dirs[@]}"; do
        [ -d "$dir" ] || continue
        for file in "$dir"/libclang*.so*; do
            [ -e "$file" ] || continue
            name=${file##*/}
            # libclang.so, libclang.so.14, libclang-14.so, libclang-14.so.1 (never libclang-cpp).
            if [[ "$name" =~ ^libclang(-[0-9][0-9.]*)?\.so(\.[0-9][0-9.]*)?$ ]]; then
                echo present
                return 0
            fi
        done
    done
    echo missing
    return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    libclang_status "${1:-/}"
fi
