//! Text into byte buffers without `core::fmt`: the printf-style padding the report needs
//! (`%Nu`, `%0Nu`, `%08X`, `%Ns`, `%-Ns`), several times faster per line.

/// Decimal, right-aligned in `width` columns, padded with spaces (`%Nu`).
pub fn push_dec(buf: &mut Vec<u8>, n: u64, width: usize) {
    push_num(buf, n, width, b' ');
}

/// Decimal, zero-padded to `width` digits (`%0Nu`).
pub fn push_dec0(buf: &mut Vec<u8>, n: u64, width: usize) {
    push_num(buf, n, width, b'0');
}

pub fn push_num(buf: &mut Vec<u8>, mut n: u64, width: usize, pad: u8) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - at;
    buf.extend(std::iter::repeat_n(pad, width.saturating_sub(len)));
    buf.extend_from_slice(&digits[at..]);
}

/// Eight upper-case hex digits (`%08X`).
pub fn push_hex8(buf: &mut Vec<u8>, n: u32) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for shift in (0..8).rev() {
        buf.push(HEX[(n >> (shift * 4)) as usize & 0xf]);
    }
}

/// `s` right-aligned (`%Ns`) or left-aligned (`%-Ns`) in `width` columns.
pub fn push_right(buf: &mut Vec<u8>, s: &[u8], width: usize) {
    buf.extend(std::iter::repeat_n(b' ', width.saturating_sub(s.len())));
    buf.extend_from_slice(s);
}

pub fn push_left(buf: &mut Vec<u8>, s: &[u8], width: usize) {
    buf.extend_from_slice(s);
    buf.extend(std::iter::repeat_n(b' ', width.saturating_sub(s.len())));
}

pub fn push_spaces(buf: &mut Vec<u8>, n: usize) {
    buf.extend(std::iter::repeat_n(b' ', n));
}
