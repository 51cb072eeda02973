//! [`Client`]: a small HTTP/1.1 client of the server's API (one connection per request, over
//! hyper), behind `meshkv get|put|del|ls|status|watch` and used by the tests.
//!
//! Keys are raw bytes; the client percent-encodes them ([`super::urlkey`]).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::urlkey;

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server address is not `http://host:port` (or `host:port`).
    #[error("bad server address {0:?}: expected http://host:port")]
    Address(String),
    /// Connecting or talking failed.
    #[error("cannot reach the server: {0}")]
    Io(#[from] std::io::Error),
    /// An HTTP-level failure.
    #[error("HTTP error: {0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built.
    #[error("bad request: {0}")]
    Request(#[from] hyper::http::Error),
    /// The server answered with an error.
    #[error("{status}: {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error's code (`not_found`, `value_too_large`...).
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server's answer does not parse.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Value, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Unexpected(e.to_string()))
    }

    /// `Err(ClientError::Api)` for a non-2xx status.
    pub fn ok(self) -> Result<Reply, ClientError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let json = self.json().unwrap_or(Value::Null);
        let text = |k: &str| {
            json.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Err(ClientError::Api {
            status: self.status,
            code: text("code"),
            message: text("message"),
        })
    }
}

/// An open streaming response (server-sent events).
pub struct Stream {
    body: Incoming,
    buffer: Vec<u8>,
}

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (empty for none).
    pub event: String,
    /// `id:`.
    pub id: Option<String>,
    /// `data:` lines, joined by newlines.
    pub data: String,
}

impl Stream {
    /// The next event; `None` when the server closed the stream. Comments (keep-alives) are
    /// skipped.
    pub async fn next_event(&mut self) -> Result<Option<SseEvent>, ClientError> {
        loop {
            if let Some(end) = find_blank_line(&self.buffer) {
                let block: Vec<u8> = self.buffer.drain(..end.1).collect();
                let text = String::from_utf8_lossy(&block[..end.0]).into_owned();
                let mut event = SseEvent::default();
                let mut data: Vec<&str> = Vec::new();
                for line in text.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "event" => event.event = value.to_string(),
                        "id" => event.id = Some(value.to_string()),
                        "data" => data.push(value),
                        _ => {}
                    }
                }
                if data.is_empty() && event.event.is_empty() {
                    continue; // a comment or keep-alive
                }
                event.data = data.join("\n");
                return Ok(Some(event));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

/// The end of the first event block: (its length, its length with the blank line).
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    authority: String,
}

impl Client {
    /// A client of `http://host:port` (or `host:port`).
    pub fn new(addr: &str) -> Result<Client, ClientError> {
        let authority = addr.strip_prefix("http://").unwrap_or(addr);
        let authority = authority.trim_end_matches('/');
        let well_formed = authority
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !well_formed || authority.contains('/') {
            return Err(ClientError::Address(addr.to_string()));
        }
        Ok(Client {
            authority: authority.to_string(),
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        let stream = tokio::net::TcpStream::connect(&self.authority).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.authority)
            .body(Full::new(Bytes::from(body)))?;
        Ok(sender.send_request(request).await?)
    }

    /// Any request (`path` with its query, already encoded); the reply whatever its status.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Reply, ClientError> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        let response = self.send(method, path, body).await?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let body = response.into_body().collect().await?.to_bytes().to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// The value at `key` and its reply (version headers); `None` when absent or deleted.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Reply>, ClientError> {
        let reply = self.request("GET", &kv_path(key), Vec::new()).await?;
        if reply.status == StatusCode::NOT_FOUND.as_u16() {
            return Ok(None);
        }
        reply.ok().map(Some)
    }

    /// Stores `value` at `key`; the version as JSON `{"clock", "timestamp", "origin"}`.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<Value, ClientError> {
        self.request("PUT", &kv_path(key), value.to_vec())
            .await?
            .ok()?
            .json()
    }

    /// Stores `value` at `key` until `ttl_secs` seconds from now; the version as JSON (with
    /// `expires_at`, ms since the Unix epoch).
    pub async fn put_with_ttl(
        &self,
        key: &[u8],
        value: &[u8],
        ttl_secs: u64,
    ) -> Result<Value, ClientError> {
        let path = format!("{}?ttl={ttl_secs}", kv_path(key));
        self.request("PUT", &path, value.to_vec())
            .await?
            .ok()?
            .json()
    }

    /// Gives the live value at `key` the deadline `ttl_secs` seconds from now (`POST ?ttl=`, a
    /// new write of the value): the write's version as JSON (with `expires_at`), or `None` when
    /// the key holds no live value (404 `not_found`: nothing was written).
    pub async fn expire(&self, key: &[u8], ttl_secs: u64) -> Result<Option<Value>, ClientError> {
        let path = format!("{}?ttl={ttl_secs}", kv_path(key));
        self.rewrite(&path).await
    }

    /// Removes the deadline of the live value at `key` (`POST ?persist`, a new write of the
    /// value without one): the write's version as JSON, or `None` when the key holds no live
    /// value (404 `not_found`: nothing was written).
    pub async fn persist(&self, key: &[u8]) -> Result<Option<Value>, ClientError> {
        let path = format!("{}?persist", kv_path(key));
        self.rewrite(&path).await
    }

    /// A `POST` that rewrites a key's live value: its version, or `None` for `not_found`.
    async fn rewrite(&self, path: &str) -> Result<Option<Value>, ClientError> {
        match self.request("POST", path, Vec::new()).await?.ok() {
            Ok(reply) => reply.json().map(Some),
            Err(ClientError::Api { status, code, .. })
                if status == StatusCode::NOT_FOUND.as_u16() && code == "not_found" =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes `key`; the delete's version as JSON.
    pub async fn delete(&self, key: &[u8]) -> Result<Value, ClientError> {
        self.request("DELETE", &kv_path(key), Vec::new())
            .await?
            .ok()?
            .json()
    }

    /// One page of live keys under `prefix` after `after`: `{"items", "next_after"}`.
    pub async fn list(
        &self,
        prefix: &[u8],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Value, ClientError> {
        let mut path = format!("/v1/kv?prefix={}&limit={limit}", urlkey::encode(prefix));
        if let Some(after) = after {
            path.push_str("&after=");
            path.push_str(after);
        }
        self.request("GET", &path, Vec::new()).await?.ok()?.json()
    }

    /// `GET /v1/status` as JSON.
    pub async fn status(&self) -> Result<Value, ClientError> {
        self.request("GET", "/v1/status", Vec::new())
            .await?
            .ok()?
            .json()
    }

    /// `POST /v1/verify?peer=`: one anti-entropy round with the peer at `peer` (`host:port`,
    /// one of the server's peers), as JSON.
    pub async fn verify_peer(&self, peer: &str) -> Result<Value, ClientError> {
        let path = format!("/v1/verify?peer={}", super::urlkey::encode(peer.as_bytes()));
        self.request("POST", &path, Vec::new()).await?.ok()?.json()
    }

    /// `GET /v1/members` as JSON.
    pub async fn members(&self) -> Result<Value, ClientError> {
        self.request("GET", "/v1/members", Vec::new())
            .await?
            .ok()?
            .json()
    }

    /// `POST /v1/decommission?node=`: removes member `node` (32 hex digits) for good; `force`
    /// skips the check that every member holds its writes.
    pub async fn decommission(&self, node: &str, force: bool) -> Result<Value, ClientError> {
        let path = format!(
            "/v1/decommission?node={}&force={force}",
            super::urlkey::encode(node.as_bytes())
        );
        self.request("POST", &path, Vec::new()).await?.ok()?.json()
    }

    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let reply = self.request("GET", "/metrics", Vec::new()).await?.ok()?;
        Ok(String::from_utf8_lossy(&reply.body).into_owned())
    }

    /// Opens `GET /v1/watch` under `prefix`, from sequence `from` if given.
    pub async fn watch(&self, prefix: &[u8], from: Option<u64>) -> Result<Stream, ClientError> {
        let mut path = format!("/v1/watch?prefix={}", urlkey::encode(prefix));
        if let Some(from) = from {
            path.push_str(&format!("&from={from}"));
        }
        let response = self.send(Method::GET, &path, Vec::new()).await?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes().to_vec();
            let reply = Reply {
                status,
                headers: Vec::new(),
                body,
            };
            return Err(reply
                .ok()
                .err()
                .unwrap_or_else(|| ClientError::Unexpected(format!("status {status}"))));
        }
        let is_sse = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .is_some_and(|v: &HeaderValue| v.as_bytes().starts_with(b"text/event-stream"));
        if !is_sse {
            return Err(ClientError::Unexpected("not an event stream".into()));
        }
        Ok(Stream {
            body: response.into_body(),
            buffer: Vec::new(),
        })
    }
}

/// `/v1/kv/` and the percent-encoded key.
pub fn kv_path(key: &[u8]) -> String {
    format!("/v1/kv/{}", urlkey::encode(key))
}
