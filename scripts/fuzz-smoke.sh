#!/usr/bin/env bash
# Fuzzes every target for a bounded time (FUZZ_SECONDS, default 60) on the stable toolchain,
# from the committed corpus, and fails on the first crash. The fuzz build links the RocksDB
# library a test build already made (run `cargo test` first), so it does not compile RocksDB
# again. Grown corpora go to a temporary folder, never into the repository. FUZZ_TARGETS
# (space-separated) fuzzes only those targets, e.g. FUZZ_TARGETS=resp FUZZ_SECONDS=600.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
secs="${FUZZ_SECONDS:-60}"
lib=$(ls -t "$CARGO_TARGET_DIR"/debug/build/librocksdb-sys-*/out/librocksdb.a 2>/dev/null | head -1 || true)
if [ -z "$lib" ]; then
    echo "no librocksdb.a under $CARGO_TARGET_DIR/debug: run cargo test first" >&2
    exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

cd fuzz
export ROCKSDB_LIB_DIR="$(dirname "$lib")" ROCKSDB_STATIC=1 RUSTFLAGS="-C link-arg=-lstdc++"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$CARGO_TARGET_DIR/fuzz}"
cargo fuzz build -s none
grown=$(mktemp -d)
trap 'rm -rf "$grown"' EXIT
for target in ${FUZZ_TARGETS:-$(cargo fuzz list)}; do
    mkdir -p "$grown/$target"
    extra=()
    [ "$target" = apply ] && extra=(-len_control=0 -max_len=300)
    echo "fuzzing $target for ${secs}s"
    status=0
    cargo fuzz run "$target" "$grown/$target" "corpus/$target" -s none -- \
        -max_total_time="$secs" -rss_limit_mb=1024 -print_final_stats=1 "${extra[@]}" \
        >"$grown/$target.log" 2>&1 || status=$?
    grep -E "^(Done|stat::number_of_executed_units)" "$grown/$target.log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$grown/$target.log" >&2
        echo "fuzz target $target failed: see fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
