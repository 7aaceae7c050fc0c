//! A page's card from its head: Open Graph first (`og:title`,
//! `og:description`, `og:image`, `og:site_name`), then Twitter's tags,
//! then `<title>` and `<meta name="description">`. A tolerant scan of the
//! tags, not a parser: attribute order, quotes and case vary, and a page
//! that confuses it just gives a poorer card.

use url::Url;

/// What a card shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub title: Option<String>,
    pub description: Option<String>,
    pub image: Option<String>,
    pub site_name: Option<String>,
}

/// The longest title and description kept (characters): a card shows two
/// lines of each.
const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 400;

/// The card of `html`, read from `base` (relative image URLs resolve
/// against it; only http and https images are kept).
pub fn scan(html: &str, base: &Url) -> Meta {
    let mut props: Vec<(String, String)> = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = lower[at..].find("<meta") {
        let start = at + i;
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        let tag = &html[start..end];
        let key = attr(tag, "property").or_else(|| attr(tag, "name"));
        if let (Some(k), Some(v)) = (key, attr(tag, "content")) {
            props.push((k.to_ascii_lowercase(), v));
        }
        at = end;
    }
    let get = |names: &[&str]| {
        names.iter().find_map(|n| {
            props
                .iter()
                .find(|(k, v)| k == n && !v.trim().is_empty())
                .map(|(_, v)| v.clone())
        })
    };
    let title_tag = lower.find("<title").and_then(|i| {
        let open = i + lower[i..].find('>')? + 1;
        let close = open + lower[open..].find("</title")?;
        Some(html[open..close].to_owned())
    });
    let image = get(&["og:image", "og:image:url", "twitter:image"])
        .and_then(|i| base.join(decode(&i).trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(String::from);
    Meta {
        title: get(&["og:title", "twitter:title"])
            .or(title_tag)
            .map(|t| clean(&t, MAX_TITLE)),
        description: get(&["og:description", "twitter:description", "description"])
            .map(|d| clean(&d, MAX_DESCRIPTION)),
        image,
        site_name: get(&["og:site_name"]).map(|s| clean(&s, MAX_TITLE)),
    }
    .nonempty()
}

impl Meta {
    fn nonempty(mut self) -> Meta {
        for f in [&mut self.title, &mut self.description, &mut self.site_name] {
            if f.as_deref().is_some_and(str::is_empty) {
                *f = None;
            }
        }
        self
    }

    /// Whether there is anything to show.
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.description.is_none() && self.image.is_none()
    }
}

/// Decoded, on one line, at most `max` characters.
fn clean(s: &str, max: usize) -> String {
    kith_core::text::excerpt(&decode(s), max)
}

/// The value of attribute `name` in `tag` (`<meta …`), quoted or not.
fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        // A whole attribute name: `content` is not `data-content`.
        let before = lower[..at].chars().next_back();
        if !before.is_some_and(char::is_whitespace) {
            continue;
        }
        let rest = tag[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        return Some(match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or("").to_owned(),
            _ => rest
                .split(|c: char| c.is_whitespace() || c == '/' || c == '>')
                .next()
                .unwrap_or("")
                .to_owned(),
        });
    }
    None
}

/// The common character references: named ones a title uses, and numeric.
fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => {
                    let n = name.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://news.example/story/1").expect("url")
    }

    #[test]
    fn open_graph_comes_first_and_entities_are_decoded() {
        let html = r#"<html><head><title>Plain title</title>
            <meta property="og:title" content="Tom &amp; Jerry&#39;s &quot;day&quot;">
            <META content='A  long
               description' name=description>
            <meta property=og:image content="/img/cover.jpg" />
            <meta property="og:site_name" content="News">
            </head><body>ignored</body></html>"#;
        let m = scan(html, &base());
        assert_eq!(m.title.as_deref(), Some("Tom & Jerry's \"day\""));
        assert_eq!(m.description.as_deref(), Some("A long description"));
        assert_eq!(
            m.image.as_deref(),
            Some("https://news.example/img/cover.jpg")
        );
        assert_eq!(m.site_name.as_deref(), Some("News"));
    }

    #[test]
    fn falls_back_to_the_title_and_drops_odd_images() {
        let html = r#"<title>Only &lt;this&gt;</title>
            <meta data-content="x" property="og:image" content="javascript:alert(1)">"#;
        let m = scan(html, &base());
        assert_eq!(m.title.as_deref(), Some("Only <this>"));
        assert_eq!(m.image, None, "only http and https images");
        assert!(scan("<p>no head at all</p>", &base()).is_empty());
        let long = format!("<title>{}</title>", "x".repeat(500));
        assert_eq!(
            scan(&long, &base()).title.map(|t| t.chars().count()),
            Some(200)
        );
    }
}
