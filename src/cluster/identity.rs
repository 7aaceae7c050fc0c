//! Who a node is and how members prove it: the node's key, `--join`
//! entries, and proofs of the cluster secret.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use iroh::{EndpointAddr, EndpointId, SecretKey};
use iroh_gossip::TopicId;

use kith_core::signing;

/// Proofs of the cluster secret, bound to both ends of a connection.
#[derive(Clone)]
pub(super) struct Secret(pub(super) Vec<u8>);

impl Secret {
    pub(super) fn proof(&self, label: &[u8], a: &EndpointId, b: &EndpointId) -> Vec<u8> {
        signing::sign(&self.0, &[label, a.as_bytes(), b.as_bytes()]).to_vec()
    }

    pub(super) fn verify(
        &self,
        label: &[u8],
        a: &EndpointId,
        b: &EndpointId,
        proof: &[u8],
    ) -> bool {
        signing::verify(&self.0, &[label, a.as_bytes(), b.as_bytes()], proof)
    }

    pub(super) fn topic(&self) -> TopicId {
        TopicId::from_bytes(signing::sign(&self.0, &[b"kith gossip topic v1"]))
    }
}

pub(super) const HELLO: &[u8] = b"kith cluster hello v1";
pub(super) const WELCOME: &[u8] = b"kith cluster welcome v1";

/// Loads the node's secret key from `dir`, creating it on first start.
pub fn node_key(dir: &Path) -> anyhow::Result<SecretKey> {
    let path = dir.join("node.key");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key", path.display()))?;
            Ok(SecretKey::from_bytes(&bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate();
            let tmp = dir.join("node.key.tmp");
            {
                use std::io::Write;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&tmp)?;
                f.write_all(&key.to_bytes())?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &path)?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Parses a `--join` entry, `ENDPOINT_ID@HOST:PORT`.
pub fn parse_join(s: &str) -> anyhow::Result<EndpointAddr> {
    let (id, addr) = s
        .split_once('@')
        .ok_or_else(|| anyhow::anyhow!("--join {s:?}: expected ENDPOINT_ID@HOST:PORT"))?;
    let id: EndpointId = id
        .parse()
        .map_err(|_| anyhow::anyhow!("--join {s:?}: bad endpoint id"))?;
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| anyhow::anyhow!("--join {s:?}: bad socket address"))?;
    Ok(EndpointAddr::new(id).with_ip_addr(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_entries_name_an_endpoint_and_an_address() {
        let key = SecretKey::generate();
        let id = key.public();
        let a = parse_join(&format!("{id}@127.0.0.2:7000")).expect("parses");
        assert_eq!(a.id, id);
        let addrs: Vec<SocketAddr> = a.ip_addrs().copied().collect();
        assert_eq!(
            addrs,
            vec!["127.0.0.2:7000".parse::<SocketAddr>().expect("addr")]
        );
        assert!(parse_join("127.0.0.2:7000").is_err());
        assert!(parse_join(&format!("{id}@nowhere")).is_err());
        assert!(parse_join("not-an-id@127.0.0.1:1").is_err());
    }

    #[test]
    fn the_node_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let a = node_key(dir.path()).expect("created");
        let b = node_key(dir.path()).expect("loaded");
        assert_eq!(a.public(), b.public());
        std::fs::write(dir.path().join("node.key"), b"short").expect("write");
        assert!(node_key(dir.path()).is_err());
    }

    #[test]
    fn proofs_bind_both_ends_and_the_secret() {
        let (a, b) = (
            SecretKey::generate().public(),
            SecretKey::generate().public(),
        );
        let s = Secret(b"a cluster secret of length".to_vec());
        let p = s.proof(HELLO, &a, &b);
        assert!(s.verify(HELLO, &a, &b, &p));
        assert!(
            !s.verify(HELLO, &b, &a, &p),
            "not valid the other way round"
        );
        assert!(!s.verify(WELCOME, &a, &b, &p), "not valid as the answer");
        let other = Secret(b"another secret of length!".to_vec());
        assert!(!other.verify(HELLO, &a, &b, &p));
        assert_ne!(s.topic(), other.topic());
    }
}
