//! The pcap/pcapng reader (`FileSource`) on arbitrary file contents, and the decoder on every
//! frame it yields.
//!
//! The input is read from memory through `FileSource::from_reader` (what `open` does with a
//! file or stdin once opened). The frames are read until the end or the first error — a
//! damaged file must end in an error, never a panic or an endless loop — and at most 100,000
//! records, which no input of 16 KB can reach legitimately (every record has a header of at
//! least 12 bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use miruo::decode::decode;
use miruo::source::file::FileSource;
use miruo::source::{Next, Source};
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let Ok(mut source) = FileSource::from_reader("fuzz", Box::new(Cursor::new(data.to_vec())))
    else {
        return;
    };
    let _ = (source.link_type().name(), source.snaplen());
    let mut records = 0u32;
    loop {
        records += 1;
        assert!(
            records < 100_000,
            "reader does not advance: more records than the input can hold"
        );
        match source.next() {
            Ok(Next::Frame(frame)) => {
                let _ = decode(&frame);
            }
            Ok(Next::Metadata | Next::Idle { .. }) => {}
            Ok(Next::End) | Err(_) => break,
        }
    }
    let _ = source.stats();
});
