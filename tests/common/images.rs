//! Test images made in memory: JPEGs with EXIF (an orientation, a GPS
//! block, a description to look for in outputs), PNGs, a decompression
//! bomb, and the first bytes of formats kith does not decode. Shared by
//! the API and cluster tests; each uses a part.
#![allow(dead_code)]

/// Text put in a test JPEG's EXIF: no output may contain it.
pub const SECRET: &str = "KITH-TEST-SECRET-GPS-51.5N";

/// A `w`x`h` JPEG whose left half is red and right half blue, with EXIF
/// orientation `orientation` (1 = upright, 6 = turn 90 degrees clockwise to
/// show), a GPS block and [`SECRET`] as its description.
pub fn jpeg_with_exif(w: u16, h: u16, orientation: u16) -> Vec<u8> {
    let mut px = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for _y in 0..h {
        for x in 0..w {
            if x < w / 2 {
                px.extend_from_slice(&[220, 20, 20]);
            } else {
                px.extend_from_slice(&[20, 20, 220]);
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
    enc.add_app_segment(1, exif(orientation))
        .expect("an APP1 segment");
    enc.encode(&px, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("encoded");
    out
}

/// Noise: a JPEG of `w`x`h` that compresses badly (a big file for its size).
pub fn noisy_jpeg(w: u16, h: u16, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut px = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for _ in 0..usize::from(w) * usize::from(h) * 3 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        px.push(x as u8);
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 95)
        .encode(&px, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("encoded");
    out
}

/// The EXIF block (after `Exif\0\0`): IFD0 with a description, the
/// orientation and a pointer to a GPS IFD holding a latitude reference.
fn exif(orientation: u16) -> Vec<u8> {
    let mut t = b"Exif\0\0".to_vec();
    let tiff_start = t.len();
    t.extend_from_slice(b"II*\0");
    t.extend_from_slice(&8u32.to_le_bytes());
    let desc = format!("{SECRET}\0");
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value.to_le_bytes());
    };
    // IFD0 at 8: 3 entries (42 bytes), then the GPS IFD at 50 (18 bytes),
    // then the description at 68.
    t.extend_from_slice(&3u16.to_le_bytes());
    entry(&mut t, 0x010E, 2, desc.len() as u32, 68);
    entry(&mut t, 0x0112, 3, 1, u32::from(orientation));
    entry(&mut t, 0x8825, 4, 1, 50);
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&1u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0"));
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len() - tiff_start, 68);
    t.extend_from_slice(desc.as_bytes());
    t
}

/// A `w`x`h` PNG, a gradient with transparency.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        image::Rgba([(x * 255 / w) as u8, (y * 255 / h) as u8, 90, 200])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encoded");
    out.into_inner()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut c = kind.to_vec();
    c.extend_from_slice(data);
    out.extend_from_slice(&c);
    out.extend_from_slice(&crc32(&c).to_be_bytes());
}

/// A decompression bomb: a valid, whole PNG of a few hundred bytes that
/// claims 100,000 x 100,000 pixels (10 gigapixels, 40 GB as RGBA).
pub fn png_bomb() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    // A zlib stream of a few zero bytes: what a bomb's IDAT starts as.
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// The start of a HEIC file (an ISO box with the `heic` brand).
pub fn heic() -> Vec<u8> {
    let mut out = vec![0, 0, 0, 0x18];
    out.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    out.extend_from_slice(&[0u8; 2048]);
    out
}
