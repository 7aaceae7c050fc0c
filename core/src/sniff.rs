//! What is this upload? Magic bytes first (cheap, catches most of what
//! is neither), then for a video ffprobe (a video stream must be found and
//! decodable), for an image a walk of its structure (a truncated file is
//! refused before a job is spent on it).

use serde::Deserialize;

/// The image formats kith decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
    Gif,
}

impl ImageFormat {
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Gif => "image/gif",
        }
    }
}

/// What the first bytes of an upload say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    Image(ImageFormat),
    Video,
    /// An image format this build cannot decode, by name.
    UnsupportedImage(&'static str),
    Unknown,
}

/// Reads the first bytes (512 are plenty) of an upload.
pub fn sniff(head: &[u8]) -> Sniffed {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Sniffed::Image(ImageFormat::Jpeg);
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Sniffed::Image(ImageFormat::Png);
    }
    if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        return Sniffed::Image(ImageFormat::Webp);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Sniffed::Image(ImageFormat::Gif);
    }
    // ISO base media files name their kind by brand: HEIF stills and AVIF
    // share MP4's box structure, so they are told apart before video.
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        match &head[8..12] {
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" => {
                return Sniffed::UnsupportedImage("HEIC/HEIF");
            }
            b"avif" | b"avis" => return Sniffed::UnsupportedImage("AVIF"),
            _ => {}
        }
    }
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        return Sniffed::UnsupportedImage("TIFF");
    }
    if head.starts_with(b"BM") && head.len() >= 14 {
        return Sniffed::UnsupportedImage("BMP");
    }
    if looks_like_video(head) {
        return Sniffed::Video;
    }
    Sniffed::Unknown
}

/// Whether an image file is whole: its structure is walked to the end
/// marker (JPEG's EOI after the first scan, PNG's IEND, GIF's trailer,
/// the size WebP's RIFF header declares). Linear, and reads no pixels: a
/// truncated upload is told at once, corrupt pixel data by the decoder.
pub fn image_is_whole(format: ImageFormat, bytes: &[u8]) -> bool {
    match format {
        ImageFormat::Jpeg => jpeg_whole(bytes),
        ImageFormat::Png => png_whole(bytes),
        ImageFormat::Webp => webp_whole(bytes),
        ImageFormat::Gif => gif_whole(bytes).is_some(),
    }
}

/// Marker segments up to the first scan (SOS), then an EOI somewhere
/// after it. Entropy-coded data stuffs every 0xFF with 0x00, so 0xFFD9
/// there is the real end. Bytes after EOI (a Motion Photo's video) are
/// allowed.
fn jpeg_whole(b: &[u8]) -> bool {
    let mut i = 2;
    loop {
        // Fill bytes (0xFF) may precede a marker.
        while i < b.len() && b[i] == 0xFF && b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if i + 4 > b.len() || b[i] != 0xFF {
            return false;
        }
        let marker = b[i + 1];
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        if len < 2 || i + 2 + len > b.len() {
            return false;
        }
        i += 2 + len;
        if marker == 0xDA {
            break;
        }
        if marker == 0xD9 {
            return false;
        }
    }
    b[i..].windows(2).any(|w| w == [0xFF, 0xD9])
}

fn png_whole(b: &[u8]) -> bool {
    let mut i = 8;
    while i + 12 <= b.len() {
        let len = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        let kind = &b[i + 4..i + 8];
        let Some(end) = (i + 12).checked_add(len) else {
            return false;
        };
        if end > b.len() {
            return false;
        }
        if kind == b"IEND" {
            return true;
        }
        i = end;
    }
    false
}

fn webp_whole(b: &[u8]) -> bool {
    if b.len() < 12 {
        return false;
    }
    let declared = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    declared >= 4 && b.len() >= declared.saturating_add(8)
}

fn gif_whole(b: &[u8]) -> Option<()> {
    let flags = *b.get(10)?;
    let mut i = 13;
    if flags & 0x80 != 0 {
        i += 3 << ((flags & 7) + 1);
    }
    let sub_blocks = |mut i: usize| -> Option<usize> {
        loop {
            let n = usize::from(*b.get(i)?);
            i += 1 + n;
            if n == 0 {
                return Some(i);
            }
        }
    };
    loop {
        match *b.get(i)? {
            0x3B => return Some(()),
            0x21 => i = sub_blocks(i + 2)?,
            0x2C => {
                let lflags = *b.get(i + 9)?;
                i += 10;
                if lflags & 0x80 != 0 {
                    i += 3 << ((lflags & 7) + 1);
                }
                // The LZW minimum code size, then the data.
                i = sub_blocks(i + 1)?;
            }
            _ => return None,
        }
    }
}

/// Whether the first bytes of a file look like a video container.
pub fn looks_like_video(head: &[u8]) -> bool {
    let mp4 = head.len() >= 12 && &head[4..8] == b"ftyp";
    let matroska = head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]);
    let avi = head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"AVI ";
    let ogg = head.starts_with(b"OggS");
    let ts = head.len() > 376 && head[0] == 0x47 && head[188] == 0x47 && head[376] == 0x47;
    mp4 || matroska || avi || ogg || ts
}

/// What ffprobe found.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub width: i64,
    pub height: i64,
    pub duration_ms: i64,
}

#[derive(Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Deserialize)]
struct ProbeStream {
    width: Option<i64>,
    height: Option<i64>,
}

#[derive(Deserialize)]
struct ProbeFormat {
    duration: Option<String>,
}

/// Parses ffprobe's JSON; `None` unless there is a video stream with a size.
pub fn parse_probe(json: &[u8]) -> Option<Probe> {
    let p: ProbeJson = serde_json::from_slice(json).ok()?;
    let s = p.streams.first()?;
    let duration_ms = p
        .format
        .and_then(|f| f.duration)
        .and_then(|d| d.parse::<f64>().ok())
        .map_or(0, |d| (d * 1000.0) as i64);
    Some(Probe {
        width: s.width.filter(|w| *w > 0)?,
        height: s.height.filter(|h| *h > 0)?,
        duration_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_their_first_bytes() {
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Sniffed::Image(ImageFormat::Jpeg)
        );
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n...."),
            Sniffed::Image(ImageFormat::Png)
        );
        assert_eq!(
            sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Sniffed::Image(ImageFormat::Webp)
        );
        assert_eq!(sniff(b"GIF89a......"), Sniffed::Image(ImageFormat::Gif));
        assert_eq!(
            sniff(b"\0\0\0\x18ftypheic\0\0\0\0"),
            Sniffed::UnsupportedImage("HEIC/HEIF")
        );
        assert_eq!(
            sniff(b"\0\0\0\x18ftypavif\0\0\0\0"),
            Sniffed::UnsupportedImage("AVIF")
        );
        assert_eq!(sniff(b"\0\0\0\x18ftypisom\0\0\0\0"), Sniffed::Video);
        assert_eq!(sniff(b"hello world, a text file"), Sniffed::Unknown);
    }

    #[test]
    fn truncated_images_are_not_whole() {
        // A minimal JPEG: SOI, one segment, SOS, scan data, EOI.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 1, 2, 0xFF, 0xDA, 0, 3, 0, 0x12, 0xFF, 0x00, 0x34, 0xFF,
            0xD9,
        ];
        assert!(image_is_whole(ImageFormat::Jpeg, &jpeg));
        for cut in 3..jpeg.len() - 1 {
            assert!(
                !image_is_whole(ImageFormat::Jpeg, &jpeg[..cut]),
                "cut at {cut}"
            );
        }
        let mut motion = jpeg.to_vec();
        motion.extend_from_slice(b"\0\0\0\x18ftypmp42 trailing video");
        assert!(image_is_whole(ImageFormat::Jpeg, &motion));

        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in [
            (&b"IHDR"[..], &[0u8; 13][..]),
            (b"IDAT", &[1, 2, 3]),
            (b"IEND", &[]),
        ] {
            png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            png.extend_from_slice(kind);
            png.extend_from_slice(data);
            png.extend_from_slice(&[0; 4]);
        }
        assert!(image_is_whole(ImageFormat::Png, &png));
        assert!(!image_is_whole(ImageFormat::Png, &png[..png.len() - 13]));

        let mut webp = b"RIFF".to_vec();
        webp.extend_from_slice(&8u32.to_le_bytes());
        webp.extend_from_slice(b"WEBPVP8 ");
        assert!(image_is_whole(ImageFormat::Webp, &webp));
        assert!(!image_is_whole(ImageFormat::Webp, &webp[..15]));

        // GIF: header, screen without a table, one image, trailer.
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[1, 0, 1, 0, 0, 0, 0]);
        gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4C, 0x01, 0, 0x3B]);
        assert!(image_is_whole(ImageFormat::Gif, &gif));
        assert!(!image_is_whole(ImageFormat::Gif, &gif[..gif.len() - 1]));
    }

    #[test]
    fn magic_bytes() {
        let mut mp4 = vec![0, 0, 0, 0x20];
        mp4.extend_from_slice(b"ftypisom0000");
        assert!(looks_like_video(&mp4));
        assert!(looks_like_video(&[0x1A, 0x45, 0xDF, 0xA3, 1, 2]));
        assert!(looks_like_video(b"RIFF\0\0\0\0AVI LIST"));
        assert!(looks_like_video(b"OggS\0\x02"));
        assert!(!looks_like_video(b"hello, this is text, not a video"));
        assert!(!looks_like_video(b"\x89PNG\r\n\x1a\n0000"));
        assert!(!looks_like_video(b""));
    }

    #[test]
    fn probe_output() {
        let ok = br#"{"programs":[],"streams":[{"width":1920,"height":1080}],"format":{"duration":"3.000000"}}"#;
        assert_eq!(
            parse_probe(ok),
            Some(Probe {
                width: 1920,
                height: 1080,
                duration_ms: 3000
            })
        );
        assert_eq!(parse_probe(b"{\n\n}"), None);
        assert_eq!(
            parse_probe(br#"{"streams":[],"format":{"duration":"1.0"}}"#),
            None
        );
        assert_eq!(parse_probe(b"garbage"), None);
    }
}
