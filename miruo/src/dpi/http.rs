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
            return Err(format!("unknown mode '{mode}' (expected tcp or http[:REQHDRS[:RESHDRS]])"));
        }
        let list = |s: Option<&str>| -> Vec<String> {
            s.unwrap_or("").split(',').filter(|n| !n.is_empty()).map(str::to_string).collect()
        };
        let mut request = list(parts.next());
        request.push("Host".to_string());
        let response = list(parts.next());
        Ok(Some(HttpDpi { request, response }))
    }

    /// The DPI lines for one segment's payload; empty when it starts no HTTP message.
    pub fn inspect(&self, payload: &[u8]) -> Vec<String> {
        let head = &payload[..payload.len().min(MAX_HEAD)];
        let head = head.split(|&b| b == 0).next().unwrap_or_default();
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let Some(first) = lines.next() else { return Vec::new() };
        let mut words = first.split(' ').filter(|w| !w.is_empty());
        let mut out = Vec::new();
        let wanted = match words.next() {
            Some(method @ ("GET" | "POST")) => {
                let (Some(uri), Some(version)) = (words.next(), words.next()) else { return out };
                out.push(format!("DPI:HTTP:RequestLine >>>> {method} {} {version}", strip_query(uri)));
                &self.request
            }
            Some(version @ ("HTTP/1.0" | "HTTP/1.1")) => {
                let rest = first[version.len()..].trim_start();
                let (code, reason) = rest.split_at(rest.char_indices().nth(3).map_or(rest.len(), |(i, _)| i));
                if !is_status(code) {
                    return out;
                }
                out.push(format!("DPI:HTTP:ResponseLine >>> {version} {code} {}", reason.trim_start()));
                &self.response
            }
            _ => return out,
        };
        for line in lines {
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else { continue };
            if wanted.iter().any(|w| w == "%" || w == name) {
                let value = value.trim();
                let value = if name == "Referer" { strip_query(value) } else { value };
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
