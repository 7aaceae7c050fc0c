//! The programs a transcode needs, found once at start-up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ffmpeg_sidecar::command::FfmpegCommand;

/// The programs a transcode needs.
#[derive(Clone, Debug)]
pub struct Tools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    /// `setpriv`, when present, ties ffmpeg's life to ours.
    pub setpriv: Option<PathBuf>,
    /// `chrt`, when present, runs ffmpeg in the idle scheduling class.
    pub chrt: Option<PathBuf>,
    pub timeout: Duration,
}

/// Finds an executable: a path as given, or by name in PATH.
pub fn find(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

impl Tools {
    /// The tools, if ffmpeg and ffprobe can be found (`ffmpeg` may be a
    /// path; ffprobe is looked for beside it, then in PATH).
    pub fn locate(ffmpeg: &Path, timeout: Duration) -> Option<Tools> {
        let ffmpeg = find(ffmpeg)?;
        let beside = ffmpeg.with_file_name("ffprobe");
        let ffprobe = if beside.is_file() {
            beside
        } else {
            find(Path::new("ffprobe"))?
        };
        Some(Tools {
            ffmpeg,
            ffprobe,
            setpriv: find(Path::new("setpriv")),
            chrt: find(Path::new("chrt")),
            timeout,
        })
    }

    /// ffmpeg at the lowest CPU priority, dying with this process.
    pub(super) fn command(&self) -> FfmpegCommand {
        let mut cmd = match &self.setpriv {
            Some(setpriv) => {
                let mut c = FfmpegCommand::new_with_path(setpriv);
                // The sidecar put its `-loglevel` first; rebuild the line so
                // that setpriv and nice come before ffmpeg.
                let c2 = c.as_inner_mut();
                *c2 = std::process::Command::new(setpriv);
                c2.args(["--pdeathsig", "KILL", "--"]);
                if let Some(chrt) = &self.chrt {
                    // SCHED_IDLE: ffmpeg runs only when nothing else wants
                    // the CPU, which nice alone does not quite give.
                    c2.arg(chrt).args(["--idle", "0"]);
                }
                c2.args(["nice", "-n", "19"])
                    .arg(&self.ffmpeg)
                    .args(["-loglevel", "level+info"]);
                c
            }
            None => {
                let mut c = FfmpegCommand::new_with_path("nice");
                let c2 = c.as_inner_mut();
                *c2 = std::process::Command::new("nice");
                c2.args(["-n", "19"])
                    .arg(&self.ffmpeg)
                    .args(["-loglevel", "level+info"]);
                c
            }
        };
        let inner = cmd.as_inner_mut();
        inner
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.hide_banner();
        cmd.arg("-nostdin");
        cmd
    }
}
