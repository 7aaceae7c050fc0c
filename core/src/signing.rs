//! HMAC-SHA256 under a server-wide key: the one way kith signs and checks
//! what it hands out (WebTransport tickets) and what nodes prove to each
//! other (the cluster secret). Verification is constant-time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC accepts keys of any length (longer ones are hashed first).
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for p in parts {
        mac.update(p);
    }
    mac
}

/// The signature of the concatenation of `parts` under `key`.
pub fn sign(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    mac(key, parts).finalize().into_bytes().into()
}

/// Whether `signature` is the signature of `parts` under `key`.
pub fn verify(key: &[u8], parts: &[&[u8]], signature: &[u8]) -> bool {
    mac(key, parts).verify_slice(signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_key_and_every_byte() {
        let s = sign(b"key", &[b"ab", b"c"]);
        assert!(verify(b"key", &[b"a", b"bc"], &s));
        assert!(!verify(b"other", &[b"abc"], &s));
        assert!(!verify(b"key", &[b"abd"], &s));
        assert!(!verify(b"key", &[b"abc"], &s[..31]));
        // RFC 4231, test case 2.
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let got: String = sign(b"Jefe", &[b"what do ya want ", b"for nothing?"])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, expected);
    }
}
