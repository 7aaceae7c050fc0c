//! Short forms of user text, for places with room for a line.

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
}
