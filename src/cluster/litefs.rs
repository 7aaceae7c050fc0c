//! LiteFS's contract, as kith reads it from the mount directory:
//!
//! - `<mount>/.primary` exists only on replicas and holds the primary's
//!   name (its lease hostname); on the primary it is absent.
//! - `<mount>/<db>-pos` holds the database's replication position as
//!   `TXID/CHECKSUM`, both 16 hex digits; the TXID grows by one per
//!   committed transaction, on the primary at commit and on a replica when
//!   it has applied that transaction.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

/// A LiteFS mount and the database file in it.
#[derive(Clone, Debug)]
pub struct LiteFs {
    dir: PathBuf,
    pos_file: PathBuf,
}

impl LiteFs {
    pub fn new(dir: &Path, db: &Path) -> LiteFs {
        let name = db
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kith.db".into());
        LiteFs {
            dir: dir.to_path_buf(),
            pos_file: dir.join(format!("{name}-pos")),
        }
    }

    /// The primary's name while this node is a replica; `None` while this
    /// node holds the lease (is the primary).
    pub fn primary(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join(".primary"))
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    /// The local copy's replication position (TXID), if LiteFS reports one.
    pub fn position(&self) -> Option<u64> {
        std::fs::read_to_string(&self.pos_file)
            .ok()
            .and_then(|s| parse_pos(&s))
    }

    /// Waits until the local copy has reached `txid`, for at most
    /// `timeout`; true when it has.
    pub async fn wait_for(&self, txid: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(200);
        loop {
            if self.position().is_some_and(|p| p >= txid) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }
}

/// Parses `TXID/CHECKSUM` (hex); returns the TXID.
pub fn parse_pos(s: &str) -> Option<u64> {
    let txid = s.trim().split('/').next()?;
    u64::from_str_radix(txid, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_as_litefs_writes_them() {
        assert_eq!(parse_pos("00000000000000a1/8f3c2b1a00000000\n"), Some(0xa1));
        assert_eq!(parse_pos("0000000000000000/0000000000000000"), Some(0));
        assert_eq!(parse_pos("garbage"), None);
        assert_eq!(parse_pos(""), None);
    }

    #[tokio::test]
    async fn the_primary_file_and_position_are_read_from_the_mount() {
        let dir = tempfile::tempdir().expect("dir");
        let fs = LiteFs::new(dir.path(), &dir.path().join("kith.db"));
        assert_eq!(fs.primary(), None);
        std::fs::write(dir.path().join(".primary"), "node-a\n").expect("write");
        assert_eq!(fs.primary().as_deref(), Some("node-a"));
        assert_eq!(fs.position(), None);
        assert!(!fs.wait_for(3, Duration::from_millis(20)).await);
        let pos = dir.path().join("kith.db-pos");
        std::fs::write(&pos, "0000000000000002/0000000000000000").expect("write");
        assert!(!fs.wait_for(3, Duration::from_millis(20)).await);
        let later = {
            let pos = pos.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                std::fs::write(&pos, "0000000000000003/0000000000000000").expect("write");
            })
        };
        assert!(fs.wait_for(3, Duration::from_secs(5)).await);
        later.await.expect("join");
    }
}
