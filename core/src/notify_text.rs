//! What a notification says outside the app: the title, text and page of
//! a push, and the lines of an email digest. Plain text only: a push is
//! shown by the operating system, and the digest is a text mail.

/// A push's title and body for a notification of `kind` caused by
/// `actor` (their display name), quoting `excerpt` (the post, comment or
/// message it is about) when there is one.
pub fn push_text(kind: &str, actor: &str, excerpt: Option<&str>) -> (String, String) {
    let quoted = excerpt.filter(|e| !e.is_empty()).map(|e| format!("“{e}”"));
    let (title, fallback) = match kind {
        "friend_request" => (
            format!("{actor} sent you a friend request"),
            "Open kith to answer",
        ),
        "friend_accepted" => (
            format!("{actor} accepted your friend request"),
            "You are friends now",
        ),
        "like" => (format!("{actor} liked your post"), ""),
        "comment" => (format!("{actor} commented on your post"), ""),
        "mention" => (format!("{actor} mentioned you"), ""),
        "chat_mention" => (format!("{actor} mentioned you in a chat"), ""),
        "message" => (
            format!("New message from {actor}"),
            "Open the conversation to read it",
        ),
        _ => ("kith".to_string(), "Something new in kith"),
    };
    (title, quoted.unwrap_or_else(|| fallback.to_string()))
}

/// The client's page for a notification: the conversation, the post (at
/// the comment), the friend requests, or the list.
pub fn page(kind: &str, subject: Option<&str>) -> String {
    match (kind, subject) {
        ("message" | "chat_mention", Some(c)) => format!("/#/chat/{c}"),
        ("like" | "comment" | "mention", Some(p)) => format!("/#/post/{p}"),
        ("friend_request" | "friend_accepted", _) => "/#/friends".to_string(),
        _ => "/#/notifications".to_string(),
    }
}

/// One line of a digest.
pub fn line(kind: &str, actor: Option<&str>) -> String {
    let who = actor.unwrap_or("Someone");
    match kind {
        "friend_request" => format!("{who} sent you a friend request"),
        "friend_accepted" => format!("{who} accepted your friend request"),
        "like" => format!("{who} liked your post"),
        "comment" => format!("{who} commented on your post"),
        "mention" => format!("{who} mentioned you in a post"),
        "chat_mention" => format!("{who} mentioned you in a chat"),
        "message" => format!("{who} sent you a message"),
        _ => "Something new".to_string(),
    }
}

pub fn digest_subject(n: usize) -> String {
    if n == 1 {
        "kith: 1 thing you have not seen".to_string()
    } else {
        format!("kith: {n} things you have not seen")
    }
}

/// The digest mail's text: a greeting, at most `max` lines, how many more,
/// and where to read them.
pub fn digest_text(username: &str, lines: &[String], max: usize, base: Option<&str>) -> String {
    let mut text = format!("Hello {username},\n\nWhile you were away:\n\n");
    for l in lines.iter().take(max) {
        text.push_str("- ");
        text.push_str(l);
        text.push('\n');
    }
    if lines.len() > max {
        text.push_str(&format!("- and {} more\n", lines.len() - max));
    }
    match base {
        Some(b) => text.push_str(&format!(
            "\nRead them at {}/#/notifications\n",
            b.trim_end_matches('/')
        )),
        None => text.push_str("\nOpen kith to read them.\n"),
    }
    text.push_str(
        "\nYou get this because email is on for these kinds in Settings > Notifications.\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_name_the_actor_and_quote_what_it_is_about() {
        let (t, b) = push_text("comment", "Bob", Some("nice picnic"));
        assert_eq!(t, "Bob commented on your post");
        assert_eq!(b, "“nice picnic”");
        let (t, b) = push_text("message", "Ann", None);
        assert_eq!(t, "New message from Ann");
        assert!(!b.is_empty());
        assert_eq!(page("message", Some("abc")), "/#/chat/abc");
        assert_eq!(page("like", Some("p1")), "/#/post/p1");
        assert_eq!(page("friend_request", Some("r")), "/#/friends");
        assert_eq!(page("report_resolved", None), "/#/notifications");
        let lines: Vec<String> = (0..3)
            .map(|i| line("like", Some(&format!("u{i}"))))
            .collect();
        let text = digest_text("ann", &lines, 2, Some("https://kith.example/"));
        assert!(
            text.contains("- u0 liked your post\n- u1 liked your post\n- and 1 more\n"),
            "{text}"
        );
        assert!(text.contains("https://kith.example/#/notifications"));
        assert_eq!(digest_subject(1), "kith: 1 thing you have not seen");
    }
}
