//! TCP header: ports, sequence numbers, flags, options and the captured payload.

use super::Skip;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpHeader<'a> {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> TcpHeader<'a> {
    /// Fewer than 20 bytes, a data offset below 5 (the original crashed on it, F5) or a header
    /// longer than the captured bytes are TCP header errors.
    pub fn parse(b: &'a [u8]) -> Result<Self, Skip> {
        if b.len() < 20 {
            return Err(Skip::TcpError);
        }
        let header_len = usize::from(b[12] >> 4) * 4;
        if header_len < 20 || b.len() < header_len {
            return Err(Skip::TcpError);
        }
        let be32 = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        Ok(TcpHeader {
            sport: u16::from_be_bytes([b[0], b[1]]),
            dport: u16::from_be_bytes([b[2], b[3]]),
            seq: be32(4),
            ack: be32(8),
            flags: b[13],
            options: &b[20..header_len],
            payload: &b[header_len..],
        })
    }
}
