//! Is this upload a video? Magic bytes first (cheap, catches most
//! non-videos), then ffprobe (a video stream must be found and decodable).

use serde::Deserialize;

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
