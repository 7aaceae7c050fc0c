//! Test clips made by the real ffmpeg from its lavfi sources: a test
//! pattern and a tone, H.264/AAC in MP4. Shared by the test binaries.

use std::path::Path;
use std::time::Duration;

/// Writes a `w`×`h` clip of `secs` seconds to `path` (with the index up
/// front when `faststart`). Panics with ffmpeg's own message on failure.
pub async fn make_clip(path: &Path, w: u32, h: u32, secs: u32, faststart: bool) {
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={w}x{h}:rate=30:duration={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={secs}"))
        .args(["-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"]);
    if faststart {
        cmd.args(["-movflags", "+faststart"]);
    }
    cmd.arg(path).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("making a clip timed out")
        .expect("ffmpeg runs (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "ffmpeg could not make {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
