//! The admin console's overview and cluster pages on a single node: for
//! admins only; requests, 4xx and 5xx counted into the current minute;
//! live connections; the hour's shape.

use axum::Router;
use axum::http::StatusCode as AxumStatus;
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Client, Layered, TestApp, person, spawn_app, within};
use crate::wait::{TIMEOUT, eventually};
use crate::ws::Ws;
use kith::ids::Id;
use kith::store::moderation::SetAdmin;

/// Signs `name` up and makes them an admin (through the writer).
async fn admin(app: &TestApp, name: &str) -> Client {
    let c = app.user(name).await;
    let (_, me) = c.get("/api/me").await;
    let id: Id = me["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("valid id");
    within(app.state.writer.run(SetAdmin {
        user: id,
        admin: true,
    }))
    .await
    .expect("made an admin");
    c
}

async fn overview(c: &Client) -> Value {
    let (s, v) = c.get("/api/admin/overview").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// A count over the current minute and every minute of the series: it
/// never loses a request when a minute ends between two reads.
fn total(v: &Value, field: &str) -> i64 {
    let series = v["series"].as_array().expect("series");
    v["current"][field].as_i64().expect("a count")
        + series
            .iter()
            .map(|p| p[field].as_i64().expect("a count"))
            .sum::<i64>()
}

#[tokio::test]
async fn the_stats_pages_are_for_admins_only() {
    let app = spawn_app().await;
    let anon = app.client();
    let user = app.user("bob").await;
    for path in ["/api/admin/overview", "/api/admin/cluster"] {
        let (s, _) = anon.get(path).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
        let (s, _) = user.get(path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let (s, doc) = anon.get("/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    for path in ["/api/admin/overview", "/api/admin/cluster"] {
        assert_eq!(doc["paths"][path]["get"]["tags"][0], "admin", "{path}");
    }
}

#[tokio::test]
async fn requests_and_errors_count_into_the_current_minute() {
    let app = spawn_app().await;
    let root = admin(&app, "root").await;

    let before = overview(&root).await;
    assert_eq!(before["step_secs"], 60);
    assert_eq!(before["nodes"], 1);
    assert_eq!(before["series"].as_array().expect("series").len(), 60);
    let first = &before["series"][0];
    assert!(
        first["at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{first}"
    );
    assert!(before["now"].as_str().is_some(), "{before}");
    assert!(
        before["current"]["queue_depth"].as_i64().is_some(),
        "{before}"
    );

    // 5 answered, 2 refused (404), 3 failing (500) behind the same layers,
    // so counted by the same node.
    for _ in 0..5 {
        let (s, _) = root.get("/api/me").await;
        assert_eq!(s, StatusCode::OK);
    }
    let missing = format!("/api/jobs/{}", Id(123_456_789));
    for _ in 0..2 {
        let (s, _) = root.get(&missing).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let routes: Router<kith::AppState> = Router::new().route(
        "/fails",
        get(|| async { (AxumStatus::INTERNAL_SERVER_ERROR, "no") }),
    );
    let server = Layered::serve(routes, app.state.clone()).await;
    for _ in 0..3 {
        let res = within(server.http.get(server.url("/fails")).send())
            .await
            .expect("response");
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    drop(server);

    let after = overview(&root).await;
    // The first overview itself counts too.
    assert_eq!(
        total(&after, "requests") - total(&before, "requests"),
        1 + 5 + 2 + 3,
        "{before}\n{after}"
    );
    assert_eq!(
        total(&after, "client_errors") - total(&before, "client_errors"),
        2
    );
    assert_eq!(total(&after, "errors") - total(&before, "errors"), 3);
    let c = &after["current"];
    assert!(c["requests_per_sec"].as_f64().expect("rate") > 0.0, "{c}");
    assert!(c["errors_per_min"].as_f64().expect("rate") > 0.0, "{c}");
    assert!(c["p99_ms"].as_f64().expect("a p99") > 0.0, "{c}");
}

#[tokio::test]
async fn a_single_node_lists_itself_with_its_connections() {
    let app = spawn_app().await;
    let root = admin(&app, "root").await;
    let alice = person(&app, "alice").await;
    let _ws = Ws::open(&app, &alice).await;

    let (s, v) = root.get("/api/admin/cluster").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let nodes = v["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 1, "{v}");
    let me = &nodes[0];
    assert_eq!(me["this_node"], true);
    assert_eq!(me["reachable"], true);
    assert_eq!(me["role"], "primary");
    assert_eq!(me["endpoint_id"], Value::Null);
    assert_eq!(me["connections"], 1, "{me}");
    assert_eq!(me["http_addr"], app.addr.to_string());
    assert_eq!(me["series"].as_array().expect("series").len(), 60);

    let o = overview(&root).await;
    assert_eq!(o["current"]["connections"], 1, "{o}");

    // The sampler (every 2 s) keeps the gauges: its last sample reports
    // the lag.
    eventually("a sample", TIMEOUT, || async {
        let (_, v) = root.get("/api/admin/cluster").await;
        (v["nodes"][0]["replication_lag_ms"] == 0).then_some(())
    })
    .await;
}
