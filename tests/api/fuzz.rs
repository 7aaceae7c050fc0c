//! Property-based fuzzing of the whole HTTP API from its own OpenAPI
//! document, with schemathesis (PyPI; `scripts/test.sh` installs it):
//! whatever a client sends, the server answers it without a 5xx.
//!
//! Two runs over every operation: one signed in, one anonymous. Each is
//! bounded (examples per operation, a fixed seed, a per-request timeout)
//! and killed when it takes longer than [`RUN_TIMEOUT`].

use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::helpers::{TestApp, send, signup_with_cookie, spawn_app};

/// The longest one schemathesis run may take before it is killed: a
/// bound against a hang, not a speed check. The two runs took 55 s on
/// their own on the 2-core test box, and more than 100 s beside the rest
/// of the suite in a slow hour; five times the first leaves room for both.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Operations no run sends, each for a reason of its own:
/// - logout and logout-all end the session the signed-in run fuzzes with;
/// - `POST /api/media` takes uploads up to hundreds of megabytes and queues
///   a transcode for each: slow, and it tests ffmpeg more than the API;
/// - a resumable upload's `PATCH` carries `application/offset+octet-stream`,
///   which schemathesis cannot generate (it stops with an error); its
///   `HEAD` and `DELETE` beside it get the odd inputs of
///   bad_input.rs, and the tus tests (photos.rs) its bad requests.
const EXCLUDED_ALWAYS: &[&str] = &[
    "/api/auth/logout",
    "/api/auth/logout-all",
    "/api/media",
    "/api/uploads/{id}",
];

/// Also excluded from the signed-in run: a successful sign-up or sign-in
/// gives the session a new id, the run's cookie stops working, and the
/// rest of that run would be anonymous; and ending one of the account's
/// sessions, since schemathesis's stateful phase feeds the ids that
/// `GET /api/me/sessions` lists (the run's own among them) to it. The
/// anonymous run covers them (accounts.rs their success and bad input).
const EXCLUDED_SIGNED_IN: &[&str] = &[
    "/api/auth/signup",
    "/api/auth/login",
    "/api/me/sessions/{id}",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_never_answers_a_server_error() {
    let app = spawn_app().await;
    let (client, cookie) = signup_with_cookie(&app, "fuzzer").await;
    // An admin, so that the console's routes are fuzzed past their
    // refusal too (an admin cannot ban or demote themself, so the run's
    // session survives them).
    let (_, me) = client.get("/api/me").await;
    let id = me["user"]["id"]
        .as_str()
        .and_then(|i| i.parse().ok())
        .expect("user id");
    app.state
        .writer
        .run(kith::store::moderation::SetAdmin {
            user: id,
            admin: true,
        })
        .await
        .expect("make the fuzzer an admin");
    let (signed_in, anonymous) = tokio::join!(
        schemathesis(&app, Some(&cookie), EXCLUDED_SIGNED_IN),
        schemathesis(&app, None, &[]),
    );
    assert!(
        signed_in.0,
        "signed in, schemathesis failed:\n{}",
        signed_in.1
    );
    assert!(
        anonymous.0,
        "anonymous, schemathesis failed:\n{}",
        anonymous.1
    );
    // The signed-in run was signed in throughout: nothing it sent ended
    // the session (else it fuzzed anonymously without saying so).
    let (status, _, body) = send(
        app.bare_client()
            .req(Method::GET, "/api/me")
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the fuzzing session ended: {body}");
}

/// Runs `schemathesis run` against `app`: whether it passed, and its output.
async fn schemathesis(app: &TestApp, cookie: Option<&str>, exclude: &[&str]) -> (bool, String) {
    // Its own working directory: schemathesis reads a `schemathesis.toml`
    // from there and may write reports and example databases.
    let cwd = tempfile::tempdir().expect("temp dir");
    // `schemathesis`, not its short alias `st`: Debian's `st` is a terminal.
    let mut cmd = tokio::process::Command::new("schemathesis");
    cmd.arg("run")
        .arg(app.url("/api/openapi.json"))
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--max-examples", "25"])
        .args(["--seed", "20260101"])
        .args(["--request-timeout", "10"])
        .args(["--workers", "2"])
        .args(["--generation-database", "none"])
        .args(["--no-color", "--warnings", "off"]);
    for path in EXCLUDED_ALWAYS.iter().chain(exclude) {
        cmd.args(["--exclude-path", path]);
    }
    if let Some(cookie) = cookie {
        cmd.args(["-H", &format!("Cookie: {cookie}")]);
    }
    cmd.current_dir(cwd.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .expect("schemathesis (scripts/test.sh installs it with pip)");
    let out = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran longer than {RUN_TIMEOUT:?}"))
        .expect("schemathesis ran");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
