//! The HTTP API (axum). Every error is JSON `{"code": "...", "message": "..."}`.
//!
//! | route | method | what |
//! |---|---|---|
//! | `/v1/kv/{key}` | `GET` | the value, raw bytes (200); `not_found` (404) for a key absent, deleted or expired |
//! | `/v1/kv/{key}?ttl=SECONDS` | `PUT` | stores the body, raw bytes, as the value (200), expiring `ttl` seconds from now when given (or header `x-meshkv-ttl: SECONDS`); without one it clears the key's deadline, as Redis `SET` does |
//! | `/v1/kv/{key}?ttl=SECONDS` | `POST` | gives the key's live value a new deadline (`EXPIRE`); `?persist` removes it (`PERSIST`); 200 with the write's version, `not_found` (404) when the key holds no live value |
//! | `/v1/kv/{key}` | `DELETE` | deletes the key, leaving a tombstone that replicates (200) |
//! | `/v1/kv?prefix=&after=&limit=` | `GET` | live keys under `prefix`, in key order, after the key `after`, at most `limit` (default 100, at most 1000); `next_after` continues |
//! | `/v1/watch?prefix=&from=` | `GET` | server-sent events of every change under `prefix`, from now on, or above sequence `from` |
//! | `/v1/status` | `GET` | node, peers and counters as JSON (see [`super::status`]) |
//! | `/v1/verify?peer=HOST:PORT` | `POST` | one anti-entropy round with that peer now (one of the node's known peer addresses, else `unknown_peer`, 404): what differed and what was repaired, as JSON (see [`super::status::repair_report_json`]); `peer_failed` (502) when the round failed |
//! | `/v1/members` | `GET` | the cluster's members as this node knows them, itself first, as JSON (see [`super::status::members_json`]) |
//! | `/v1/decommission?node=NODE_ID&force=true` | `POST` | removes a member for good (`Node::decommission`; `force` skips the check that every member holds its writes): 200 `{"decommissioned", "forced"}`; `unknown_member` (404) for an id no member has, `not_decommissioned` (409) when the check fails or the id is this node's, naming why |
//! | `/metrics` | `GET` | Prometheus text (see [`super::metrics`]) |
//!
//! Keys and prefixes are percent-decoded to raw bytes ([`super::urlkey`]). Successful `GET`,
//! `PUT` and `DELETE` of a key carry its version in headers `x-meshkv-clock`,
//! `x-meshkv-timestamp` and `x-meshkv-origin` (a deleted key's `404` too, with
//! `x-meshkv-deleted: true`, and an expired one's with `x-meshkv-expired: true`); `PUT` and
//! `DELETE` also answer it as JSON `{"clock", "timestamp", "origin"}`. A key with a deadline
//! carries it in `x-meshkv-expires-at` (ms since the Unix epoch) on `GET` and `PUT`, and in
//! the JSON as `expires_at`. A `ttl` must be a whole number of seconds, 1 or more
//! (`bad_ttl`, 400, otherwise, and for a deadline past the year 10889).
//!
//! Errors: `bad_request` / `bad_encoding` / `empty_key` (400), `not_found` / `unknown_peer` /
//! `unknown_member` (404), `not_decommissioned` (409),
//! `method_not_allowed` (405, with `Allow`), `key_too_large` / `value_too_large` (413, over
//! `max_key_size` / `max_value_size`), `internal` (500), `peer_failed` (502).
//!
//! Watch events: `event: put`, `event: delete` or `event: expired` (a write that left the key
//! expired), `id:` the change's sequence (a reconnecting `EventSource` sends it back as
//! `Last-Event-ID`, which is used as `from`), and `data:` JSON `{"key", "value", "value_hex",
//! "clock", "timestamp", "origin", "seq", "expires_at"}`. A watcher that falls
//! more than `watch_buffer` changes behind gets `event: lagged` with
//! `data: {"resume_from": N}` and the stream ends: reconnect with `from=N` for no gap. The
//! stream also ends when the server shuts down.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::urlkey;
use crate::net::stopped;
use crate::{Db, Error, Event, Node, Version};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database served.
    pub db: Db,
    /// Its replicating node, for status and metrics.
    pub node: Arc<Node>,
    /// Turns `true` when the server shuts down: watch streams end.
    pub shutdown: watch::Receiver<bool>,
    /// The RESP listener's counters, when it is on (in `/v1/status` and `/metrics`).
    pub resp: Option<Arc<super::resp::RespStats>>,
}

/// Default and largest `limit` of a listing.
const LIST_DEFAULT: usize = 100;
const LIST_MAX: usize = 1000;

/// The router of the whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/kv/{*key}", any(kv))
        .route("/v1/kv", any(list))
        .route("/v1/watch", any(watch_feed))
        .route("/v1/status", any(status))
        .route("/v1/verify", any(verify))
        .route("/v1/members", any(members))
        .route("/v1/decommission", any(decommission))
        .route("/metrics", any(metrics))
        .fallback(not_found)
        .with_state(state)
}

/// An API error: an HTTP status, a stable code and a message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    allow: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn method(allow: &'static str) -> Self {
        ApiError {
            allow: Some(allow),
            ..ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("allowed: {allow}"),
            )
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::EmptyKey => ApiError::bad("empty_key", message),
            Error::KeyTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "key_too_large", message)
            }
            Error::ValueTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "value_too_large", message)
            }
            // The node's clock is refused by its peers: retry after fixing it (or on another
            // node), like any temporarily unavailable service.
            Error::ClockSkew { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "clock_skew", message)
            }
            Error::DeadlineTooLate { .. } => ApiError::bad("bad_ttl", message),
            _ => ApiError::internal(message),
        }
    }
}

impl From<urlkey::BadEncoding> for ApiError {
    fn from(e: urlkey::BadEncoding) -> Self {
        ApiError::bad("bad_encoding", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"code": self.code, "message": self.message});
        let mut response = json_response(self.status, &body);
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Runs RocksDB work off the async workers.
async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> crate::Result<R> + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from)
}

fn version_headers(headers: &mut HeaderMap, v: &Version) {
    for (name, value) in [
        ("x-meshkv-clock", v.clock.to_string()),
        ("x-meshkv-timestamp", v.timestamp.to_string()),
        ("x-meshkv-origin", v.origin.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

fn version_json(v: &Version, expires_at: Option<u64>) -> Value {
    json!({
        "clock": v.clock,
        "timestamp": v.timestamp,
        "origin": v.origin.to_string(),
        "expires_at": expires_at,
    })
}

/// `x-meshkv-expires-at: MS` for a key with a deadline.
fn deadline_header(headers: &mut HeaderMap, expires_at: Option<u64>) {
    if let Some(at) = expires_at {
        if let Ok(value) = HeaderValue::from_str(&at.to_string()) {
            headers.insert("x-meshkv-expires-at", value);
        }
    }
}

/// The time-to-live a `PUT` or `POST` asks for: `?ttl=` or `x-meshkv-ttl`, whole seconds, 1
/// or more; both given must agree.
fn ttl_of(query: &[(String, Vec<u8>)], headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let bad = |what: String| ApiError::bad("bad_ttl", what);
    let parse = |text: &[u8], name: &str| -> Result<u64, ApiError> {
        std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                bad(format!(
                    "`{name}` must be a whole number of seconds, 1 or more"
                ))
            })
    };
    let from_query = query
        .iter()
        .find(|(k, _)| k == "ttl")
        .map(|(_, v)| parse(v, "ttl"))
        .transpose()?;
    let from_header = headers
        .get("x-meshkv-ttl")
        .map(|v| parse(v.as_bytes(), "x-meshkv-ttl"))
        .transpose()?;
    match (from_query, from_header) {
        (Some(a), Some(b)) if a != b => Err(bad(format!(
            "`ttl` ({a}) and `x-meshkv-ttl` ({b}) disagree"
        ))),
        (a, b) => Ok(a.or(b)),
    }
}

/// `secs` seconds from now by the database's clock (a ttl too long to be a deadline is refused
/// by the write: `DeadlineTooLate`).
fn deadline_in(db: &Db, secs: u64) -> std::time::SystemTime {
    let now = crate::hlc::millis(db.options().clock.reading());
    let ms = now.saturating_add(secs.saturating_mul(1000));
    crate::record::entry::deadline_time(ms.min(u64::MAX / 2))
}

/// A deadline as ms since the Unix epoch.
fn millis_of(at: std::time::SystemTime) -> u64 {
    crate::record::entry::deadline_ms(at)
}

/// `GET|PUT|DELETE /v1/kv/{key}`.
async fn kv(State(st): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let raw = req.uri().path().strip_prefix("/v1/kv/").unwrap_or("");
    let key = urlkey::decode(raw)?;
    let max_key = st.db.options().max_key_size;
    if key.len() > max_key {
        return Err(Error::KeyTooLarge {
            len: key.len(),
            max: max_key,
        }
        .into());
    }
    let db = st.db.clone();
    match *req.method() {
        Method::GET | Method::HEAD => {
            let record = blocking(move || db.get_versioned(&key)).await?;
            match record {
                Some(rec) => {
                    let (deleted, expired) = (rec.is_tombstone(), rec.expired);
                    let mut response = match rec.value {
                        Some(value) => (StatusCode::OK, value).into_response(),
                        None => ApiError::new(
                            StatusCode::NOT_FOUND,
                            "not_found",
                            if expired {
                                "the key expired"
                            } else {
                                "the key was deleted"
                            },
                        )
                        .into_response(),
                    };
                    version_headers(response.headers_mut(), &rec.version);
                    deadline_header(response.headers_mut(), rec.expires_at.map(millis_of));
                    let flag = match (deleted, expired) {
                        (true, _) => Some("x-meshkv-deleted"),
                        (_, true) => Some("x-meshkv-expired"),
                        _ => None,
                    };
                    if let Some(name) = flag {
                        response
                            .headers_mut()
                            .insert(name, HeaderValue::from_static("true"));
                    }
                    Ok(response)
                }
                None => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such key",
                )),
            }
        }
        Method::PUT => {
            let ttl = ttl_of(&query(&req)?, req.headers())?;
            let max = st.db.options().max_value_size;
            let value = read_body(req.into_body(), max).await?;
            // The deadline is fixed before the write, so the answer reports this write's (a
            // write of the key racing it cannot change what it says).
            let (version, expires_at) = blocking(move || match ttl {
                Some(secs) => {
                    let at = deadline_in(&db, secs);
                    Ok((db.put_expiring_at(&key, &value, at)?, Some(millis_of(at))))
                }
                None => Ok((db.put(&key, &value)?, None)),
            })
            .await?;
            Ok(written(&version, expires_at))
        }
        Method::POST => {
            let pairs = query(&req)?;
            let ttl = ttl_of(&pairs, req.headers())?;
            let persist = pairs.iter().any(|(k, _)| k == "persist");
            let (version, expires_at) = match (ttl, persist) {
                (Some(secs), false) => {
                    blocking(move || {
                        let at = deadline_in(&db, secs);
                        Ok((db.expire_at(&key, at)?, Some(millis_of(at))))
                    })
                    .await?
                }
                (None, true) => (blocking(move || db.persist(&key)).await?, None),
                _ => return Err(ApiError::bad(
                    "bad_request",
                    "POST of a key takes one of `?ttl=SECONDS` (or `x-meshkv-ttl`) and `?persist`",
                )),
            };
            match version {
                Some(v) => Ok(written(&v, expires_at)),
                None => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "the key holds no live value",
                )),
            }
        }
        Method::DELETE => {
            let version = blocking(move || db.delete(&key)).await?;
            Ok(written(&version, None))
        }
        _ => Err(ApiError::method("GET, PUT, POST, DELETE")),
    }
}

/// The answer to a write: its version as JSON and headers, with the key's deadline.
fn written(version: &Version, expires_at: Option<u64>) -> Response {
    let mut response = json_response(StatusCode::OK, &version_json(version, expires_at));
    version_headers(response.headers_mut(), version);
    deadline_header(response.headers_mut(), expires_at);
    response
}

/// The whole body, or 413 past `max` bytes (checked against `Content-Length` first, then
/// while reading).
async fn read_body(body: Body, max: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "value_too_large",
            format!("the body is over the limit of {max} bytes (max_value_size)"),
        )
    };
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::bad(
            "bad_request",
            format!("reading the body: {e}"),
        )),
    }
}

/// The decoded query pairs of a request.
fn query(req: &Request) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    Ok(urlkey::query_pairs(req.uri().query().unwrap_or(""))?)
}

fn number(name: &str, value: &[u8]) -> Result<u64, ApiError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ApiError::bad(
                "bad_request",
                format!("`{name}` must be a non-negative integer"),
            )
        })
}

/// A value for JSON: `value` as a string when it is UTF-8, else `value_hex`.
fn value_fields(value: Option<&[u8]>) -> (Value, Value) {
    match value {
        None => (Value::Null, Value::Null),
        Some(v) => match std::str::from_utf8(v) {
            Ok(s) => (Value::from(s), Value::Null),
            Err(_) => (
                Value::Null,
                Value::from(v.iter().map(|b| format!("{b:02x}")).collect::<String>()),
            ),
        },
    }
}

/// `GET /v1/kv?prefix=&after=&limit=`: `{"items": [{"key", "value", "value_hex"}],
/// "next_after": key or null}`. Keys are percent-encoded ([`urlkey::encode`]).
async fn list(State(st): State<AppState>, req: Request) -> Result<Response, ApiError> {
    if req.method() != Method::GET {
        return Err(ApiError::method("GET"));
    }
    let (mut prefix, mut after, mut limit) = (Vec::new(), None, LIST_DEFAULT);
    for (name, value) in query(&req)? {
        match name.as_str() {
            "prefix" => prefix = value,
            "after" => after = Some(value),
            "limit" => {
                limit = number("limit", &value)?.clamp(1, LIST_MAX as u64) as usize;
            }
            other => {
                return Err(ApiError::bad(
                    "bad_request",
                    format!("unknown parameter `{other}` (prefix, after, limit)"),
                ))
            }
        }
    }
    let db = st.db.clone();
    let (items, more) = blocking(move || {
        use std::ops::Bound;
        let start = match &after {
            Some(a) if a.as_slice() >= prefix.as_slice() => Bound::Excluded(a.as_slice()),
            _ => Bound::Included(prefix.as_slice()),
        };
        let mut items = Vec::new();
        for item in db.scan((start, Bound::Unbounded)) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            if items.len() == limit {
                return Ok((items, true));
            }
            items.push((key, value));
        }
        Ok((items, false))
    })
    .await?;
    let next_after = match more {
        true => items.last().map(|(k, _)| urlkey::encode(k)),
        false => None,
    };
    let items: Vec<Value> = items
        .iter()
        .map(|(k, v)| {
            let (value, value_hex) = value_fields(Some(v));
            json!({"key": urlkey::encode(k), "value": value, "value_hex": value_hex})
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"items": items, "next_after": next_after}),
    ))
}

/// The SSE event of one change.
fn change_event(e: &Event) -> SseEvent {
    let (value, value_hex) = value_fields(e.value.as_deref());
    let data = json!({
        "key": urlkey::encode(&e.key),
        "value": value,
        "value_hex": value_hex,
        "clock": e.version.clock,
        "timestamp": e.version.timestamp,
        "origin": e.version.origin.to_string(),
        "seq": e.seq,
        "expires_at": e.expires_at.map(millis_of),
    });
    let kind = match (e.is_tombstone(), e.expired) {
        (true, _) => "delete",
        (_, true) => "expired",
        _ => "put",
    };
    SseEvent::default()
        .event(kind)
        .id(e.seq.to_string())
        .data(data.to_string())
}

/// `GET /v1/watch?prefix=&from=`: server-sent events (see the module docs).
async fn watch_feed(State(st): State<AppState>, req: Request) -> Result<Response, ApiError> {
    if req.method() != Method::GET {
        return Err(ApiError::method("GET"));
    }
    let (mut prefix, mut from) = (Vec::new(), None);
    for (name, value) in query(&req)? {
        match name.as_str() {
            "prefix" => prefix = value,
            "from" => from = Some(number("from", &value)?),
            other => {
                return Err(ApiError::bad(
                    "bad_request",
                    format!("unknown parameter `{other}` (prefix, from)"),
                ))
            }
        }
    }
    if from.is_none() {
        if let Some(id) = req.headers().get("last-event-id") {
            from = Some(number("Last-Event-ID", id.as_bytes())?);
        }
    }
    let feed = match from {
        Some(seq) => st.db.watch_from(&prefix, seq),
        None => st.db.watch(&prefix),
    };
    let stream =
        futures_util::stream::unfold(Some((feed, st.shutdown.clone())), |state| async move {
            let (mut feed, mut shutdown) = state?;
            let event = tokio::select! {
                _ = stopped(&mut shutdown) => return None,
                next = feed.next() => next?,
            };
            let (sse, go_on) = match event {
                Ok(e) => (change_event(&e), true),
                Err(Error::Lagged { resume_from }) => (
                    SseEvent::default()
                        .event("lagged")
                        .data(json!({"resume_from": resume_from}).to_string()),
                    false,
                ),
                Err(e) => (
                    SseEvent::default()
                        .event("error")
                        .data(json!({"code": "internal", "message": e.to_string()}).to_string()),
                    false,
                ),
            };
            let next = go_on.then_some((feed, shutdown));
            Some((Ok::<_, Infallible>(sse), next))
        });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// `GET /v1/status`.
async fn status(State(st): State<AppState>, req: Request) -> Result<Response, ApiError> {
    if req.method() != Method::GET {
        return Err(ApiError::method("GET"));
    }
    let mut body = super::status::status_json(&st.node.status(), &st.db.stats(), st.db.last_seq());
    body["storage_error"] = st.db.background_error().into();
    if let Some(r) = &st.resp {
        body["resp"] = super::status::resp_json(r);
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// `POST /v1/verify?peer=HOST:PORT`: one anti-entropy round with a known peer, now.
async fn verify(State(st): State<AppState>, req: Request) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::method("POST"));
    }
    let mut peer = None;
    for (name, value) in query(&req)? {
        match name.as_str() {
            "peer" => peer = Some(String::from_utf8_lossy(&value).into_owned()),
            other => {
                return Err(ApiError::bad(
                    "bad_request",
                    format!("unknown parameter `{other}` (peer)"),
                ))
            }
        }
    }
    let Some(peer) = peer else {
        return Err(ApiError::bad("bad_request", "`peer` is required"));
    };
    // Only addresses the node already dials: the API must not make it dial anywhere.
    let known: Vec<String> = st
        .node
        .status()
        .peers
        .into_iter()
        .map(|p| p.address)
        .collect();
    if !known.contains(&peer) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_peer",
            format!(
                "{peer} is not a peer of this node (known: {})",
                known.join(", ")
            ),
        ));
    }
    match st.node.verify_peer(&peer).await {
        Ok(report) => Ok(json_response(
            StatusCode::OK,
            &super::status::repair_report_json(&peer, &report),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "peer_failed",
            format!("anti-entropy round with {peer} failed: {e}"),
        )),
    }
}

/// `GET /v1/members`.
async fn members(State(st): State<AppState>, req: Request) -> Result<Response, ApiError> {
    if req.method() != Method::GET {
        return Err(ApiError::method("GET"));
    }
    let body = super::status::members_json(&st.node.members());
    Ok(json_response(StatusCode::OK, &body))
}

/// `POST /v1/decommission?node=NODE_ID[&force=true]`.
async fn decommission(State(st): State<AppState>, req: Request) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::method("POST"));
    }
    let (mut node, mut force) = (None, false);
    for (name, value) in query(&req)? {
        let value = String::from_utf8_lossy(&value).into_owned();
        match name.as_str() {
            "node" => {
                let id = value.parse::<crate::NodeId>().map_err(|e| {
                    ApiError::bad(
                        "bad_request",
                        format!("`node` {value:?} is not a node id: {e}"),
                    )
                })?;
                node = Some(id);
            }
            "force" => {
                force = match value.as_str() {
                    "" | "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(ApiError::bad("bad_request", "`force` is true or false")),
                }
            }
            other => {
                return Err(ApiError::bad(
                    "bad_request",
                    format!("unknown parameter `{other}` (node, force)"),
                ))
            }
        }
    }
    let Some(node) = node else {
        return Err(ApiError::bad("bad_request", "`node` is required"));
    };
    if !st.node.members().iter().any(|m| m.node_id == node) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_member",
            format!("no member of this node's cluster has the id {node}"),
        ));
    }
    match st.node.decommission(node, force).await {
        Ok(()) => Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({ "decommissioned": node.to_string(), "forced": force }),
        )),
        Err(e @ crate::Error::NotDecommissioned { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_decommissioned",
            e.to_string(),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        )),
    }
}

/// `GET /metrics`.
async fn metrics(State(st): State<AppState>, req: Request) -> Result<Response, ApiError> {
    if req.method() != Method::GET {
        return Err(ApiError::method("GET"));
    }
    let mut text = super::metrics::render(&st.node.status(), &st.db.stats(), st.db.last_seq());
    if let Some(r) = &st.resp {
        text.push_str(&super::metrics::render_resp(r));
    }
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(response)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {} {}", req.method(), req.uri().path()),
    )
}
