//! Parsing and policing the two server URLs (WebSocket and REST).
//!
//! Plain-text schemes (`ws://`, `http://`) are accepted only for loopback hosts, so a typo in
//! a configuration file can never send market-data requests in clear text over the internet;
//! the simulator and tests use them on 127.0.0.1.

use std::net::IpAddr;

use hyper::Uri;

use crate::error::FeedError;

/// A parsed server address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `wss`/`https` (true) or `ws`/`http` (false).
    pub(crate) secure: bool,
    /// Host name or IP literal, without brackets.
    pub(crate) host: String,
    /// Port (scheme default when absent).
    pub(crate) port: u16,
    /// Path and query, at least `/`.
    pub(crate) path: String,
    /// The `Host` header value (`host` or `host:port`).
    pub(crate) host_header: String,
}

/// Which pair of schemes an endpoint may use.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    WebSocket,
    Http,
}

fn invalid(url: &str, reason: impl Into<String>) -> FeedError {
    FeedError::InvalidUrl {
        url: la_core::redact_url(url),
        reason: reason.into(),
    }
}

/// Whether a host is a loopback name or address.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Endpoint {
    /// Parses `url` for `kind`, refusing clear text to non-loopback hosts.
    pub(crate) fn parse(url: &str, kind: Kind) -> Result<Self, FeedError> {
        let uri: Uri = url.parse().map_err(|e| invalid(url, format!("{e}")))?;
        let scheme = uri
            .scheme_str()
            .ok_or_else(|| invalid(url, "missing scheme"))?;
        let (secure, default_port) = match (kind, scheme) {
            (Kind::WebSocket, "wss") | (Kind::Http, "https") => (true, 443),
            (Kind::WebSocket, "ws") | (Kind::Http, "http") => (false, 80),
            (Kind::WebSocket, other) => {
                return Err(invalid(url, format!("scheme {other:?} is not ws or wss")));
            }
            (Kind::Http, other) => {
                return Err(invalid(
                    url,
                    format!("scheme {other:?} is not http or https"),
                ));
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid(url, "missing host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !secure && !is_loopback_host(&host) {
            return Err(invalid(
                url,
                "clear-text ws:// and http:// are only allowed for loopback hosts",
            ));
        }
        let port = uri.port_u16().unwrap_or(default_port);
        let path = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let path = if path.is_empty() {
            "/".to_owned()
        } else {
            path
        };
        let host_for_header = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let host_header = match uri.port_u16() {
            Some(p) => format!("{host_for_header}:{p}"),
            None => host_for_header,
        };
        Ok(Self {
            secure,
            host,
            port,
            path,
            host_header,
        })
    }

    /// The base (`scheme://host[:port]`) without a trailing slash, for building REST URLs.
    pub(crate) fn base(&self, kind: Kind) -> String {
        let scheme = match (kind, self.secure) {
            (Kind::WebSocket, true) => "wss",
            (Kind::WebSocket, false) => "ws",
            (Kind::Http, true) => "https",
            (Kind::Http, false) => "http",
        };
        let prefix = self.path.trim_end_matches('/');
        format!("{scheme}://{}{prefix}", self.host_header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_urls_parse_as_secure() {
        let ws = Endpoint::parse("wss://fapi.bitunix.com/public/", Kind::WebSocket).unwrap();
        assert!(ws.secure);
        assert_eq!(ws.port, 443);
        assert_eq!(ws.path, "/public/");
        assert_eq!(ws.host_header, "fapi.bitunix.com");
        let rest = Endpoint::parse("https://fapi.bitunix.com", Kind::Http).unwrap();
        assert_eq!(rest.base(Kind::Http), "https://fapi.bitunix.com");
    }

    #[test]
    fn clear_text_is_only_allowed_for_loopback() {
        assert!(Endpoint::parse("ws://127.0.0.1:9000/public/", Kind::WebSocket).is_ok());
        assert!(Endpoint::parse("ws://localhost:9000/public/", Kind::WebSocket).is_ok());
        assert!(Endpoint::parse("http://[::1]:9000", Kind::Http).is_ok());
        assert!(matches!(
            Endpoint::parse("ws://fapi.bitunix.com/public/", Kind::WebSocket),
            Err(FeedError::InvalidUrl { .. })
        ));
        assert!(matches!(
            Endpoint::parse("http://10.0.0.1/", Kind::Http),
            Err(FeedError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn wrong_scheme_and_garbage_are_refused() {
        assert!(Endpoint::parse("https://x/", Kind::WebSocket).is_err());
        assert!(Endpoint::parse("wss://x/", Kind::Http).is_err());
        assert!(Endpoint::parse("not a url", Kind::Http).is_err());
        assert!(Endpoint::parse("/public/", Kind::WebSocket).is_err());
    }

    #[test]
    fn host_header_keeps_an_explicit_port() {
        let ws = Endpoint::parse("ws://127.0.0.1:4567/public/", Kind::WebSocket).unwrap();
        assert_eq!(ws.host_header, "127.0.0.1:4567");
        assert_eq!(ws.port, 4567);
    }
}
