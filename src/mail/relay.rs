//! Where mail goes: `--smtp-url` parsed into an SMTP transport.
//!
//! The grammar: `smtp://[USER:PASSWORD@]HOST[:PORT][/EHLO-NAME]` speaks
//! STARTTLS when the server offers it (`?tls=required`: refuses to send
//! in the clear); `smtps://...` is TLS from the first byte. USER and
//! PASSWORD are percent-encoded, as in any URL.
//!
//! lettre's own `from_url` reads `smtp://` as never TLS, which would send
//! passwords in the clear to a server that offers STARTTLS: hence this
//! parser.

use percent_encoding::percent_decode_str;
use url::Url;

/// The submission port (RFC 6409), where STARTTLS is the norm.
const SUBMISSION_PORT: u16 = 587;
/// The submissions port (RFC 8314): TLS from the first byte.
const SUBMISSIONS_PORT: u16 = 465;

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// STARTTLS when the server offers it, clear text otherwise.
    Opportunistic,
    /// STARTTLS or no mail.
    Required,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// A parsed `--smtp-url`.
#[derive(Clone, PartialEq, Eq)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// (user, password), decoded.
    pub credentials: Option<(String, String)>,
    /// The name given in EHLO; `None`: lettre's `[127.0.0.1]`.
    pub hello: Option<String>,
}

impl std::fmt::Debug for Relay {
    // The password never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .field("hello", &self.hello)
            .finish()
    }
}

impl std::fmt::Display for Relay {
    /// `host:port` and how it is reached, for logs and errors.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tls = match self.tls {
            TlsMode::Opportunistic => "STARTTLS if offered",
            TlsMode::Required => "STARTTLS required",
            TlsMode::Implicit => "TLS",
        };
        write!(f, "{}:{} ({tls})", self.host, self.port)
    }
}

impl Relay {
    /// Parses `--smtp-url`; the error says what is wrong, never the
    /// password.
    pub fn parse(s: &str) -> Result<Relay, String> {
        let url = Url::parse(s.trim()).map_err(|e| format!("not a URL ({e})"))?;
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => return Err(format!("scheme {other}: use smtp:// or smtps://")),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err("no host".into()),
        };
        let mut tls = if implicit {
            TlsMode::Implicit
        } else {
            TlsMode::Opportunistic
        };
        for (k, v) in url.query_pairs() {
            match (k.as_ref(), v.as_ref(), implicit) {
                ("tls", "required", false) => tls = TlsMode::Required,
                ("tls", "opportunistic", false) => tls = TlsMode::Opportunistic,
                ("tls", v, false) => {
                    return Err(format!("tls={v}: use tls=required or tls=opportunistic"));
                }
                ("tls", _, true) => return Err("smtps:// is always TLS; drop ?tls=".into()),
                (k, _, _) => return Err(format!("unknown parameter {k}")),
            }
        }
        let port = url.port().unwrap_or(if implicit {
            SUBMISSIONS_PORT
        } else {
            SUBMISSION_PORT
        });
        let decode = |part: &str, what: &str| {
            percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| format!("the {what} is not UTF-8 once decoded"))
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, Some(password)) if !user.is_empty() => {
                Some((decode(user, "user")?, decode(password, "password")?))
            }
            _ => return Err("give both USER:PASSWORD@, or neither".into()),
        };
        let hello = match url.path().trim_matches('/') {
            "" => None,
            name if name.contains('/') => return Err(format!("EHLO name {name}: one name")),
            name => Some(name.to_owned()),
        };
        if url.fragment().is_some() {
            return Err("a fragment (#...) means nothing here".into());
        }
        Ok(Relay {
            host,
            port,
            tls,
            credentials,
            hello,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Relay {
        Relay::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn the_grammar() {
        let r = ok("smtp://mail.example.org");
        assert_eq!(
            (r.host.as_str(), r.port, r.tls),
            ("mail.example.org", 587, TlsMode::Opportunistic)
        );
        assert_eq!(r.credentials, None);
        assert_eq!(r.hello, None);

        let r = ok("smtp://mail.example.org:2525?tls=required");
        assert_eq!((r.port, r.tls), (2525, TlsMode::Required));

        let r = ok("smtps://u%40x.org:p%3Ass%2Fw@mail.example.org/kith.example.org");
        assert_eq!((r.port, r.tls), (465, TlsMode::Implicit));
        assert_eq!(
            r.credentials,
            Some(("u@x.org".to_owned(), "p:ss/w".to_owned()))
        );
        assert_eq!(r.hello.as_deref(), Some("kith.example.org"));

        let r = ok("smtp://127.0.0.1:25");
        assert_eq!((r.host.as_str(), r.port), ("127.0.0.1", 25));
        let r = ok("smtp://[::1]:25");
        assert_eq!(r.host, "::1");
    }

    #[test]
    fn bad_urls_say_why() {
        for (bad, why) in [
            ("mail.example.org", "not a URL"),
            ("http://mail.example.org", "scheme http"),
            ("smtp://", "no host"),
            ("smtp://h?tls=maybe", "tls=maybe"),
            ("smtps://h?tls=required", "always TLS"),
            ("smtp://h?port=25", "unknown parameter port"),
            ("smtp://user@h", "USER:PASSWORD"),
            ("smtp://:pw@h", "USER:PASSWORD"),
            ("smtp://h/a/b", "one name"),
        ] {
            let e = Relay::parse(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn the_password_stays_out_of_logs() {
        let r = ok("smtp://me:hunter2@h");
        assert!(!format!("{r:?}").contains("hunter2"));
        assert!(!format!("{r}").contains("hunter2"));
    }
}
