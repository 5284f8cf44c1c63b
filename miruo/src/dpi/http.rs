//! HTTP inspection for `-m http[:REQ[:RES]]` (spec §9): the request line of a GET or POST, the
//! status line of an HTTP/1.0 or 1.1 response, and the listed headers, each segment on its own
//! (no reassembly). Query strings are stripped from the URI and from `Referer`, as the original
//! does, so that secrets in URLs do not end up in logs.
//!
//! Header lines are parsed as `Name: value` lines. The original tokenised the whole head on
//! `:`, CR and LF, so a header *value* equal to a listed name was mis-reported as a header; that
//! quirk is not reproduced.

/// The largest part of a segment inspected.
const MAX_HEAD: usize = 2047;

/// The `-m http` settings: which headers to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpDpi {
    /// Request headers to print; `Host` is always included; `%` matches every name.
    request: Vec<String>,
    /// Response headers to print (none by default).
    response: Vec<String>,
}

impl HttpDpi {
    /// Parses the `-m` argument: `tcp` (no inspection) or `http[:REQHDRS[:RESHDRS]]`, each list
    /// comma-separated. Header names match exactly (case-sensitive), as in the original.
    pub fn from_mode(mode: &str) -> Result<Option<HttpDpi>, String> {
        if mode == "tcp" {
            return Ok(None);
        }
        let mut parts = mode.splitn(3, ':');
        if parts.next() != Some("http") {
            return Err(format!(
                "unknown mode '{mode}' (expected tcp or http[:REQHDRS[:RESHDRS]])"
            ));
        }
        let list = |s: Option<&str>| -> Vec<String> {
            s.unwrap_or("")
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut request = list(parts.next());
        request.push("Host".to_string());
        let response = list(parts.next());
        Ok(Some(HttpDpi { request, response }))
    }

    /// The DPI lines for one segment's payload; empty when it starts no HTTP message.
    ///
    /// Control characters (a bare CR in a header value, terminal escape sequences) are shown
    /// as `.`: each line is printed as one line of the report, on a terminal.
    pub fn inspect(&self, payload: &[u8]) -> Vec<String> {
        let mut lines = self.lines(payload);
        for line in &mut lines {
            if line.contains(char::is_control) {
                *line = line
                    .chars()
                    .map(|c| if c.is_control() { '.' } else { c })
                    .collect();
            }
        }
        lines
    }

    fn lines(&self, payload: &[u8]) -> Vec<String> {
        let head = &payload[..payload.len().min(MAX_HEAD)];
        let head = head.split(|&b| b == 0).next().unwrap_or_default();
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let Some(first) = lines.next() else {
            return Vec::new();
        };
        let mut words = first.split(' ').filter(|w| !w.is_empty());
        let mut out = Vec::new();
        let wanted = match words.next() {
            Some(method @ ("GET" | "POST")) => {
                let (Some(uri), Some(version)) = (words.next(), words.next()) else {
                    return out;
                };
                out.push(format!(
                    "DPI:HTTP:RequestLine >>>> {method} {} {version}",
                    strip_query(uri)
                ));
                &self.request
            }
            Some(version @ ("HTTP/1.0" | "HTTP/1.1")) => {
                let rest = first[version.len()..].trim_start();
                let (code, reason) =
                    rest.split_at(rest.char_indices().nth(3).map_or(rest.len(), |(i, _)| i));
                if !is_status(code) {
                    return out;
                }
                out.push(format!(
                    "DPI:HTTP:ResponseLine >>> {version} {code} {}",
                    reason.trim_start()
                ));
                &self.response
            }
            _ => return out,
        };
        for line in lines {
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if wanted.iter().any(|w| w == "%" || w == name) {
                let value = value.trim();
                let value = if name == "Referer" {
                    strip_query(value)
                } else {
                    value
                };
                out.push(format!("DPI:HTTP:Header >>>>>>>>> {name}: {value}"));
            }
        }
        out
    }
}

fn strip_query(uri: &str) -> &str {
    uri.split('?').next().unwrap_or(uri)
}

/// The original's numeric check on the 3-character status: optional sign, then digits.
fn is_status(code: &str) -> bool {
    let digits = code.strip_prefix(['+', '-']).unwrap_or(code);
    code.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dpi(mode: &str) -> HttpDpi {
        HttpDpi::from_mode(mode).expect("valid mode").expect("http")
    }

    // spec §9, with the request of cases/http_dpi.pcap.
    #[test]
    fn request_line_and_listed_headers() {
        let req = b"GET /index.html?q=1 HTTP/1.1\r\nHost: 10.77.0.2:8080\r\nUser-Agent: a/1.0\r\nAccept: */*\r\n\
                    Referer: http://example.com/from?secret=1\r\n\r\nbody: no\r\n";
        assert_eq!(
            dpi("http:User-Agent,Referer").inspect(req),
            [
                "DPI:HTTP:RequestLine >>>> GET /index.html HTTP/1.1",
                "DPI:HTTP:Header >>>>>>>>> Host: 10.77.0.2:8080",
                "DPI:HTTP:Header >>>>>>>>> User-Agent: a/1.0",
                "DPI:HTTP:Header >>>>>>>>> Referer: http://example.com/from",
            ]
        );
        assert_eq!(dpi("http").inspect(req).len(), 2, "Host only by default");
        assert_eq!(dpi("http:%").inspect(req).len(), 5);
    }

    #[test]
    fn response_line_and_headers() {
        let res =
            b"HTTP/1.0 501 Unsupported method ('POST')\r\nServer: S\r\nContent-Length: 357\r\n\r\n";
        assert_eq!(
            dpi("http::Content-Length").inspect(res),
            [
                "DPI:HTTP:ResponseLine >>> HTTP/1.0 501 Unsupported method ('POST')",
                "DPI:HTTP:Header >>>>>>>>> Content-Length: 357"
            ]
        );
        assert_eq!(
            dpi("http").inspect(b"HTTP/1.1 +12 odd\r\n\r\n"),
            ["DPI:HTTP:ResponseLine >>> HTTP/1.1 +12 odd"]
        );
        assert!(dpi("http").inspect(b"HTTP/1.1 2x0 bad\r\n").is_empty());
    }

    #[test]
    fn other_methods_and_binary_are_ignored() {
        let http = dpi("http:%:%");
        for payload in [
            &b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"",
            b"\0GET / HTTP/1.1",
            b"GET",
            b"\xff\xfe",
        ] {
            assert!(http.inspect(payload).is_empty(), "{payload:?}");
        }
    }

    #[test]
    fn modes() {
        assert_eq!(HttpDpi::from_mode("tcp"), Ok(None));
        for bad in ["ftp", "httpx", "HTTP", ""] {
            assert!(HttpDpi::from_mode(bad).is_err(), "{bad}");
        }
    }
}
