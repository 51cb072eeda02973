//! `meshkv serve` with a bad configuration exits with code 2 and a message naming the field, and
//! creates nothing: an unknown field (top level and in `[discovery]`), a bad address (in the file,
//! a flag and an environment variable), a missing key file, a non-hex key in `MESHKV_CLUSTER_KEY`
//! (not echoed), plaintext replication, the HTTP API or the RESP listener on a non-loopback address
//! (`0.0.0.0`), values out of range.

use crate::common;

use common::process::{command, serve_output, write_file};

/// Runs `serve --config FILE` with `text` as the file; asserts exit 2 and that stderr names
/// `field`.
fn refused(text: &str, field: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_file(
        dir.path(),
        "meshkv.toml",
        &format!("data_dir = {:?}\n{text}", data.display().to_string()),
    );
    let out = serve_output(&["--config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
    assert!(
        stderr.contains(&format!("`{field}`")),
        "{text}: the message should name `{field}`: {stderr}"
    );
    assert!(
        !data.exists(),
        "a refused config must not create the database"
    );
}

#[test]
fn unknown_field() {
    refused(
        "listen = \"127.0.0.1:0\"\nlisten_adress = \"x\"\n",
        "listen_adress",
    );
    refused("[discovery]\nttl = 0\ngroupp = \"x\"\n", "groupp");
}

#[test]
fn bad_address() {
    refused("listen = \"localhost-7070\"\n", "listen");
    refused("http_listen = \"127.0.0.1:99999\"\n", "http_listen");
    refused("peers = [\"no-port\"]\n", "peers");
}

#[test]
fn bad_address_as_flag_and_env() {
    let out = serve_output(&["--listen", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
    let out = command()
        .args(["serve"])
        .env("MESHKV_HTTP_LISTEN", "nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--http-listen"));
}

#[test]
fn missing_key_file() {
    refused(
        "cluster_key_file = \"/nonexistent/meshkv/cluster.key\"\n",
        "cluster_key_file",
    );
}

#[test]
fn bad_key_in_the_environment() {
    let out = command()
        .args(["serve", "--data-dir", "/nonexistent/never"])
        .env("MESHKV_CLUSTER_KEY", "not-hex")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MESHKV_CLUSTER_KEY"), "{stderr}");
    assert!(
        !stderr.contains("not-hex"),
        "the key must not be echoed: {stderr}"
    );
}

#[test]
fn insecure_non_loopback_listen() {
    refused("listen = \"0.0.0.0:0\"\n", "cluster_keys");
    refused(
        "listen = \"127.0.0.1:0\"\nhttp_listen = \"0.0.0.0:0\"\n",
        "http_listen",
    );
    refused(
        "listen = \"127.0.0.1:0\"\nresp_listen = \"0.0.0.0:0\"\n",
        "resp_listen",
    );
}

#[test]
fn out_of_range_values() {
    refused("max_key_size = 0\n", "max_key_size");
    refused(
        "heartbeat_interval = \"1 fortnight\"\n",
        "heartbeat_interval",
    );
    refused("durability = \"eventually\"\n", "durability");
    refused("resp_max_args = 1\n", "resp_max_args");
    refused(
        "[discovery]\ngroup = \"10.0.0.1:7946\"\n",
        "discovery.group",
    );
}
