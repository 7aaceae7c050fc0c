//! Running ffprobe on an upload; what its answer means is
//! [`kith_core::sniff`]'s.

use std::path::Path;
use std::time::Duration;

pub use kith_core::sniff::{Probe, looks_like_video, parse_probe};

/// Runs ffprobe on `file` (at most 30 s).
pub async fn probe(ffprobe: &Path, file: &Path) -> Option<Probe> {
    let run = tokio::process::Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height:format=duration",
            "-of",
            "json",
        ])
        .arg(file)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .ok()?
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_probe(&out.stdout)
}
