//! The upload sniffer (`kith_core::sniff`), fed arbitrary bytes:
//!
//! - `looks_like_video`, on the first 512 bytes of an upload as the upload
//!   route hands it over, and on the whole input: the answer must not
//!   depend on anything past those 512 bytes.
//! - `parse_probe`, on the same bytes as ffprobe's JSON output: it must
//!   never panic, and a probe it returns has a positive width and height.
#![no_main]

use kith_core::sniff::{looks_like_video, parse_probe};
use libfuzzer_sys::fuzz_target;

/// How much of an upload the upload route keeps to sniff.
const HEAD: usize = 512;

fuzz_target!(|data: &[u8]| {
    let head = &data[..data.len().min(HEAD)];
    assert_eq!(
        looks_like_video(head),
        looks_like_video(data),
        "the answer depends on bytes past the first {HEAD}"
    );

    if let Some(p) = parse_probe(data) {
        assert!(p.width > 0 && p.height > 0, "{p:?}");
    }
});
