//! Media items as clients see them, the names of their files, and the
//! limits on attaching them: pure data and rules, no I/O
//! (docs/media.md has the contract).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::Id;

/// Items a post or a message may carry. Mastodon allows 4; people post
/// albums, and a grid of 10 still reads on a phone.
pub const MAX_ITEMS: usize = 10;
/// The longest alt text (characters): Mastodon's limit, enough for a
/// careful description of a busy photo.
pub const MAX_ALT_CHARS: usize = 1_500;
/// The largest image decoded: 50 megapixels is above any phone camera
/// (a 200 MP mode saves 12.5 MP by default) and costs 200 MB as RGBA; a
/// decompression bomb claims far more in a few kilobytes.
pub const MAX_PIXELS: u64 = 50_000_000;
/// The long side of a photo's `display` variant.
pub const DISPLAY_MAX: u32 = 2048;
/// The long side of a photo's `thumb` variant (grid tiles at 2x density).
pub const THUMB_MAX: u32 = 400;
/// An avatar's square sizes: list rows, headers, the profile page.
pub const AVATAR_SIZES: [u32; 3] = [48, 96, 256];

/// What a media item is, and so which job makes its outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Video,
    Image,
    Avatar,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Video => "video",
            MediaKind::Image => "image",
            MediaKind::Avatar => "avatar",
        }
    }

    pub fn parse(s: &str) -> Option<MediaKind> {
        match s {
            "video" => Some(MediaKind::Video),
            "image" => Some(MediaKind::Image),
            "avatar" => Some(MediaKind::Avatar),
            _ => None,
        }
    }
}

/// One size of a processed image, in both formats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Variant {
    /// `display` or `thumb`.
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub webp: String,
    pub jpeg: String,
}

/// The size of one variant as stored (the URLs follow from the id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantSize {
    pub name: String,
    pub width: u32,
    pub height: u32,
}

/// A media item as its viewers see it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct MediaView {
    pub id: Id,
    pub kind: MediaKind,
    /// `queued`, `processing`, `ready` or `failed`.
    pub status: String,
    /// Processing progress, 0 to 1.
    pub progress: f64,
    /// A video's MP4 or an image's `display` WebP, once ready.
    pub url: Option<String>,
    /// A video's poster or an image's `thumb` WebP, once ready.
    pub poster_url: Option<String>,
    /// An image's sizes (empty for a video).
    pub variants: Vec<Variant>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_ms: Option<i64>,
    /// A placeholder to draw while an image loads (blurha.sh).
    pub blurhash: Option<String>,
    /// Set where the item is attached (a post's or a message's list).
    pub alt: Option<String>,
    pub size_bytes: i64,
    /// Hex SHA-256 of the bytes uploaded.
    pub sha256: Option<String>,
    pub error: Option<String>,
    #[serde(skip)]
    pub owner_id: i64,
}

impl MediaView {
    /// An item as just accepted: queued for processing, nothing to show
    /// yet. (A read right after may already find a worker on it.)
    pub fn accepted(
        id: Id,
        kind: MediaKind,
        size_bytes: i64,
        sha256: String,
        owner_id: i64,
    ) -> MediaView {
        MediaView {
            id,
            kind,
            status: "queued".into(),
            progress: 0.0,
            url: None,
            poster_url: None,
            variants: Vec::new(),
            width: None,
            height: None,
            duration_ms: None,
            blurhash: None,
            alt: None,
            size_bytes,
            sha256: Some(sha256),
            error: None,
            owner_id,
        }
    }
}

/// A media item named in a post or a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub id: Id,
    #[serde(default)]
    pub alt: Option<String>,
}

/// Checks a list of attachments' shape (count, alt text, repeats); who
/// owns the items is the store's to check.
pub fn check_attachments(items: &[Attachment]) -> Result<(), String> {
    if items.len() > MAX_ITEMS {
        return Err(format!("at most {MAX_ITEMS} media items"));
    }
    for (i, a) in items.iter().enumerate() {
        if let Some(alt) = &a.alt
            && alt.chars().count() > MAX_ALT_CHARS
        {
            return Err(format!(
                "alt text is at most {MAX_ALT_CHARS} characters (item {})",
                i + 1
            ));
        }
        if items[..i].iter().any(|b| b.id == a.id) {
            return Err("a media item is attached twice".into());
        }
    }
    Ok(())
}

/// A file of a media item, as named under `/media/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// `{id}.mp4`
    Video,
    /// `{id}.jpg`
    Poster,
    /// `{id}-display.webp` / `{id}-display.jpg`
    Display(Format),
    /// `{id}-thumb.webp` / `{id}-thumb.jpg`
    Thumb(Format),
    /// `{id}-a{size}.webp`
    Avatar(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Webp,
    Jpeg,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Webp => "webp",
            Format::Jpeg => "jpg",
        }
    }
}

impl Output {
    /// The file's name for item `id`.
    pub fn name(self, id: Id) -> String {
        match self {
            Output::Video => format!("{id}.mp4"),
            Output::Poster => format!("{id}.jpg"),
            Output::Display(f) => format!("{id}-display.{}", f.ext()),
            Output::Thumb(f) => format!("{id}-thumb.{}", f.ext()),
            Output::Avatar(s) => format!("{id}-a{s}.webp"),
        }
    }

    pub fn url(self, id: Id) -> String {
        format!("/media/{}", self.name(id))
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Output::Video => "video/mp4",
            Output::Poster => "image/jpeg",
            Output::Display(f) | Output::Thumb(f) => match f {
                Format::Webp => "image/webp",
                Format::Jpeg => "image/jpeg",
            },
            Output::Avatar(_) => "image/webp",
        }
    }

    /// Every file an item of `kind` may have.
    pub fn all(kind: MediaKind) -> Vec<Output> {
        match kind {
            MediaKind::Video => vec![Output::Video, Output::Poster],
            MediaKind::Image => vec![
                Output::Display(Format::Webp),
                Output::Display(Format::Jpeg),
                Output::Thumb(Format::Webp),
                Output::Thumb(Format::Jpeg),
            ],
            MediaKind::Avatar => AVATAR_SIZES.iter().map(|&s| Output::Avatar(s)).collect(),
        }
    }

    /// Reads a file name under `/media/`; `None` for anything else.
    pub fn parse(name: &str) -> Option<(Id, Output)> {
        let (stem, ext) = name.rsplit_once('.')?;
        let (id, out) = match stem.split_once('-') {
            None => (
                stem,
                match ext {
                    "mp4" => Output::Video,
                    "jpg" => Output::Poster,
                    _ => return None,
                },
            ),
            Some((id, what)) => {
                let format = match ext {
                    "webp" => Format::Webp,
                    "jpg" => Format::Jpeg,
                    _ => return None,
                };
                let out = match (what, format) {
                    ("display", f) => Output::Display(f),
                    ("thumb", f) => Output::Thumb(f),
                    (a, Format::Webp) => {
                        let size: u32 = a.strip_prefix('a')?.parse().ok()?;
                        if !AVATAR_SIZES.contains(&size) {
                            return None;
                        }
                        Output::Avatar(size)
                    }
                    _ => return None,
                };
                (id, out)
            }
        };
        Some((id.parse().ok()?, out))
    }
}

/// `(width, height)` scaled to fit `max` on the long side, never enlarged,
/// at least 1 px each.
pub fn fit(width: u32, height: u32, max: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max {
        return (width.max(1), height.max(1));
    }
    let scale =
        |v: u32| ((u64::from(v) * u64::from(max) + u64::from(long) / 2) / u64::from(long)) as u32;
    (scale(width).max(1), scale(height).max(1))
}

/// The variants' views from their stored sizes.
pub fn variants(id: Id, sizes: &[VariantSize]) -> Vec<Variant> {
    sizes
        .iter()
        .filter_map(|s| {
            let (webp, jpeg) = match s.name.as_str() {
                "display" => (Output::Display(Format::Webp), Output::Display(Format::Jpeg)),
                "thumb" => (Output::Thumb(Format::Webp), Output::Thumb(Format::Jpeg)),
                _ => return None,
            };
            Some(Variant {
                name: s.name.clone(),
                width: s.width,
                height: s.height,
                webp: webp.url(id),
                jpeg: jpeg.url(id),
            })
        })
        .collect()
}

/// A user's picture, at the sizes lists, headers and profiles use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Avatar {
    pub small: String,
    pub medium: String,
    pub large: String,
    /// `false`: the generated default (initials on a colour).
    pub custom: bool,
}

impl Avatar {
    /// User `user`'s avatar: the item `avatar` when set, else the default.
    pub fn of(user: Id, avatar: Option<Id>) -> Avatar {
        match avatar {
            Some(m) => Avatar {
                small: Output::Avatar(AVATAR_SIZES[0]).url(m),
                medium: Output::Avatar(AVATAR_SIZES[1]).url(m),
                large: Output::Avatar(AVATAR_SIZES[2]).url(m),
                custom: true,
            },
            None => {
                let url = format!("/api/users/{user}/avatar.svg");
                Avatar {
                    small: url.clone(),
                    medium: url.clone(),
                    large: url,
                    custom: false,
                }
            }
        }
    }
}

/// Background colours for default avatars: mid-tone hues that keep white
/// initials above WCAG's 4.5:1 contrast.
const AVATAR_COLOURS: [&str; 8] = [
    "#b3261e", "#8e3a9d", "#4a4fb0", "#1f6f8b", "#1b7a4b", "#7a5c00", "#a3440f", "#5d6b7a",
];

/// Up to two initials of a name, upper-cased: "Ada Lovelace" → "AL".
pub fn initials(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let firsts = |w: &str| w.chars().next().into_iter().flat_map(char::to_uppercase);
    match words.as_slice() {
        [] => "?".into(),
        [one] => firsts(one).collect(),
        [first, .., last] => firsts(first).chain(firsts(last)).collect(),
    }
}

/// The default avatar: a square SVG with the initials on a colour chosen
/// by the user id (stable, and spread over the palette by its low bits).
pub fn default_avatar_svg(user: Id, name: &str) -> String {
    let colour = AVATAR_COLOURS[(user.0.unsigned_abs() % AVATAR_COLOURS.len() as u64) as usize];
    let text: String = initials(name)
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 96 96\" width=\"96\" height=\"96\">\
         <rect width=\"96\" height=\"96\" fill=\"{colour}\"/>\
         <text x=\"48\" y=\"48\" dy=\".35em\" text-anchor=\"middle\" fill=\"#fff\" \
         font-family=\"system-ui,sans-serif\" font-size=\"40\" font-weight=\"600\">{text}</text></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let id = Id(123_456_789);
        let mut all = Output::all(MediaKind::Video);
        all.extend(Output::all(MediaKind::Image));
        all.extend(Output::all(MediaKind::Avatar));
        for out in all {
            assert_eq!(Output::parse(&out.name(id)), Some((id, out)), "{out:?}");
        }
        assert_eq!(Output::parse(&format!("{id}-a50.webp")), None);
        assert_eq!(Output::parse(&format!("{id}-a48.jpg")), None);
        assert_eq!(Output::parse(&format!("{id}.png")), None);
        assert_eq!(Output::parse(&format!("{id}-other.webp")), None);
        assert_eq!(Output::parse("nope.mp4"), None);
        assert_eq!(Output::parse("noext"), None);
    }

    #[test]
    fn fitting_keeps_the_aspect_and_never_enlarges() {
        assert_eq!(fit(4000, 3000, 2048), (2048, 1536));
        assert_eq!(fit(3000, 4000, 400), (300, 400));
        assert_eq!(fit(300, 200, 400), (300, 200));
        assert_eq!(fit(10_000, 1, 400), (400, 1));
    }

    #[test]
    fn attachments_are_checked() {
        let a = |n: i64, alt: Option<&str>| Attachment {
            id: Id(n),
            alt: alt.map(String::from),
        };
        assert!(check_attachments(&[]).is_ok());
        let ten: Vec<_> = (0..10).map(|n| a(n, None)).collect();
        assert!(check_attachments(&ten).is_ok());
        let eleven: Vec<_> = (0..11).map(|n| a(n, None)).collect();
        assert!(check_attachments(&eleven).is_err());
        assert!(check_attachments(&[a(1, Some(&"é".repeat(1500)))]).is_ok());
        assert!(check_attachments(&[a(1, Some(&"é".repeat(1501)))]).is_err());
        assert!(check_attachments(&[a(1, None), a(1, None)]).is_err());
    }

    #[test]
    fn default_avatars_have_initials_and_a_stable_colour() {
        assert_eq!(initials("Ada Lovelace"), "AL");
        assert_eq!(initials("ada"), "A");
        assert_eq!(initials("  jean luc picard "), "JP");
        assert_eq!(initials(""), "?");
        let svg = default_avatar_svg(Id(7), "<b>");
        assert!(svg.contains("&lt;") && !svg.contains("<b>"));
        assert_eq!(
            default_avatar_svg(Id(7), "x"),
            default_avatar_svg(Id(7), "x")
        );
        assert_ne!(
            default_avatar_svg(Id(7), "x"),
            default_avatar_svg(Id(8), "x")
        );
        let a = Avatar::of(Id(7), None);
        assert!(!a.custom && a.small.ends_with("/avatar.svg"));
        let b = Avatar::of(Id(7), Some(Id(9)));
        assert!(b.custom && b.small.ends_with("-a48.webp") && b.large.ends_with("-a256.webp"));
    }
}
