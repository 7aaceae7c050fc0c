use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn signup_post_and_read_the_feed() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let id = alice.new_post("first post", "public").await;
    let (status, feed) = alice.get("/api/feed").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(feed["items"][0]["id"], json!(id));
    app.stop().await;
}
