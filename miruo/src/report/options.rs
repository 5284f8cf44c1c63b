//! Rendering of TCP options as the original prints them (spec §6.3): `mss=1460, sackOK,
//! timestamp 1 2, wscale=7`, `sack 1` for any SACK option, `len=L opt[K]` for the rest. A
//! malformed option list is rendered up to the bad byte, then `malformed` (F5; the original
//! crashed or looped there).

use super::bytes::push_dec;

const EOL: u8 = 0;
const NOP: u8 = 1;
const MSS: u8 = 2;
const WSCALE: u8 = 3;
const SACK_OK: u8 = 4;
const SACK: u8 = 5;
const TIMESTAMP: u8 = 8;

/// Appends the rendering of `opts` to `out` (without the surrounding `<` `>`).
pub fn render(opts: &[u8], out: &mut Vec<u8>) {
    let mut at = 0;
    let mut first = true;
    let mut item = |out: &mut Vec<u8>| {
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
    };
    while at < opts.len() {
        let kind = opts[at];
        match kind {
            EOL => break,
            NOP => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let len = opts.get(at + 1).map_or(0, |&l| usize::from(l));
        let Some(data) = opts.get(at + 2..at + len.max(2)).filter(|_| len >= 2) else {
            item(out);
            out.extend_from_slice(b"malformed");
            return;
        };
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        // The original decodes 1, 2, 4 and 8 data bytes; any other size reads as zero.
        let (d0, d1) = match data.len() {
            1 => (u32::from(data[0]), 0),
            2 => (u32::from(u16::from_be_bytes([data[0], data[1]])), 0),
            4 => (be32(data), 0),
            8 => (be32(&data[..4]), be32(&data[4..])),
            _ => (0, 0),
        };
        item(out);
        let (d0, d1) = (u64::from(d0), u64::from(d1));
        match kind {
            MSS => {
                out.extend_from_slice(b"mss=");
                push_dec(out, d0, 0);
            }
            WSCALE => {
                out.extend_from_slice(b"wscale=");
                push_dec(out, d0, 0);
            }
            SACK_OK => out.extend_from_slice(b"sackOK"),
            SACK => out.extend_from_slice(b"sack 1"),
            TIMESTAMP => {
                out.extend_from_slice(b"timestamp ");
                push_dec(out, d0, 0);
                out.push(b' ');
                push_dec(out, d1, 0);
            }
            _ => {
                out.extend_from_slice(b"len=");
                push_dec(out, len as u64, 0);
                out.extend_from_slice(b" opt[");
                push_dec(out, u64::from(kind), 0);
                out.push(b']');
            }
        }
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    fn text(opts: &[u8]) -> String {
        let mut s = Vec::new();
        render(opts, &mut s);
        String::from_utf8(s).expect("ASCII")
    }

    // spec §6.3: the renderings seen in the reference outputs.
    #[test]
    fn renders_like_the_original() {
        let syn = [
            2, 4, 5, 180, 4, 2, 8, 10, 0xb4, 0xb9, 0x5a, 0x77, 0, 0, 0, 0, 1, 3, 3, 10,
        ];
        assert_eq!(
            text(&syn),
            "mss=1460, sackOK, timestamp 3032046199 0, wscale=10"
        );
        let sack = [
            1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3,
            0, 0, 0, 4,
        ];
        assert_eq!(text(&sack), "timestamp 1 2, sack 1");
        assert_eq!(text(&[34, 2]), "len=2 opt[34]");
        assert_eq!(text(&[254, 4, 0xf9, 0x89]), "len=4 opt[254]");
        assert_eq!(text(&[]), "");
        assert_eq!(text(&[0, 2, 4, 5, 180]), "", "EOL ends the list");
    }

    // F5: malformed lists end in `malformed` instead of a crash.
    #[test]
    fn malformed_lengths() {
        assert_eq!(text(&[99, 0, 2, 4]), "malformed");
        assert_eq!(text(&[2, 4, 5, 180, 8, 1]), "mss=1460, malformed");
        assert_eq!(text(&[2, 40, 5, 180]), "malformed");
        assert_eq!(text(&[3]), "malformed");
    }
}
