//! A queued [`Mail`] as the message put on the wire.

use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;

use crate::store::mail::Mail;

/// The message: From, To, Subject, the mail's own Message-ID, Date (of
/// this attempt), a plain UTF-8 text body. An error here is the mail's
/// fault (an address or an ID that cannot be sent) and will not get
/// better with retries.
pub fn build(from: &Mailbox, mail: &Mail) -> Result<Message, String> {
    let to: Mailbox = mail
        .to
        .trim()
        .parse()
        .map_err(|e| format!("recipient {:?} is not an address: {e}", mail.to))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        // A line break in a subject would end the header: a subject is
        // one line.
        .subject(one_line(&mail.subject))
        .message_id(Some(message_id(&mail.message_id)?))
        .date_now()
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text.clone())
        .map_err(|e| format!("building the message: {e}"))
}

/// `<id@domain>`, with the angle brackets added when the queued ID has
/// none; refuses what would break the header.
fn message_id(id: &str) -> Result<String, String> {
    let bare = id.trim().trim_start_matches('<').trim_end_matches('>');
    let ok = bare.contains('@')
        && bare
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>'));
    if ok {
        Ok(format!("<{bare}>"))
    } else {
        Err(format!("Message-ID {id:?} is not <local@domain>"))
    }
}

fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(to: &str, id: &str) -> Mail {
        Mail {
            to: to.into(),
            subject: "Réinitialiser\r\nBcc: x@y.z".into(),
            text: "Bonjour,\nvoici le lien.\n".into(),
            message_id: id.into(),
        }
    }

    #[test]
    fn headers_and_body() {
        let from: Mailbox = "kith <kith@example.org>".parse().expect("from");
        let m = build(&from, &mail("ann@example.org", "abc.1@kith.example.org")).expect("built");
        let raw = String::from_utf8(m.formatted()).expect("utf-8");
        assert!(raw.contains("From: kith <kith@example.org>\r\n"), "{raw}");
        assert!(raw.contains("To: ann@example.org\r\n"), "{raw}");
        assert!(
            raw.contains("Message-ID: <abc.1@kith.example.org>\r\n"),
            "{raw}"
        );
        assert!(raw.contains("Date: "), "{raw}");
        assert!(raw.contains("text/plain; charset=utf-8"), "{raw}");
        // The injected header stayed inside the (encoded) subject.
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
    }

    #[test]
    fn bad_recipients_and_ids_are_refused() {
        let from: Mailbox = "kith@example.org".parse().expect("from");
        for to in [
            "",
            "ann",
            "ann@",
            "ann@example.org, bob@example.org",
            "a\r\nb@c.d",
        ] {
            let e = build(&from, &mail(to, "<a@b>")).expect_err(to);
            assert!(e.contains("not an address"), "{to}: {e}");
        }
        for id in ["", "no-at", "<a b@c>", "a@b\r\nBcc: x@y.z"] {
            assert!(
                build(&from, &mail("ann@example.org", id)).is_err(),
                "{id:?}"
            );
        }
        assert_eq!(message_id("<a@b>").as_deref(), Ok("<a@b>"));
        assert_eq!(message_id("a@b").as_deref(), Ok("<a@b>"));
    }
}
