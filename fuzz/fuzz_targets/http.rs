//! HTTP inspection (`HttpDpi::inspect`, `-m http[:REQ[:RES]]`) on arbitrary payloads.
//!
//! The first byte picks the header lists (none, some names, `%` = all), the rest is the
//! segment's payload. Every line produced must be a DPI line without control characters (each
//! is printed as one line of the report, on a terminal), and a request URI must have lost its
//! query string.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miruo::dpi::http::HttpDpi;

const MODES: [&str; 4] = [
    "http",
    "http:%:%",
    "http:User-Agent,Referer:Content-Length",
    "http::%",
];

fuzz_target!(|input: &[u8]| {
    let Some((&pick, payload)) = input.split_first() else {
        return;
    };
    let mode = MODES[usize::from(pick) % MODES.len()];
    let dpi = HttpDpi::from_mode(mode)
        .expect("valid mode")
        .expect("http mode");
    let lines = dpi.inspect(payload);
    for line in &lines {
        assert!(line.starts_with("DPI:HTTP:"), "not a DPI line: {line:?}");
        assert!(
            !line.contains(char::is_control),
            "control character in a DPI line: {line:?}"
        );
    }
    if let Some(request) = lines
        .first()
        .and_then(|l| l.strip_prefix("DPI:HTTP:RequestLine >>>> "))
    {
        let uri = request.split(' ').nth(1).unwrap_or("");
        assert!(!uri.contains('?'), "query string kept: {request:?}");
    }
});
