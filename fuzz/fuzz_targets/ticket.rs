//! Realtime tickets (`kith_core::ticket`), as `/wt?ticket=` presents
//! them to `TicketKey::check_at`, under a fixed key and a fixed "now".
//!
//! - Any string: `check_at` must never panic, and may accept only what
//!   the key itself would issue (a forgery would be a signature found by
//!   the fuzzer).
//! - Round trip: a ticket issued for a user and session taken from the
//!   input, at an age taken from the input, verifies for them exactly while it is
//!   unexpired, fails under another key, and fails once any single byte of
//!   it is changed.
#![no_main]

use kith_core::ids::Id;
use kith_core::ticket::{TTL_MS, TicketError, TicketKey};
use libfuzzer_sys::fuzz_target;

/// 2025-06-15T16:26:40Z in Unix milliseconds.
const NOW: i64 = 1_750_004_800_000;
const KEY: &[u8; 32] = b"kith-fuzz-ticket-key-0123456789a";
const OTHER_KEY: &[u8; 32] = b"kith-fuzz-ticket-key-0123456789b";

fuzz_target!(|data: &[u8]| {
    let key = TicketKey::new(KEY.to_vec());

    // Arbitrary text, as the query string hands it over.
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok((user, session)) = key.check_at(text, NOW)
    {
        let exp: i64 = text
            .split('.')
            .nth(2)
            .and_then(|e| e.parse().ok())
            .expect("an accepted ticket has an expiry");
        assert_eq!(
            text,
            key.issue_at(user, session, exp - TTL_MS),
            "accepted a ticket the key did not issue"
        );
    }

    // Round trip, from the first 23 bytes: user id (8), session handle
    // (8), age (4), the byte to change (2) and what to XOR it with (1).
    let Some((head, _)) = data.split_first_chunk::<23>() else {
        return;
    };
    // Ids and handles the server hands out are never negative.
    let user = Id(i64::from_le_bytes(take(head, 0)) & i64::MAX);
    let session = Id(i64::from_le_bytes(take(head, 8)) & i64::MAX);
    let age = i64::from(u32::from_le_bytes(take(head, 16))) % (2 * TTL_MS + 2);
    let ticket = key.issue_at(user, session, NOW - age);

    let checked = key.check_at(&ticket, NOW);
    if age <= TTL_MS {
        assert_eq!(checked, Ok((user, session)), "a fresh ticket fails: {ticket}");
    } else {
        assert_eq!(checked, Err(TicketError::Expired), "{ticket}");
    }
    let other = TicketKey::new(OTHER_KEY.to_vec());
    assert_eq!(
        other.check_at(&ticket, NOW),
        Err(TicketError::BadSignature),
        "{ticket}"
    );

    let at = usize::from(u16::from_le_bytes(take(head, 20))) % ticket.len();
    let flip = head[22].max(1);
    let mut bytes = ticket.clone().into_bytes();
    bytes[at] ^= flip;
    if let Ok(changed) = String::from_utf8(bytes) {
        let result = key.check_at(&changed, NOW);
        assert!(
            result.is_err(),
            "{changed} (from {ticket}, byte {at} ^ {flip:#04x}) verifies as {result:?}"
        );
    }
});

fn take<const N: usize>(bytes: &[u8; 23], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}
