//! The set-up script's libclang check (`scripts/libclang.sh`, sourced by `scripts/setup.sh`)
//! against fake folder trees: a tree holding only `libclang-cpp.so.14` (what this project's
//! machine image ships, which bindgen cannot load) must say "missing", so that the set-up
//! installs `libclang-dev`; trees holding a library bindgen loads (`libclang-14.so.1`,
//! `libclang.so.1`, `libclang.so`) must say "present". The check before this one matched
//! `libclang*.so*` and said "present" for the first tree, which left fresh machines without
//! libclang and the RocksDB build stopped in bindgen.

use std::path::Path;
use std::process::Command;

/// Runs the check against `root`; returns its output line and whether it exited 0.
fn status(root: &Path) -> (String, bool) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/libclang.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(root)
        .env_remove("LIBCLANG_PATH")
        .output()
        .expect("bash runs");
    (
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        out.status.success(),
    )
}

/// A fake root holding empty files at `files` (paths relative to the root).
fn tree(files: &[&str]) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    for file in files {
        let path = root.path().join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, b"").expect("write");
    }
    root
}

#[test]
fn only_libclang_cpp_is_missing() {
    let root = tree(&["usr/lib/llvm-14/lib/libclang-cpp.so.14"]);
    assert_eq!(status(root.path()), ("missing".into(), false));
    let root = tree(&[
        "usr/lib/x86_64-linux-gnu/libclang-cpp.so.14",
        "usr/lib/llvm-14/lib/libclang-cpp.so",
        "usr/lib/llvm-14/lib/libLLVM-14.so.1",
    ]);
    assert_eq!(status(root.path()), ("missing".into(), false));
}

#[test]
fn an_empty_tree_is_missing() {
    let root = tree(&[]);
    assert_eq!(status(root.path()), ("missing".into(), false));
}

#[test]
fn libraries_bindgen_loads_are_present() {
    for file in [
        "usr/lib/llvm-14/lib/libclang-14.so.1",
        "usr/lib/x86_64-linux-gnu/libclang-14.so.14.0.6",
        "usr/lib/llvm-14/lib/libclang.so.1",
        "usr/lib/llvm-14/lib/libclang.so",
        "usr/lib/libclang.so.14",
        "usr/local/lib/libclang-15.so",
    ] {
        let root = tree(&["usr/lib/llvm-14/lib/libclang-cpp.so.14", file]);
        assert_eq!(status(root.path()), ("present".into(), true), "{file}");
    }
}
