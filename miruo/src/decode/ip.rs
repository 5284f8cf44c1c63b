//! Network layer: IPv4 (options, fragments) and IPv6 (extension headers, fragment header) down
//! to the TCP bytes. Only first fragments carry a TCP header; later fragments are skipped as
//! not-TCP, as in the original (spec §3.2).

use super::Skip;
use super::link::{NetLayer, NetProto};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const PROTO_TCP: u8 = 6;
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_AUTH: u8 = 51;
const IPV6_DEST_OPTS: u8 = 60;
/// Bound on the extension-header walk, so a crafted chain cannot make us loop long.
const MAX_IPV6_EXT_HEADERS: usize = 8;

/// The transport bytes of a TCP datagram and the IP facts the tracker needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transport<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub more_fragments: bool,
    pub payload: &'a [u8],
}

pub fn transport(net: NetLayer<'_>) -> Result<Transport<'_>, Skip> {
    match net.proto {
        NetProto::Ipv4 => ipv4(net.bytes),
        NetProto::Ipv6 => ipv6(net.bytes),
    }
}

fn ipv4(b: &[u8]) -> Result<Transport<'_>, Skip> {
    if b.len() < 20 {
        return Err(Skip::IpError);
    }
    // The version nibble and total length are not checked, as in the original: GRO/BIG TCP
    // super-frames carry a total length of 0.
    let header_len = usize::from(b[0] & 0x0f) * 4;
    if header_len < 20 || b.len() < header_len {
        return Err(Skip::IpError);
    }
    let frag = u16::from_be_bytes([b[6], b[7]]);
    if frag & 0x1fff != 0 || b[9] != PROTO_TCP {
        return Err(Skip::NotTcp);
    }
    let src = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
    let dst = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
    Ok(Transport {
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        more_fragments: frag & 0x2000 != 0,
        payload: &b[header_len..],
    })
}

fn ipv6(b: &[u8]) -> Result<Transport<'_>, Skip> {
    if b.len() < 40 {
        return Err(Skip::IpError);
    }
    let addr = |at: usize| -> IpAddr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[at..at + 16]);
        IpAddr::V6(Ipv6Addr::from(a))
    };
    let (src, dst) = (addr(8), addr(24));
    let mut next = b[6];
    let mut at = 40;
    let mut more_fragments = false;
    for _ in 0..=MAX_IPV6_EXT_HEADERS {
        match next {
            PROTO_TCP => {
                return Ok(Transport {
                    src,
                    dst,
                    more_fragments,
                    payload: &b[at..],
                });
            }
            IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DEST_OPTS | IPV6_AUTH => {
                let hdr = b.get(at..at + 2).ok_or(Skip::IpError)?;
                // AH counts its length in 4-byte words minus 2, the others in 8-byte words
                // beyond the first 8 bytes (RFC 4302 §2.2, RFC 8200 §4).
                let len = if next == IPV6_AUTH {
                    (usize::from(hdr[1]) + 2) * 4
                } else {
                    (usize::from(hdr[1]) + 1) * 8
                };
                if b.len() < at + len {
                    return Err(Skip::IpError);
                }
                next = hdr[0];
                at += len;
            }
            IPV6_FRAGMENT => {
                let hdr = b.get(at..at + 8).ok_or(Skip::IpError)?;
                let off_flags = u16::from_be_bytes([hdr[2], hdr[3]]);
                if off_flags & 0xfff8 != 0 {
                    return Err(Skip::NotTcp);
                }
                more_fragments = off_flags & 1 != 0;
                next = hdr[0];
                at += 8;
            }
            _ => return Err(Skip::NotTcp),
        }
    }
    Err(Skip::IpError)
}
