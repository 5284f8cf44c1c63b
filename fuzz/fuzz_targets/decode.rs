//! Link/IP/TCP decoder (`miruo::decode::decode`) on arbitrary bytes under every link type.
//!
//! Input: the first byte picks the link type (every one miruo decodes, plus one it does not),
//! the rest is the captured frame. Besides "no panic", checks what the tracker relies on: the
//! options and the payload are views into the captured bytes (never beyond them), options are
//! at most 40 bytes, and the time and wire length pass through unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miruo::decode::decode;
use miruo::source::{Frame, LinkType};

const LINKS: [LinkType; 11] = [
    LinkType::ETHERNET,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::RAW,
    LinkType::RAW_12,
    LinkType::RAW_14,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType(147),
];

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr_range(), inner.as_ptr_range());
    inner.is_empty() || (o.start <= i.start && i.end <= o.end)
}

fuzz_target!(|input: &[u8]| {
    let Some((&pick, data)) = input.split_first() else {
        return;
    };
    let link = LINKS[usize::from(pick) % LINKS.len()];
    let frame = Frame {
        ts_us: 1_700_000_000_000_000,
        link,
        wire_len: data.len() as u32 + 3,
        data,
    };
    if let Ok(p) = decode(&frame) {
        assert!(
            p.options.len() <= 40,
            "options longer than a TCP header allows"
        );
        assert!(
            within(data, p.options) && within(data, p.payload),
            "view outside the captured bytes"
        );
        assert_eq!((p.ts_us, p.wire_len), (frame.ts_us, frame.wire_len));
    }
});
