//! Bad HTTP requests get the right status and a JSON error `{"code", "message"}`, and the
//! server keeps serving: an oversized body and key (413), bad percent-encoding in a prefix or a key
//! (400), a bad limit (400), an unknown route (404), a wrong method (405 with `Allow`). The listing
//! then pages through what was written, in key order.

use crate::common;

use common::process::{loopback_config, write_file, ServerProcess};
use meshkv::server::Client;

async fn still_serving(c: &Client, n: usize) {
    let key = format!("ok/{n}");
    c.put(key.as_bytes(), b"fine").await.unwrap();
    assert_eq!(c.get(key.as_bytes()).await.unwrap().unwrap().body, b"fine");
}

async fn error(c: &Client, method: &str, path: &str, body: Vec<u8>, status: u16, code: &str) {
    let reply = c.request(method, path, body).await.unwrap();
    assert_eq!(reply.status, status, "{method} {path}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let json = reply.json().unwrap();
    assert_eq!(json["code"], code, "{method} {path}: {json}");
    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "meshkv.toml",
        &loopback_config(
            &dir.path().join("data"),
            "max_value_size = 1024\nmax_key_size = 64\n",
        ),
    );
    let mut server = ServerProcess::start(&config);
    let c = server.client();
    still_serving(&c, 0).await;

    error(
        &c,
        "PUT",
        "/v1/kv/big",
        vec![7; 4096],
        413,
        "value_too_large",
    )
    .await;
    still_serving(&c, 1).await;
    let long_key = format!("/v1/kv/{}", "k".repeat(65));
    error(&c, "PUT", &long_key, b"v".to_vec(), 413, "key_too_large").await;
    error(&c, "GET", &long_key, Vec::new(), 413, "key_too_large").await;
    still_serving(&c, 2).await;
    error(
        &c,
        "GET",
        "/v1/kv?prefix=%zz",
        Vec::new(),
        400,
        "bad_encoding",
    )
    .await;
    error(&c, "GET", "/v1/kv/bad%4", Vec::new(), 400, "bad_encoding").await;
    error(
        &c,
        "GET",
        "/v1/watch?prefix=%",
        Vec::new(),
        400,
        "bad_encoding",
    )
    .await;
    error(
        &c,
        "GET",
        "/v1/kv?limit=many",
        Vec::new(),
        400,
        "bad_request",
    )
    .await;
    still_serving(&c, 3).await;
    error(&c, "GET", "/v2/nothing", Vec::new(), 404, "not_found").await;
    error(
        &c,
        "GET",
        "/v1/kv/never-written",
        Vec::new(),
        404,
        "not_found",
    )
    .await;
    let reply = c.request("PATCH", "/v1/kv/x", b"v".to_vec()).await.unwrap();
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, PUT, POST, DELETE"));
    assert_eq!(reply.json().unwrap()["code"], "method_not_allowed");
    // POST takes `?ttl=` or `?persist`, nothing else.
    error(&c, "POST", "/v1/kv/x", b"v".to_vec(), 400, "bad_request").await;
    error(
        &c,
        "DELETE",
        "/v1/status",
        Vec::new(),
        405,
        "method_not_allowed",
    )
    .await;
    error(&c, "PUT", "/metrics", Vec::new(), 405, "method_not_allowed").await;
    still_serving(&c, 4).await;

    // The listing pages through what was written, in key order.
    let page = c.list(b"ok/", None, 2).await.unwrap();
    assert_eq!(page["items"][0]["key"], "ok/0");
    assert_eq!(page["next_after"], "ok/1");
    let rest = c.list(b"ok/", Some("ok/1"), 10).await.unwrap();
    let keys: Vec<_> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].clone())
        .collect();
    assert_eq!(keys, ["ok/2", "ok/3", "ok/4"]);
    assert_eq!(rest["next_after"], serde_json::Value::Null);

    assert!(server.terminate().success(), "{}", server.stderr());
}
