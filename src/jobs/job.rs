//! What a worker runs: the kinds of job this build knows, each a
//! [`JobKind`], and what a running job can see and report ([`JobCtx`]).
//!
//! The worker finds a claimed job's kind by name in [`Kinds`], which the
//! server's wiring fills; the queue itself knows no kind.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;

use crate::store::jobs::Claimed;

/// Why a job's attempt did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (a crash, a timeout, an I/O error).
    #[error("{0}")]
    Retryable(String),
    /// Will fail again however often it is tried (bad input).
    #[error("{0}")]
    Permanent(String),
    /// Stopped because it was cancelled, lost its lease or the node is
    /// shutting down.
    #[error("stopped")]
    Stopped,
}

/// What a running job can see and report.
#[derive(Clone)]
pub struct JobCtx {
    pub job: Claimed,
    /// Set when the job must stop: cancelled, lease lost, or shutdown.
    pub stop: Arc<AtomicBool>,
    progress: Arc<AtomicU64>,
}

impl JobCtx {
    /// A claimed job's context: not stopped, no progress yet.
    pub fn new(job: Claimed) -> JobCtx {
        JobCtx {
            job,
            stop: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(AtomicU64::new(0f64.to_bits())),
        }
    }

    /// Reports progress in [0, 1].
    pub fn set_progress(&self, p: f64) {
        let p = if p.is_nan() { 0.0 } else { p };
        self.progress
            .store(p.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    pub fn progress(&self) -> f64 {
        f64::from_bits(self.progress.load(Ordering::Relaxed))
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A kind of job: its work, and what its owner hears of it.
#[async_trait]
pub trait JobKind: Send + Sync + 'static {
    /// The name jobs of this kind are enqueued under.
    fn name(&self) -> &'static str;

    /// Runs one attempt. A kind holds what its jobs use (the writer, a
    /// store, tools), given when the wiring registers it.
    async fn run(&self, ctx: &JobCtx) -> Result<(), JobError>;

    /// The attempt's progress reached the database.
    async fn progressed(&self, _job: &Claimed) {}

    /// The attempt ended, whatever its outcome.
    async fn finished(&self, _job: &Claimed) {}
}

/// A job that does nothing: for tests and benchmarks of the queue itself.
pub struct Noop;

#[async_trait]
impl JobKind for Noop {
    fn name(&self) -> &'static str {
        "noop"
    }

    async fn run(&self, _ctx: &JobCtx) -> Result<(), JobError> {
        Ok(())
    }
}

/// The kinds a worker runs, by name.
#[derive(Clone, Default)]
pub struct Kinds(Vec<Arc<dyn JobKind>>);

impl Kinds {
    pub fn new(kinds: Vec<Arc<dyn JobKind>>) -> Kinds {
        Kinds(kinds)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn JobKind>> {
        self.0.iter().find(|k| k.name() == name)
    }

    /// Those of them named in `names`.
    pub fn only(&self, names: &[&str]) -> Kinds {
        Kinds(
            self.0
                .iter()
                .filter(|k| names.contains(&k.name()))
                .cloned()
                .collect(),
        )
    }

    /// Their names, as a claim asks for them.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|k| k.name().to_string()).collect()
    }
}

impl std::fmt::Debug for Kinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|k| k.name()))
            .finish()
    }
}
