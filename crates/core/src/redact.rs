//! Redacting URLs before they are shown or stored.
//!
//! A server URL can carry credentials: a user and password (`wss://user:password@host/`) or
//! a token in its query (`https://host/?token=…`). Logs, `summary.json`, the report, the
//! journal, the heartbeat, the dashboard and alerts outlive the process and are shared with
//! people who must not see them, so every URL passes through [`redact_url`] on its way there:
//! userinfo becomes `…@`, a query `?…` and a fragment `#…`; scheme, host, port and path stay,
//! which is what a reader needs to tell which server was meant. [`url_origin`] keeps only the
//! scheme, host and port, for URLs whose path is itself the secret (webhooks).
//!
//! The split is deliberately suspicious: a password may contain `/`, `@`, `?` or `#` unencoded,
//! so everything up to the *last* `@` counts as userinfo, and when an `@` follows the first `?`
//! or `#` (a password holding one, or an address in the query: the two cannot be told apart)
//! nothing after the scheme is shown. An odd URL then hides more than it needs to — never less.

/// What stands in for a removed part.
const HIDDEN: &str = "…";

/// A URL cut into the parts that may be shown and flags for those that may not.
struct Parts<'a> {
    scheme: Option<&'a str>,
    /// `None` when nothing after the scheme can be shown safely.
    shown: Option<Shown<'a>>,
}

struct Shown<'a> {
    userinfo: bool,
    /// Host and port.
    authority: &'a str,
    path: &'a str,
    query: bool,
    fragment: bool,
}

impl<'a> Parts<'a> {
    fn split(url: &'a str) -> Self {
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (Some(scheme), rest),
            None => (None, url),
        };
        let query_start = rest.find(['?', '#']);
        let (userinfo, rest) = match (rest.rfind('@'), query_start) {
            (Some(at), Some(query)) if at > query => {
                return Self {
                    scheme,
                    shown: None,
                };
            }
            (Some(at), _) => (true, &rest[at + 1..]),
            (None, _) => (false, rest),
        };
        let (before_fragment, fragment) = match rest.split_once('#') {
            Some((before, _)) => (before, true),
            None => (rest, false),
        };
        let (before_query, query) = match before_fragment.split_once('?') {
            Some((before, _)) => (before, true),
            None => (before_fragment, false),
        };
        let (authority, path) = before_query
            .find('/')
            .map_or((before_query, ""), |at| before_query.split_at(at));
        Self {
            scheme,
            shown: Some(Shown {
                userinfo,
                authority,
                path,
                query,
                fragment,
            }),
        }
    }

    /// The scheme (with `://`), then the userinfo marker when asked for and present, then the
    /// authority; `…` alone when nothing may be shown.
    fn origin(&self, userinfo: bool) -> String {
        let mut out = String::new();
        if let Some(scheme) = self.scheme {
            out.push_str(scheme);
            out.push_str("://");
        }
        match &self.shown {
            Some(shown) => {
                if userinfo && shown.userinfo {
                    out.push_str(HIDDEN);
                    out.push('@');
                }
                out.push_str(shown.authority);
            }
            None => out.push_str(HIDDEN),
        }
        out
    }
}

/// `url` with its userinfo, query and fragment replaced by `…`:
/// `wss://user:password@host/public/?token=t` becomes `wss://…@host/public/?…`. A URL with
/// none of them is returned unchanged.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let parts = Parts::split(url);
    let mut out = parts.origin(true);
    if let Some(shown) = &parts.shown {
        out.push_str(shown.path);
        if shown.query {
            out.push('?');
            out.push_str(HIDDEN);
        }
        if shown.fragment {
            out.push('#');
            out.push_str(HIDDEN);
        }
    }
    out
}

/// Only the scheme, host and port of `url` (`https://hooks.example.com`), for URLs whose path
/// is a secret too.
#[must_use]
pub fn url_origin(url: &str) -> String {
    Parts::split(url).origin(false)
}

/// Serialises a URL string redacted (`#[serde(serialize_with = "…")]` on configuration
/// fields that are written to run files).
///
/// # Errors
/// Whatever the serializer returns.
pub fn serialize_redacted_url<S: serde::Serializer>(
    url: &str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_url(url))
}

#[cfg(test)]
mod tests {
    use super::{redact_url, url_origin};

    #[test]
    fn userinfo_query_and_fragment_are_hidden_and_the_rest_is_kept() {
        assert_eq!(
            redact_url("wss://user:password@fapi.example.com:8443/public/?token=abc#frag"),
            "wss://…@fapi.example.com:8443/public/?…#…"
        );
        assert_eq!(
            redact_url("https://fapi.example.com?token=abc"),
            "https://fapi.example.com?…"
        );
        assert_eq!(
            redact_url("https://fapi.bitunix.com"),
            "https://fapi.bitunix.com"
        );
        assert_eq!(
            redact_url("wss://fapi.bitunix.com/public/"),
            "wss://fapi.bitunix.com/public/"
        );
    }

    #[test]
    fn a_password_with_url_delimiters_never_shows() {
        for url in [
            "wss://alice:Pw1/Pw2@host/public/",
            "wss://alice:Pw1?Pw2@host/public/",
            "wss://alice:Pw1#Pw2@host/public/",
            "wss://alice:Pw1@Pw2@host/public/",
            "alice:Pw1/Pw2@host/public/",
        ] {
            let shown = redact_url(url);
            assert!(
                !shown.contains("Pw") && !shown.contains("alice"),
                "{url} → {shown}"
            );
        }
        assert_eq!(
            redact_url("wss://alice:Pw1/Pw2@host/public/"),
            "wss://…@host/public/"
        );
        assert_eq!(redact_url("wss://alice:Pw1?Pw2@host/public/"), "wss://…");
    }

    #[test]
    fn an_at_sign_in_the_query_hides_more_never_less() {
        let url = "https://host/path?email=a@secret.example&token=t0k3n";
        assert_eq!(redact_url(url), "https://…");
        assert_eq!(url_origin(url), "https://…");
    }

    #[test]
    fn the_origin_keeps_scheme_host_and_port_only() {
        assert_eq!(
            url_origin("https://u:p@hooks.slack.com:443/services/T000/B000/SECRET?x=1"),
            "https://hooks.slack.com:443"
        );
        assert_eq!(url_origin("http://127.0.0.1:9/hook"), "http://127.0.0.1:9");
    }
}
