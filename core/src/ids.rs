//! Ids: time-ordered 63-bit integers, shown to clients only as opaque text.
//!
//! An id is `milliseconds since 2024-01-01 << 20 | 20 low bits`. Ordering by
//! id is ordering by creation time, which makes ids usable as pagination
//! cursors and keeps inserts at the right edge of every B-tree. Within a
//! millisecond the low bits start at a random point (ids are hard to guess)
//! and count up: a process never hands out the same id twice, and its ids
//! strictly increase, however many it mints per millisecond (random low
//! bits alone would collide about every 5 s at 20,000 ids/s). Clients see a
//! lower-case base-32 string (Crockford alphabet); they are to treat it as
//! opaque.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// 2024-01-01T00:00:00Z in Unix milliseconds.
const EPOCH_MS: i64 = 1_704_067_200_000;
const RANDOM_BITS: u32 = 20;
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A row id. Serialized as its opaque text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub i64);

impl Id {
    /// A fresh id for a row created now: greater than every id this
    /// process made before.
    pub fn generate() -> Self {
        static LAST: AtomicI64 = AtomicI64::new(0);
        let ms = (now_ms() - EPOCH_MS).max(0);
        // A random start in the lower half leaves room to count up.
        let start = (ms << RANDOM_BITS) | rand::rng().random_range(0..(1 << (RANDOM_BITS - 1)));
        let mut last = LAST.load(Ordering::Relaxed);
        loop {
            let next = start.max(last + 1);
            match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Id(next),
                Err(actual) => last = actual,
            }
        }
    }
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = self.0 as u64;
        let mut buf = [0u8; 13];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = ALPHABET[(v & 31) as usize];
            v >>= 5;
            if v == 0 {
                break;
            }
        }
        // The alphabet is ASCII, so this cannot fail.
        f.write_str(std::str::from_utf8(&buf[i..]).map_err(|_| fmt::Error)?)
    }
}

impl From<i64> for Id {
    fn from(v: i64) -> Self {
        Id(v)
    }
}

/// The text was not an id this server could have issued.
#[derive(Debug, thiserror::Error)]
#[error("not a valid id")]
pub struct BadId;

impl FromStr for Id {
    type Err = BadId;
    fn from_str(s: &str) -> Result<Self, BadId> {
        if s.is_empty() || s.len() > 13 {
            return Err(BadId);
        }
        let mut v: u64 = 0;
        for b in s.bytes() {
            let d = ALPHABET.iter().position(|&a| a == b).ok_or(BadId)? as u64;
            v = v
                .checked_mul(32)
                .and_then(|v| v.checked_add(d))
                .ok_or(BadId)?;
        }
        i64::try_from(v).map(Id).map_err(|_| BadId)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Id {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("Opaque identifier"))
            .examples([serde_json::json!("1b3kq9z2m4x0p")])
            .into()
    }
}
impl utoipa::ToSchema for Id {}

/// Unix milliseconds as RFC 3339 (UTC, millisecond precision).
///
/// Written digit by digit: every post, comment and message on a page has
/// one or two of these, and `time`'s general formatter took 2% of a feed
/// read's CPU.
pub fn format_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return format_ms_general(t);
    }
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, u8::from(t.month()).into());
    put(8, 2, t.day().into());
    put(11, 2, t.hour().into());
    put(14, 2, t.minute().into());
    put(17, 2, t.second().into());
    put(20, 3, t.millisecond().into());
    out.iter().map(|&b| b as char).collect()
}

/// [`format_ms`] for years of more or fewer than four digits.
fn format_ms_general(t: time::OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_rfc_3339_with_milliseconds() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_787_000_123_456), "2026-08-17T20:55:23.456Z");
        assert_eq!(format_ms(-1), "1969-12-31T23:59:59.999Z");
        // Every field at its widest and narrowest, against the general
        // formatter, over four centuries in uneven steps.
        let mut ms: i64 = -30_000_000_000_000;
        while ms < 253_402_300_799_999 {
            let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
                .expect("in range");
            assert_eq!(format_ms(ms), format_ms_general(t), "at {ms}");
            ms += 86_399_937_113;
        }
        // Before year 0 (a sign, so not four digits): the general
        // formatter's answer.
        assert!(format_ms(-62_198_755_200_000).starts_with("-0001-01-01T"));
    }

    #[test]
    fn round_trips_and_orders_by_time() {
        let a = Id::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = Id::generate();
        assert!(b > a);
        for id in [a, b, Id(0), Id(i64::MAX)] {
            assert_eq!(id.to_string().parse::<Id>().ok(), Some(id));
        }
    }

    #[test]
    fn never_repeats_even_within_a_millisecond() {
        let ids: Vec<Id> = (0..200_000).map(|_| Id::generate()).collect();
        assert!(ids.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "ABC",
            "u",
            "zzzzzzzzzzzzzz",
            "8zzzzzzzzzzzz",
            "1 2",
            "-1",
        ] {
            assert!(bad.parse::<Id>().is_err(), "{bad:?} parsed");
        }
    }
}
