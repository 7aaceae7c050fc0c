//! What kith reads in user text: short forms for places with room for a
//! line, and the `@mentions` and `#tags` in posts, comments and messages.
//! The web client finds them with the same rules (assets/text.js).

/// `text` cut to `width` characters, an ellipsis marking a cut.
pub fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `text` on one line (runs of whitespace, newlines included, become one
/// space), then [`clip`]ped: a quote of a post or comment in a list.
pub fn excerpt(text: &str, width: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    clip(&line, width)
}

/// The most mentions one text may notify: a post naming 500 people is
/// spam, not a conversation (Mastodon's limit is similar).
pub const MAX_MENTIONS: usize = 20;
/// The most tags one text counts.
pub const MAX_TAGS: usize = 10;
/// The longest tag (characters).
pub const MAX_TAG_CHARS: usize = 50;

/// Whether `c` may stand before an `@` or `#` that starts a mention or
/// tag: `mail@example.com` and `page#anchor` are neither.
fn boundary(c: Option<char>) -> bool {
    c.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '/'))
}

/// The usernames `@mentioned` in `text`, in order of first mention,
/// without repeats, at most [`MAX_MENTIONS`]. A username is 3 to 32 ASCII
/// letters, digits, `_` or `.`, starting with a letter or digit (the
/// sign-up rule); a trailing `.` ends the sentence, not the name.
pub fn mentions(text: &str) -> Vec<String> {
    // Most texts name no one: one byte search (SIMD) instead of a walk
    // over every character.
    if !text.contains('@') {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    let mut prev = None;
    for (i, c) in text.char_indices() {
        if c == '@' && boundary(prev) {
            let rest = &text[i + 1..];
            let len = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
                .count();
            let name = rest[..len].trim_end_matches('.');
            let starts_well = name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric());
            if starts_well
                && (3..=32).contains(&name.len())
                && !out.iter().any(|n| n.eq_ignore_ascii_case(name))
            {
                out.push(name.to_owned());
                if out.len() == MAX_MENTIONS {
                    break;
                }
            }
        }
        prev = Some(c);
    }
    out
}

/// The `#tags` in `text`, lowercased, in order of first use, without
/// repeats, at most [`MAX_TAGS`]. A tag is letters, digits and `_` (any
/// script), 1 to [`MAX_TAG_CHARS`] characters, not all digits (`#1` is a
/// number, not a topic).
pub fn hashtags(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut prev = None;
    for (i, c) in text.char_indices() {
        if c == '#' && boundary(prev) {
            let tag: String = text[i + 1..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let n = tag.chars().count();
            let numeric = tag.chars().all(|c| c.is_ascii_digit());
            if (1..=MAX_TAG_CHARS).contains(&n) && !numeric {
                let tag = tag.to_lowercase();
                if !out.contains(&tag) {
                    out.push(tag);
                    if out.len() == MAX_TAGS {
                        break;
                    }
                }
            }
        }
        prev = Some(c);
    }
    out
}

/// The longest URL a link preview is made for (bytes).
pub const MAX_URL_BYTES: usize = 2_048;

/// A URL without what a sentence put after it: `.`, `,`, quotes and the
/// like, and a closing bracket it did not open (`(see http://x.io/a)`
/// keeps no `)`, `…/Rust_(language)` keeps its own). The web client trims
/// the same (assets/text.js).
fn trim_url(url: &str) -> &str {
    let mut u = url;
    loop {
        let Some(last) = u.chars().next_back() else {
            return u;
        };
        let opener = match last {
            ')' => Some('('),
            ']' => Some('['),
            '}' => Some('{'),
            _ => None,
        };
        let trailing = ".,;:!?'\"\u{2019}\u{201d}\u{bb}\u{2026}".contains(last);
        let unopened = opener.is_some_and(|o| u.matches(last).count() > u.matches(o).count());
        if trailing || unopened {
            u = &u[..u.len() - last.len_utf8()];
        } else {
            return u;
        }
    }
}

/// The first `http://` or `https://` URL in `text`, without the
/// punctuation that ends a sentence around it; the web client links the
/// same (assets/text.js).
pub fn first_url(text: &str) -> Option<String> {
    let mut from = 0;
    while let Some(i) = text[from..].find("http") {
        let start = from + i;
        let rest = &text[start..];
        let prev = text[..start].chars().next_back();
        let scheme = rest.starts_with("https://") || rest.starts_with("http://");
        if scheme && boundary(prev) {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
                .unwrap_or(rest.len());
            let url = trim_url(&rest[..end]);
            let host_part = url.split_once("://").map_or("", |(_, h)| h);
            if !host_part.is_empty() && url.len() <= MAX_URL_BYTES {
                return Some(url.to_owned());
            }
        }
        from = start + 4;
    }
    None
}

/// Whether `tag` (without `#`) is one [`hashtags`] could find.
pub fn is_tag(tag: &str) -> bool {
    let n = tag.chars().count();
    (1..=MAX_TAG_CHARS).contains(&n)
        && tag.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !tag.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_counts_characters_not_bytes() {
        assert_eq!(clip("short", 8), "short");
        assert_eq!(clip("exactly8", 8), "exactly8");
        assert_eq!(clip("ninechars", 8), "ninecha…");
        assert_eq!(clip("ééééééééé", 4), "ééé…");
    }

    #[test]
    fn excerpt_is_one_line() {
        assert_eq!(excerpt("  dinner\n\nat  eight\t", 40), "dinner at eight");
        assert_eq!(excerpt("one two three", 7), "one tw…");
        assert_eq!(excerpt(" \n ", 7), "");
    }

    #[test]
    fn finds_mentions_at_word_starts_only() {
        assert_eq!(
            mentions("hi @bob and @Carol_1, mail me@example.com or @al. (@dan.s)"),
            vec!["bob", "Carol_1", "dan.s"]
        );
        assert_eq!(mentions("@bob @BOB @bob"), vec!["bob"]);
        assert!(mentions("@ab @_x @").is_empty(), "too short or a bad start");
        assert_eq!(mentions("end with @eve."), vec!["eve"]);
        let many: String = (0..30).map(|i| format!("@user{i} ")).collect();
        assert_eq!(mentions(&many).len(), MAX_MENTIONS);
    }

    #[test]
    fn finds_tags_in_any_script() {
        assert_eq!(
            hashtags("#Rust and #rust, #café #日本 #1 #a_b page#x https://x.io/#frag"),
            vec!["rust", "café", "日本", "a_b"]
        );
        assert!(hashtags("# nothing").is_empty());
        assert!(is_tag("café") && !is_tag("123") && !is_tag("a-b") && !is_tag(""));
        let long = format!("#{}", "x".repeat(MAX_TAG_CHARS + 1));
        assert!(hashtags(&long).is_empty());
    }

    #[test]
    fn finds_the_first_url_without_its_punctuation() {
        assert_eq!(
            first_url("see https://example.com/a?b=1. And http://x.io").as_deref(),
            Some("https://example.com/a?b=1")
        );
        assert_eq!(
            first_url("(http://x.io/p)").as_deref(),
            Some("http://x.io/p")
        );
        assert_eq!(
            first_url("see https://en.wikipedia.org/wiki/Rust_(language).").as_deref(),
            Some("https://en.wikipedia.org/wiki/Rust_(language)")
        );
        assert_eq!(first_url("nohttps://x.io or ftp://y"), None);
        assert_eq!(first_url("http:// nothing"), None);
        assert_eq!(first_url("plain text"), None);
    }
}
