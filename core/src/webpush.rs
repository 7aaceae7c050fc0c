//! Web Push messages as a push service takes them: the payload encrypted
//! for one browser (RFC 8291, in the `aes128gcm` coding of RFC 8188) and
//! the sender's VAPID signature (RFC 8292).
//!
//! Every piece is from `ring` (already in the binary for TLS): ECDH on
//! P-256 with a fresh key per message, HKDF-SHA-256, AES-128-GCM, and
//! ECDSA P-256 for the JWT. Nothing here does I/O.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use ring::{aead, agreement, hkdf};

/// The record size announced in the header. A message is one record, so
/// this only bounds the plaintext (below).
const RECORD_SIZE: u32 = 4096;

/// The header before the ciphertext: salt, record size, key id length, and
/// the sender's public key as the key id.
const HEADER_LEN: usize = 16 + 4 + 1 + 65;

/// The most a payload may hold: push services take bodies of 4,096 bytes,
/// which the header, the padding delimiter and the 16-byte tag share.
pub const MAX_PLAINTEXT: usize = 4096 - HEADER_LEN - 1 - 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushError {
    #[error("p256dh must be an uncompressed P-256 point (65 bytes, base64url)")]
    BadPublicKey,
    #[error("auth must be 16 bytes, base64url")]
    BadAuth,
    #[error("the payload is over {MAX_PLAINTEXT} bytes")]
    TooLarge,
    #[error("the key is not a P-256 key pair")]
    BadKeyPair,
    #[error("the system's random source failed")]
    Random,
}

/// A browser subscription's keys: where the payload is encrypted to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    p256dh: [u8; 65],
    auth: [u8; 16],
}

fn b64(s: &str) -> Option<Vec<u8>> {
    // Browsers give base64url without padding; some libraries pad.
    URL_SAFE_NO_PAD.decode(s.trim().trim_end_matches('=')).ok()
}

impl Keys {
    /// The keys of `PushSubscription.toJSON()`, checked: `p256dh` must be a
    /// point on the curve (an ECDH with it is tried), `auth` 16 bytes.
    pub fn parse(p256dh: &str, auth: &str) -> Result<Keys, PushError> {
        let p256dh: [u8; 65] = b64(p256dh)
            .and_then(|v| v.try_into().ok())
            .ok_or(PushError::BadPublicKey)?;
        let auth: [u8; 16] = b64(auth)
            .and_then(|v| v.try_into().ok())
            .ok_or(PushError::BadAuth)?;
        let rng = SystemRandom::new();
        let probe = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
            .map_err(|_| PushError::Random)?;
        agreement::agree_ephemeral(
            probe,
            &agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &p256dh),
            |_| (),
        )
        .map_err(|_| PushError::BadPublicKey)?;
        Ok(Keys { p256dh, auth })
    }
}

/// `payload` encrypted for the browser holding `keys`: the whole request
/// body, to be sent with `Content-Encoding: aes128gcm`.
pub fn encrypt(keys: &Keys, payload: &[u8]) -> Result<Vec<u8>, PushError> {
    if payload.len() > MAX_PLAINTEXT {
        return Err(PushError::TooLarge);
    }
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| PushError::Random)?;
    let ours = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
        .map_err(|_| PushError::Random)?;
    let our_public = ours.compute_public_key().map_err(|_| PushError::Random)?;
    let secret = agreement::agree_ephemeral(
        ours,
        &agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &keys.p256dh),
        <[u8]>::to_vec,
    )
    .map_err(|_| PushError::BadPublicKey)?;
    let our_public: [u8; 65] = our_public
        .as_ref()
        .try_into()
        .map_err(|_| PushError::BadKeyPair)?;
    Ok(seal(&secret, keys, &our_public, &salt, payload))
}

/// HKDF output lengths for `ring`.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf(salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    // The lengths used here (12, 16, 32) are far below HKDF-SHA-256's
    // limit of 8,160 bytes, the only way `expand` and `fill` fail.
    if let Ok(okm) = prk.expand(info, Len(out.len())) {
        let _ = okm.fill(out);
    }
}

/// RFC 8291 section 3 from the ECDH secret on: the keys, then one
/// `aes128gcm` record with the last-record delimiter and no padding.
fn seal(
    ecdh_secret: &[u8],
    keys: &Keys,
    as_public: &[u8; 65],
    salt: &[u8; 16],
    payload: &[u8],
) -> Vec<u8> {
    let mut ikm = [0u8; 32];
    hkdf(
        &keys.auth,
        ecdh_secret,
        &[b"WebPush: info\0", &keys.p256dh, as_public],
        &mut ikm,
    );
    let mut cek = [0u8; 16];
    hkdf(salt, &ikm, &[b"Content-Encoding: aes128gcm\0"], &mut cek);
    let mut nonce = [0u8; 12];
    hkdf(salt, &ikm, &[b"Content-Encoding: nonce\0"], &mut nonce);

    let mut body = Vec::with_capacity(HEADER_LEN + payload.len() + 17);
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public);
    let mut record = Vec::with_capacity(payload.len() + 17);
    record.extend_from_slice(payload);
    record.push(2);
    // A 16-byte key is AES-128's; sealing fails only past 2^36 bytes.
    if let Ok(key) = aead::UnboundKey::new(&aead::AES_128_GCM, &cek) {
        let key = aead::LessSafeKey::new(key);
        let _ = key.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::empty(),
            &mut record,
        );
    }
    body.extend_from_slice(&record);
    body
}

/// The server's VAPID key: one P-256 key pair for the whole cluster (its
/// public half is in every browser subscription made with it).
pub struct Vapid {
    pair: EcdsaKeyPair,
}

impl Vapid {
    /// A new key pair, as the PKCS#8 document to store.
    pub fn generate() -> Result<Vec<u8>, PushError> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| PushError::Random)
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Vapid, PushError> {
        EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map(|pair| Vapid { pair })
        .map_err(|_| PushError::BadKeyPair)
    }

    /// The public key as browsers take it for `applicationServerKey`.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())
    }

    /// The `Authorization` header for a push to `endpoint` (RFC 8292): a
    /// JWT for the endpoint's origin, valid until `exp` (Unix seconds, at
    /// most 24 h ahead), naming `subject` (a `mailto:` or `https:` contact).
    pub fn authorization(&self, endpoint: &str, subject: &str, exp: i64) -> Option<String> {
        let origin = origin(endpoint)?;
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": origin, "exp": exp, "sub": subject });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let sig = self
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .ok()?;
        Some(format!(
            "vapid t={signing_input}.{}, k={}",
            URL_SAFE_NO_PAD.encode(sig.as_ref()),
            self.public_key()
        ))
    }
}

/// `scheme://host[:port]` of an absolute URL.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{}://{host}", scheme.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    fn d(s: &str) -> Vec<u8> {
        b64(s).expect("base64url")
    }

    #[test]
    fn sealing_matches_the_rfc_8291_worked_example() {
        // RFC 8291 section 5, from its ECDH secret on (ring makes no ECDH
        // with a fixed private key; the exchange itself is ring's).
        let keys = Keys::parse(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "BTBZMqHH6r4Tts7J_aSIgg",
        )
        .expect("the RFC's keys");
        let as_public: [u8; 65] = d("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8")
            .try_into()
            .expect("65 bytes");
        let salt: [u8; 16] = d("DGv6ra1nlYgDCS1FRnbzlw").try_into().expect("16 bytes");
        let body = seal(
            &d("kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs"),
            &keys,
            &as_public,
            &salt,
            b"When I grow up, I want to be a watermelon",
        );
        assert_eq!(
            URL_SAFE_NO_PAD.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        let good = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        let auth = "BTBZMqHH6r4Tts7J_aSIgg";
        assert!(Keys::parse(good, auth).is_ok());
        // Padded base64url is taken too.
        assert!(Keys::parse(&format!("{good}="), "BTBZMqHH6r4Tts7J_aSIgg==").is_ok());
        // Off the curve: the last byte changed.
        let off = format!("{}5", &good[..good.len() - 1]);
        assert_eq!(Keys::parse(&off, auth), Err(PushError::BadPublicKey));
        assert_eq!(Keys::parse("AAAA", auth), Err(PushError::BadPublicKey));
        assert_eq!(
            Keys::parse("not base64!", auth),
            Err(PushError::BadPublicKey)
        );
        assert_eq!(Keys::parse(good, "AAAA"), Err(PushError::BadAuth));
        let keys = Keys::parse(good, auth).expect("keys");
        assert_eq!(
            encrypt(&keys, &vec![b'x'; MAX_PLAINTEXT + 1]),
            Err(PushError::TooLarge)
        );
        let body = encrypt(&keys, &vec![b'x'; MAX_PLAINTEXT]).expect("fits");
        assert_eq!(body.len(), 4096);
    }

    #[test]
    fn vapid_signs_a_jwt_for_the_endpoints_origin() {
        let vapid = Vapid::from_pkcs8(&Vapid::generate().expect("key")).expect("pair");
        let auth = vapid
            .authorization(
                "https://push.example.net:8443/wpush/v2/abc?x=1",
                "mailto:ops@example.org",
                1_900_000_000,
            )
            .expect("signed");
        let rest = auth.strip_prefix("vapid t=").expect("scheme");
        let (jwt, k) = rest.split_once(", k=").expect("k");
        assert_eq!(k, vapid.public_key());
        let mut parts = jwt.split('.');
        let (h, c, s) = (
            parts.next().expect("header"),
            parts.next().expect("claims"),
            parts.next().expect("signature"),
        );
        let claims: serde_json::Value = serde_json::from_slice(&d(c)).expect("claims JSON");
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["exp"], 1_900_000_000);
        assert_eq!(claims["sub"], "mailto:ops@example.org");
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, d(k))
            .verify(format!("{h}.{c}").as_bytes(), &d(s))
            .expect("the signature verifies with the public key");
        assert!(vapid.authorization("not a url", "mailto:x@y", 1).is_none());
        assert_eq!(
            Vapid::from_pkcs8(b"junk").err(),
            Some(PushError::BadKeyPair)
        );
    }
}
