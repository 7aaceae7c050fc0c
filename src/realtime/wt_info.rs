//! What a node publishes about its WebTransport endpoint.

use std::sync::RwLock;

/// What `/api/realtime/config` publishes about WebTransport.
#[derive(Debug, Default)]
pub struct WtInfo {
    pub port: u16,
    /// Base64 SHA-256 of the served certificate and of the one that will
    /// follow it, in that order (only the served one for certificate files;
    /// none while a temporary one is served). A lock rather than a channel:
    /// written once per rotation, read per config request.
    pub cert_hashes: RwLock<Vec<String>>,
}

impl WtInfo {
    pub(super) fn publish(&self, hashes: Vec<String>) {
        if let Ok(mut h) = self.cert_hashes.write() {
            *h = hashes;
        }
    }
}
