//! The session cookie a response sets, as `kith=VALUE`, ready to send back
//! in a `cookie` header. Shared by the test binaries.

pub fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("kith="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}
