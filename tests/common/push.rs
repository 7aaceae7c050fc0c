//! web-push-testing (npm), a push service on loopback for the tests: it
//! checks each request's VAPID JWT against the key the subscription was
//! made with, decrypts the aes128gcm payload as a browser would, and lists
//! what each subscription received. Each test suite uses part of it.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::wait::TIMEOUT;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// web-push-testing on a free loopback port, stopped on drop.
pub struct PushService {
    pub port: u16,
    base: String,
    http: reqwest::Client,
    _child: tokio::process::Child,
}

/// A browser's subscription as the push service made it.
pub struct Browser {
    pub json: Value,
    pub hash: String,
}

impl PushService {
    pub async fn start() -> PushService {
        let port = free_port();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/e2e/node_modules/web-push-testing/src/bin/server.js"
        );
        assert!(
            std::path::Path::new(script).exists(),
            "{script} is missing: scripts/test.sh installs it (npm ci --prefix e2e)"
        );
        let child = tokio::process::Command::new("node")
            .arg(script)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs web-push-testing");
        let s = PushService {
            port,
            base: format!("http://localhost:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            _child: child,
        };
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if let Ok(r) = s.http.post(format!("{}/status", s.base)).send().await
                && r.status() == 200
            {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "web-push-testing did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A subscription for kith's VAPID key, as `pushManager.subscribe` makes.
    pub async fn subscribe(&self, key: &str) -> Browser {
        let r: Value = self
            .http
            .post(format!("{}/subscribe", self.base))
            // Its form-style API takes the flag as a string.
            .json(&json!({"userVisibleOnly": "true", "applicationServerKey": key}))
            .send()
            .await
            .expect("subscribe")
            .json()
            .await
            .expect("json");
        let data = &r["data"];
        Browser {
            json: json!({"endpoint": data["endpoint"], "expirationTime": null, "keys": data["keys"]}),
            hash: data["clientHash"].as_str().expect("clientHash").to_string(),
        }
    }

    /// The payloads the browser received, decrypted by the push service.
    pub async fn received(&self, b: &Browser) -> Vec<Value> {
        let r: Value = self
            .http
            .post(format!("{}/get-notifications", self.base))
            .json(&json!({"clientHash": b.hash}))
            .send()
            .await
            .expect("get-notifications")
            .json()
            .await
            .expect("json");
        r["data"]["messages"]
            .as_array()
            .unwrap_or_else(|| panic!("no messages: {r}"))
            .iter()
            .map(|m| match m {
                Value::String(s) => serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}")),
                other => other.clone(),
            })
            .collect()
    }

    pub async fn until_received(&self, b: &Browser, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let got = self.received(b).await;
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} pushes never arrived (got {got:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The browser unsubscribed: the service answers 410 from now on.
    pub async fn expire(&self, b: &Browser) {
        let r = self
            .http
            .post(format!("{}/expire-subscription/{}", self.base, b.hash))
            .send()
            .await
            .expect("expire");
        assert_eq!(r.status(), 200);
    }
}

/// Push jobs not done yet (neither succeeded nor given up).
pub const PENDING_PUSHES: &str =
    "SELECT count(*) FROM jobs WHERE kind = 'web_push' AND status NOT IN ('succeeded', 'dead')";

/// Waits until `pending()` (a count of [`PENDING_PUSHES`]) is 0, so a test
/// can say that the jobs made so far sent nothing more.
pub async fn until_no_pending<F, Fut>(pending: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = i64>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while pending().await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "push jobs never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
