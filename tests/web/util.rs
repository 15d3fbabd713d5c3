//! The test server (the real router on a real listener) and a minimal HTTP/1.1 client.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use pmtwatch::store::{Role, Store};
use pmtwatch::web::{self, AppState, WebConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Accounts every test server starts with: (name, role, password).
pub const USERS: [(&str, Role, &str); 3] = [
    ("ada", Role::Admin, "admin-password"),
    ("otto", Role::Operator, "operator-password"),
    ("olga", Role::Observer, "observer-password"),
];

/// A running server with its own data directory; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Store,
    /// The server's handles (its monitor knows the data directory and run directories).
    pub state: AppState,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    /// The server's data directory (database, `runs/`, `references/`).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub async fn start() -> TestServer {
    start_with(WebConfig::default()).await
}

pub async fn start_with(config: WebConfig) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_dir(dir.path()).expect("open store");
    for (name, role, pw) in USERS {
        store.add_user(name, role, pw).expect("add user");
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let monitor = pmtwatch::monitor::Monitor::start(
        store.clone(),
        dir.path(),
        env!("CARGO_BIN_EXE_pmtwatch").to_string(),
    )
    .await
    .expect("start the monitor");
    let state = AppState::new(store.clone(), config, monitor);
    tokio::spawn(web::serve(listener, state.clone(), async move {
        let _ = rx.await;
    }));
    TestServer {
        addr,
        store,
        state,
        dir,
        stop: Some(tx),
    }
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy for binary bodies; use `bytes` for those).
    pub body: String,
    /// The body as sent (de-chunked when the answer was chunked).
    pub bytes: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The session cookie's value from `Set-Cookie`, if set.
    pub fn session_cookie(&self) -> Option<String> {
        let sc = self.header("set-cookie")?;
        let v = sc.strip_prefix("pmtwatch_session=")?.split(';').next()?;
        (!v.is_empty()).then(|| v.to_string())
    }
}

fn parse_head(head: &str) -> (u16, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

/// Sends `request` (a full HTTP/1.1 request with `Connection: close`) and reads the answer.
pub async fn raw(addr: SocketAddr, request: String) -> Response {
    raw_bytes(addr, request.into_bytes()).await
}

/// Like [`raw`], for a request with a binary body.
pub async fn raw_bytes(addr: SocketAddr, request: Vec<u8>) -> Response {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&request).await.expect("write");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.expect("read");
        buf
    };
    let buf = tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("the server answered within 30 s");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let raw_body = buf.get(split + 4..).unwrap_or_default();
    let (status, headers) = parse_head(&head);
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let bytes = if chunked {
        dechunk(raw_body)
    } else {
        raw_body.to_vec()
    };
    Response {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).to_string(),
        bytes,
    }
}

/// Decodes a chunked HTTP/1.1 body (no trailers expected).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]).to_string();
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let end = (start + size).min(raw.len());
        out.extend_from_slice(&raw[start..end]);
        raw = raw.get(end + 2..).unwrap_or_default();
    }
    out
}

/// Sends `METHOD path` with extra headers (`("Authorization", "Bearer …")`) and a body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    raw_bytes(addr, bytes).await
}

/// `GET path` with the session cookie, if any, and a bearer token, if any.
pub async fn get_with(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    bearer: Option<&str>,
) -> Response {
    let cookie = cookie.map(|c| format!("pmtwatch_session={c}"));
    let bearer = bearer.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    if let Some(c) = &cookie {
        headers.push(("Cookie", c.as_str()));
    }
    if let Some(b) = &bearer {
        headers.push(("Authorization", b.as_str()));
    }
    request(addr, "GET", path, &headers, b"").await
}

fn cookie_header(cookie: Option<&str>) -> String {
    cookie
        .map(|c| format!("Cookie: pmtwatch_session={c}\r\n"))
        .unwrap_or_default()
}

pub async fn get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Response {
    raw(
        addr,
        format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{}Connection: close\r\n\r\n",
            cookie_header(cookie)
        ),
    )
    .await
}

/// Percent-encodes a form value.
pub fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn post_form(addr: SocketAddr, path: &str, body: &str, extra_headers: &str) -> Response {
    raw(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

pub async fn login_response(addr: SocketAddr, user: &str, password: &str, extra: &str) -> Response {
    let body = format!(
        "username={}&password={}",
        form_encode(user),
        form_encode(password)
    );
    post_form(addr, "/login", &body, extra).await
}

/// Logs in and returns the session cookie's value.
pub async fn login(addr: SocketAddr, user: &str, password: &str) -> String {
    let r = login_response(addr, user, password, "").await;
    assert_eq!(r.status, 303, "login of {user} failed: {r:?}");
    r.session_cookie().expect("a session cookie")
}

/// Starts a WebSocket handshake on `/ws`; returns the status and the open stream.
pub async fn ws_handshake(
    addr: SocketAddr,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> (u16, TcpStream) {
    ws_handshake_at(addr, "/ws", cookie, origin).await
}

/// Like [`ws_handshake`], on `path` (e.g. `/ws?run=1&point=theta0_phi0`).
pub async fn ws_handshake_at(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> (u16, TcpStream) {
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}{}\r\n",
        cookie_header(cookie)
    );
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let read_head = async {
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).await.expect("read") == 0 {
                break;
            }
            head.push(byte[0]);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_head)
        .await
        .expect("handshake answered within 30 s");
    let (status, _) = parse_head(&String::from_utf8_lossy(&head));
    (status, s)
}
