//! TCP option rendering (`miruo::report::options::render`) on arbitrary option bytes.
//!
//! Real option lists are at most 40 bytes, but the renderer takes any slice; longer inputs are
//! kept so that a loop that fails to advance shows up as a timeout. The output must be
//! printable ASCII (it is written into a text line) and in proportion to the input: every item
//! consumes at least two bytes and the densest one, `len=2 opt[255]` plus its `, `, is 16
//! characters, so at most 8 characters per byte, plus a final `, malformed`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miruo::report::options::render;

fuzz_target!(|opts: &[u8]| {
    let mut out = b"prefix ".to_vec();
    render(opts, &mut out);
    let rendered = &out[7..];
    assert!(
        rendered.iter().all(|b| (0x20..0x7f).contains(b)),
        "non-printable output: {rendered:?}"
    );
    assert!(
        rendered.len() <= 8 * opts.len() + 11,
        "output out of proportion: {} bytes for {}",
        rendered.len(),
        opts.len()
    );
});
