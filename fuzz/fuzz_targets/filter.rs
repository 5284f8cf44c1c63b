//! The filter front end (`Filter::new`: libpcap's `pcap_compile`; `Filter::matches`:
//! `pcap_offline_filter`) on arbitrary expressions and frames.
//!
//! Input: the expression up to the first NUL byte (lossily UTF-8, as a command line would be),
//! then frames, each a link-type byte, a length byte and that many bytes. Several frames of
//! several link types exercise the per-link-type recompilation. libpcap is C: its bugs show up
//! as AddressSanitizer reports or crashes here. A libpcap error must come back as an `Err` with
//! a message, and `uncompilable` must count exactly the frames whose link type the expression
//! does not compile for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miruo::filter::Filter;
use miruo::source::{Frame, LinkType};

const LINKS: [LinkType; 10] = [
    LinkType::ETHERNET,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::RAW,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::RAW_14,
    LinkType(147),
];

fuzz_target!(|input: &[u8]| {
    let (expr, mut rest) = match input.iter().position(|&b| b == 0) {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => (input, &[][..]),
    };
    // pcap_compile takes a C string: an expression is never longer than a command line here.
    if expr.len() > 512 {
        return;
    }
    let expr = String::from_utf8_lossy(expr);
    let first = rest
        .first()
        .map_or(LinkType::ETHERNET, |&b| LINKS[usize::from(b) % LINKS.len()]);
    let mut filter = match Filter::new(&expr, first) {
        Ok(f) => f,
        Err(message) => {
            assert!(!message.is_empty(), "empty error message for {expr:?}");
            return;
        }
    };
    assert_eq!(filter.expression(), expr);
    let mut skipped = 0;
    while let [link, len, tail @ ..] = rest {
        let link = LINKS[usize::from(*link) % LINKS.len()];
        let n = usize::from(*len).min(tail.len());
        let (data, next) = tail.split_at(n);
        rest = next;
        let before = filter.uncompilable;
        let frame = Frame {
            ts_us: 0,
            link,
            wire_len: data.len() as u32,
            data,
        };
        let matched = filter.matches(&frame);
        if filter.uncompilable > before {
            assert!(!matched, "a frame without a program matched");
            skipped += 1;
        }
    }
    assert_eq!(filter.uncompilable, skipped);
});
