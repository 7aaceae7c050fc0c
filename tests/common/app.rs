//! `spawn_app()`: a kith server on a temp data dir and an ephemeral port,
//! started exactly as `main` starts it, with a cookie-keeping client.

use std::net::SocketAddr;
use std::path::PathBuf;

pub use crate::health::until_healthy;
pub use crate::wait::{TIMEOUT, within};
use kith::limits::Limits;
use kith::{App, Config};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestApp {
    pub addr: SocketAddr,
    /// The running server's state (its hub, its pools).
    pub state: kith::AppState,
    pub dir: Option<TempDir>,
    pub data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// `spawn_app` with a changed config (say, `secure_cookies`).
///
/// The abuse limits are off unless `change` turns them on: these tests act
/// as many users from one address, as fast as they can.
pub async fn spawn_with(change: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_dir(dir.path());
    config.limits = Limits::off();
    change(&mut config);
    let mut app = spawn_config(config).await;
    app.dir = Some(dir);
    app
}

/// Starts a server on an existing data dir (restart tests).
pub async fn spawn_on(data_dir: PathBuf) -> TestApp {
    let mut config = Config::for_dir(&data_dir);
    config.limits = Limits::off();
    spawn_config(config).await
}

/// `spawn_app` with the production limits on sign-in, sign-up and writes.
pub async fn spawn_limited() -> TestApp {
    spawn_with(|c| c.limits = Limits::default()).await
}

async fn spawn_config(config: Config) -> TestApp {
    let data_dir = config.data_dir.clone();
    let app = tokio::time::timeout(TIMEOUT, App::build(config))
        .await
        .expect("app build timed out")
        .expect("app builds");
    let addr = app.local_addr();
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        state,
        dir: None,
        data_dir,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A new client with its own cookie jar (a new browser).
    pub fn client(&self) -> Client {
        Client::browser(format!("http://{}", self.addr))
    }

    /// A new client without a cookie jar: cookies are only what a test puts
    /// in headers itself.
    pub fn bare_client(&self) -> Client {
        Client {
            base: format!("http://{}", self.addr),
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .expect("client"),
        }
    }

    /// A new client signed in (by `/api/auth/login`) as an existing user.
    pub async fn login(&self, username: &str) -> Client {
        let c = self.client();
        let (status, body) = c.login(username, &password_of(username)).await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        c
    }

    /// A client signed up as `username` (password `password-<username>`).
    pub async fn user(&self, username: &str) -> Client {
        let c = self.client();
        let (status, body) = c
            .post(
                "/api/auth/signup",
                json!({"username": username, "password": password_of(username)}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "signup {username}: {body}");
        c
    }

    /// Stops the server gracefully and waits for it; keeps the data dir.
    pub async fn stop(mut self) -> (Option<TempDir>, PathBuf) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(TIMEOUT, task)
                .await
                .expect("shutdown timed out")
                .expect("server task")
                .expect("server ran cleanly");
        }
        (self.dir.take(), self.data_dir.clone())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The password `TestApp::user` signs `username` up with.
pub fn password_of(username: &str) -> String {
    format!("password-{username}")
}

/// A browser-like client: keeps cookies, speaks JSON.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
}

impl Client {
    /// A client of the server at `base` that keeps its cookies, as a
    /// browser does.
    pub fn browser(base: String) -> Client {
        Client {
            base,
            http: reqwest::Client::builder()
                .cookie_store(true)
                .timeout(TIMEOUT)
                .build()
                .expect("client"),
        }
    }
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.expect("body read");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, Some(body)).await
    }
    pub async fn post_empty(&self, path: &str) -> (StatusCode, Value) {
        self.request(Method::POST, path, None).await
    }
    pub async fn put(&self, path: &str) -> (StatusCode, Value) {
        self.request(Method::PUT, path, None).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.request(Method::DELETE, path, None).await
    }

    /// Sends raw bytes with a content type (malformed-input tests).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let res = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = res.status();
        let text = res.text().await.expect("body read");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Uploads `data` as the one file field of a multipart form to `path`
    /// (`POST /api/media`, say).
    pub async fn upload(
        &self,
        path: &str,
        filename: &str,
        content_type: &str,
        data: &[u8],
    ) -> (StatusCode, Value) {
        let (form_ct, body) = multipart(filename, content_type, data);
        self.raw(Method::POST, path, &form_ct, body).await
    }

    /// A request builder on this client (to add headers of a test's own).
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{}", self.base, path))
    }

    pub async fn login(&self, username: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/auth/login",
            json!({"username": username, "password": password}),
        )
        .await
    }

    /// Creates a post and returns its id.
    pub async fn new_post(&self, body: &str, visibility: &str) -> String {
        let (status, v) = self
            .post(
                "/api/posts",
                json!({"body": body, "visibility": visibility}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v["post"]["id"].as_str().expect("post id").to_string()
    }

    /// Comments on `post` and returns the comment's id.
    pub async fn new_comment(&self, post: &str, body: &str) -> String {
        let (status, v) = self
            .post(
                &format!("/api/posts/{post}/comments"),
                json!({"body": body}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v["comment"]["id"].as_str().expect("comment id").to_string()
    }

    /// Makes `self` (signed in as `me`) and `other` (signed in as `them`) friends.
    pub async fn befriend(&self, other: &Client, them: &str) {
        let (status, v) = self
            .post("/api/friends/requests", json!({"username": them}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        let id = v["id"].as_str().expect("request id").to_string();
        let (status, v) = other
            .post_empty(&format!("/api/friends/requests/{id}/accept"))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    }
}

/// Asserts the JSON error shape and returns its code.
/// A multipart form with one file field `file`: its content type (with
/// the boundary) and its bytes.
pub fn multipart(filename: &str, content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "kith-test-boundary-7d1";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub fn error_code(v: &Value) -> &str {
    let code = v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {v}"));
    assert!(
        v["error"]["message"].is_string(),
        "error without message: {v}"
    );
    code
}

/// Sends a request; returns its status, headers and body (JSON when it
/// parses, else a JSON string; `null` when empty).
pub async fn send(req: RequestBuilder) -> (StatusCode, HeaderMap, Value) {
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body read");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, value)
}

/// Asserts that `v` is an error body with this code.
pub fn assert_error(v: &Value, code: &str) {
    assert_eq!(error_code(v), code, "{v}");
}

/// The value of the cookie `name` set by these response headers, if any.
pub fn set_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| {
            c.split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .is_some_and(|(k, _)| k.trim() == name)
        })
}

/// The value part of a `Set-Cookie` header (`name=value; …` → `value`).
pub fn cookie_value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.trim())
        .expect("a name=value cookie")
}

/// The ids of a page's items, in order.
pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|i| i["id"].as_str().expect("item id").to_string())
        .collect()
}

impl TestApp {
    /// Runs a `SELECT COUNT(*)`-like query straight on the database file
    /// (read-only), to check what the API cannot show.
    pub async fn db_count(&self, sql: &str) -> i64 {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(self.data_dir.join("kith.db"))
            .read_only(true)
            .connect()
            .await
            .expect("open the database");
        let n: i64 = within(sqlx::query_scalar(sql).fetch_one(&mut conn))
            .await
            .expect("count query");
        n
    }
}

/// Sends raw bytes over a plain socket (for requests an HTTP client would
/// refuse or normalize) and returns the status, the head and the body.
/// The server may answer and close before reading everything: write errors
/// are ignored and the answer read regardless.
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within(async {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let _ = s.write_all(request).await;
        let mut res = Vec::new();
        let _ = s.read_to_end(&mut res).await;
        let text = String::from_utf8_lossy(&res).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .map(|(h, b)| (h.to_string(), b.to_string()))
            .unwrap_or_else(|| (text.clone(), String::new()));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {text:?}"));
        (status, head, body)
    })
    .await
}

/// Signs `name` up; returns a client with the session and the cookie itself.
pub async fn signup_with_cookie(app: &TestApp, name: &str) -> (Client, String) {
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("client");
    let res = http
        .post(app.url("/api/auth/signup"))
        .json(&json!({"username": name, "password": format!("password-{name}")}))
        .send()
        .await
        .expect("signup");
    assert_eq!(res.status(), StatusCode::CREATED);
    let cookie = crate::session::session_cookie(res.headers()).expect("session cookie");
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let url: reqwest::Url = app.url("/").parse().expect("url");
    jar.add_cookie_str(&cookie, &url);
    let client = Client {
        base: format!("http://{}", app.addr),
        http: reqwest::Client::builder()
            .cookie_provider(jar)
            .timeout(TIMEOUT)
            .build()
            .expect("client"),
    };
    (client, cookie)
}

// ---- users and their realtime connections --------------------------------

/// A signed-up user: their HTTP client and session cookie.
pub struct Person {
    pub name: String,
    pub http: Client,
    pub cookie: String,
}

pub async fn person(app: &TestApp, name: &str) -> Person {
    let (http, cookie) = signup_with_cookie(app, name).await;
    Person {
        name: name.into(),
        http,
        cookie,
    }
}

/// Starts (or finds) the direct conversation with a friend; its id.
pub async fn direct(c: &Client, with: &str) -> String {
    let (status, v) = c
        .post("/api/conversations", json!({"members": [with]}))
        .await;
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().expect("id").to_string()
}

impl crate::ws::Server for TestApp {
    fn http_addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

impl crate::ws::Member for Person {
    fn cookie(&self) -> &str {
        &self.cookie
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// The WebSocket handshake alone: the connection and its HTTP status.
pub async fn ws_request(
    app: &TestApp,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Result<(crate::ws::Ws, u16), tokio_tungstenite::tungstenite::Error> {
    crate::ws::Ws::connect(app.addr, cookie, origin).await
}

/// What the server publishes for WebTransport: its URL and hashes.
async fn config(p: &Person) -> (String, Vec<String>) {
    let (status, cfg) = p.http.get("/api/realtime/config").await;
    assert_eq!(status, 200, "{cfg}");
    crate::wt::published(&cfg)
}

pub async fn wt_connect(
    p: &Person,
    ticket: &str,
    origin: Option<&str>,
) -> Result<wtransport::Connection, wtransport::error::ConnectingError> {
    let (url, hashes) = config(p).await;
    crate::wt::connect(&url, ticket, &hashes, origin).await
}

pub async fn ticket(p: &Person) -> String {
    let (status, v) = p.http.post_empty("/api/realtime/ticket").await;
    assert_eq!(status, 200, "{v}");
    v["ticket"].as_str().expect("ticket").to_string()
}

/// Routes a test defines (one that panics, one that fails) behind kith's
/// own layers, served on a loopback port until dropped.
pub struct Layered {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    server: JoinHandle<std::io::Result<()>>,
}

impl Layered {
    pub async fn serve(routes: axum::Router<kith::AppState>, state: kith::AppState) -> Layered {
        let router = kith::app::with_layers(routes, state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .expect("client");
        Layered { addr, http, server }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Layered {
    fn drop(&mut self) {
        self.server.abort();
    }
}
