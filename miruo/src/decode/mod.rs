//! Decoding: captured frame bytes → a [`Packet`] (the TCP segment's fields), or the reason it
//! was skipped. Zero-copy views over the frame, no allocation, and no panic on any input: every
//! length is checked before use, and a malformed header ends in a header-error counter
//! (spec §3.4, fix F5), never in a crash.
//!
//! Layers: [`link`] finds the network header behind Ethernet (with 802.1Q/802.1ad tags), Linux
//! SLL/SLL2, NULL/LOOP or raw IP; [`ip`] walks IPv4 (options, fragments) and IPv6 (extension
//! headers, fragment header) to the TCP header; [`tcp`] reads the TCP header and its options.

pub mod ip;
pub mod link;
pub mod tcp;

use crate::source::Frame;
use std::net::IpAddr;

/// The fields of one captured TCP segment that the session tracker and the report use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Capture time, µs since the Unix epoch.
    pub ts_us: i64,
    /// Frame length on the wire (the original prints it as the segment size).
    pub wire_len: u32,
    /// 802.1Q/802.1ad tags (outer << 12 | inner), 0 when untagged: the same 4-tuple on two
    /// VLANs is two sessions.
    pub vlan: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// All eight flag bits (CWR ECE URG ACK PSH RST SYN FIN).
    pub flags: u8,
    /// TCP option bytes (at most 40).
    pub options: &'a [u8],
    /// The captured bytes after the TCP header (may include link padding; used by DPI only).
    pub payload: &'a [u8],
    /// First fragment of a fragmented IP datagram (IPv4 MF bit, or the IPv6 fragment header's M).
    pub more_fragments: bool,
}

/// Why a frame produced no packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Not TCP (other EtherType or protocol, or a non-first IP fragment): ignored, as tcpdump's
    /// `tcp` would.
    NotTcp,
    /// Link header shorter than its fixed size.
    L2Error,
    /// IP header truncated or invalid (fewer than 20 / 40 bytes, bad header length, truncated
    /// options or extension headers).
    IpError,
    /// TCP header truncated or invalid (fewer than 20 bytes, data offset below 5, header longer
    /// than what was captured).
    TcpError,
    /// A link type miruo does not decode (possible per interface in pcapng files).
    UnsupportedLink,
}

/// Header-error counters of the statistics block (spec §3.4, §7.1). Frames of a link type
/// miruo cannot decode (an interface of a pcapng file) count as L2 errors, so that nothing is
/// dropped without a trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeaderErrors {
    pub l2: u64,
    pub ip: u64,
    pub tcp: u64,
}

impl HeaderErrors {
    pub fn count(&mut self, skip: Skip) {
        match skip {
            Skip::NotTcp => {}
            Skip::L2Error | Skip::UnsupportedLink => self.l2 += 1,
            Skip::IpError => self.ip += 1,
            Skip::TcpError => self.tcp += 1,
        }
    }
}

/// Decodes one frame down to its TCP segment.
pub fn decode<'a>(frame: &Frame<'a>) -> Result<Packet<'a>, Skip> {
    let net = link::network_layer(frame.link, frame.data)?;
    let ip = ip::transport(net)?;
    let tcp = tcp::TcpHeader::parse(ip.payload)?;
    Ok(Packet {
        ts_us: frame.ts_us,
        wire_len: frame.wire_len,
        vlan: net.vlan,
        src: ip.src,
        dst: ip.dst,
        sport: tcp.sport,
        dport: tcp.dport,
        seq: tcp.seq,
        ack: tcp.ack,
        flags: tcp.flags,
        options: tcp.options,
        payload: tcp.payload,
        more_fragments: ip.more_fragments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::LinkType;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The first SYN of cases/normal_http.pcap: Ethernet, IPv4 (DF), TCP with mss, sackOK,
    /// timestamps, nop, wscale.
    const SYN: [u8; 74] = [
        0x4a, 0xee, 0xcc, 0xee, 0xe3, 0x0e, 0xfa, 0x79, 0x7f, 0x46, 0x4f, 0x00, 0x08, 0x00, 0x45,
        0x00, //
        0x00, 0x3c, 0x03, 0xc1, 0x40, 0x00, 0x40, 0x06, 0x22, 0x5f, 0x0a, 0x4d, 0x00, 0x01, 0x0a,
        0x4d, //
        0x00, 0x02, 0xec, 0x60, 0x1f, 0x90, 0x93, 0xb5, 0xc7, 0x46, 0x00, 0x00, 0x00, 0x00, 0xa0,
        0x02, //
        0xfa, 0xf0, 0x14, 0xcb, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x01,
        0xf2, //
        0x41, 0x54, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
    ];

    fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
        Frame {
            ts_us: 7,
            link,
            wire_len: data.len() as u32,
            data,
        }
    }

    #[test]
    fn ethernet_ipv4_tcp_syn() {
        let p = decode(&frame(LinkType::ETHERNET, &SYN)).expect("a valid SYN");
        assert_eq!(p.src, IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1)));
        assert_eq!(p.dst, IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2)));
        assert_eq!(
            (p.sport, p.dport, p.seq, p.ack, p.flags),
            (60512, 8080, 0x93b5_c746, 0, tcp::SYN)
        );
        assert_eq!(p.options.len(), 20);
        assert_eq!(
            (p.payload.len(), p.more_fragments, p.vlan, p.wire_len),
            (0, false, 0, 74)
        );
    }

    #[test]
    fn vlan_and_qinq_tags_are_walked() {
        let mut tagged = SYN[..12].to_vec();
        tagged.extend_from_slice(&[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x64]);
        tagged.extend_from_slice(&SYN[12..]);
        let p = decode(&frame(LinkType::ETHERNET, &tagged)).expect("QinQ");
        assert_eq!(p.vlan, (10 << 12) | 100);
        assert_eq!(p.sport, 60512);
        // A tag cut short is an L2 error.
        assert_eq!(
            decode(&frame(LinkType::ETHERNET, &tagged[..16])),
            Err(Skip::L2Error)
        );
    }

    #[test]
    fn cooked_null_loop_and_raw_links() {
        let ip = &SYN[14..];
        let mut sll = vec![
            0, 4, 0, 1, 0, 6, 0xfa, 0x79, 0x7f, 0x46, 0x4f, 0, 0, 0, 0x08, 0x00,
        ];
        sll.extend_from_slice(ip);
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 0xfa, 0x79, 0x7f, 0x46, 0x4f, 0, 0, 0,
        ];
        sll2.extend_from_slice(ip);
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(ip);
        let mut null_be = vec![0, 0, 0, 2];
        null_be.extend_from_slice(ip);
        let mut lo = vec![0, 0, 0, 2];
        lo.extend_from_slice(ip);
        for (link, data) in [
            (LinkType::LINUX_SLL, &sll[..]),
            (LinkType::LINUX_SLL2, &sll2[..]),
            (LinkType::NULL, &null[..]),
            (LinkType::NULL, &null_be[..]),
            (LinkType::LOOP, &lo[..]),
            (LinkType::RAW, ip),
            (LinkType::IPV4, ip),
        ] {
            let p = decode(&frame(link, data)).unwrap_or_else(|e| panic!("{link:?}: {e:?}"));
            assert_eq!(p.seq, 0x93b5_c746, "{link:?}");
        }
        assert_eq!(
            decode(&frame(LinkType::LINUX_SLL, &sll[..15])),
            Err(Skip::L2Error)
        );
        assert_eq!(
            decode(&frame(LinkType(147), ip)),
            Err(Skip::UnsupportedLink)
        );
    }

    #[test]
    fn ipv4_options_and_fragments() {
        let mut ip = SYN[14..].to_vec();
        // IHL 6 with a 4-byte option (NOP NOP NOP EOL).
        ip[0] = 0x46;
        ip.splice(20..20, [1, 1, 1, 0]);
        assert_eq!(
            decode(&frame(LinkType::RAW, &ip)).map(|p| p.sport),
            Ok(60512)
        );
        // MF set: a first fragment.
        ip[6] = 0x20;
        assert!(
            decode(&frame(LinkType::RAW, &ip))
                .expect("first fragment")
                .more_fragments
        );
        // A later fragment has no TCP header.
        ip[7] = 0x10;
        assert_eq!(decode(&frame(LinkType::RAW, &ip)), Err(Skip::NotTcp));
        // IHL below 5 and options beyond the capture are IP errors.
        ip[0] = 0x44;
        assert_eq!(decode(&frame(LinkType::RAW, &ip)), Err(Skip::IpError));
        assert_eq!(decode(&frame(LinkType::RAW, &ip[..19])), Err(Skip::IpError));
    }

    fn ipv6(next: u8, ext: &[u8]) -> Vec<u8> {
        let tcp = &SYN[34..];
        let mut v = vec![0x60, 0, 0, 0, 0, 0, next, 64];
        v.extend_from_slice(&Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).octets());
        v.extend_from_slice(&Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).octets());
        v.extend_from_slice(ext);
        v.extend_from_slice(tcp);
        let len = (v.len() - 40) as u16;
        v[4..6].copy_from_slice(&len.to_be_bytes());
        v
    }

    #[test]
    fn ipv6_with_extension_headers_and_fragments() {
        let plain = ipv6(6, &[]);
        let p = decode(&frame(LinkType::RAW, &plain)).expect("IPv6 TCP");
        assert_eq!(
            p.src,
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1))
        );
        assert_eq!(p.dport, 8080);
        // Hop-by-hop (8 bytes) then destination options (16 bytes) then TCP.
        let mut ext = vec![60, 0, 1, 4, 0, 0, 0, 0];
        ext.extend_from_slice(&[6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            decode(&frame(LinkType::IPV6, &ipv6(0, &ext))).map(|p| p.dport),
            Ok(8080)
        );
        // Fragment header: first fragment (offset 0, M=1), then a later one.
        let first = ipv6(44, &[6, 0, 0, 1, 0, 0, 0, 9]);
        assert!(
            decode(&frame(LinkType::IPV6, &first))
                .expect("first")
                .more_fragments
        );
        let later = ipv6(44, &[6, 0, 0x05, 0x00, 0, 0, 0, 9]);
        assert_eq!(decode(&frame(LinkType::IPV6, &later)), Err(Skip::NotTcp));
        // An extension header running past the capture.
        assert_eq!(
            decode(&frame(LinkType::IPV6, &ipv6(0, &[6, 200])[..44])),
            Err(Skip::IpError)
        );
        // UDP.
        assert_eq!(
            decode(&frame(LinkType::IPV6, &ipv6(17, &[]))),
            Err(Skip::NotTcp)
        );
    }

    #[test]
    fn tcp_header_errors_f5() {
        let mut f = SYN;
        f[46] = 0x40; // data offset 4
        assert_eq!(decode(&frame(LinkType::ETHERNET, &f)), Err(Skip::TcpError));
        assert_eq!(
            decode(&frame(LinkType::ETHERNET, &SYN[..60])),
            Err(Skip::TcpError),
            "options cut off"
        );
        assert_eq!(
            decode(&frame(LinkType::ETHERNET, &SYN[..40])),
            Err(Skip::TcpError)
        );
        assert_eq!(
            decode(&frame(LinkType::ETHERNET, &SYN[..30])),
            Err(Skip::IpError)
        );
        assert_eq!(
            decode(&frame(LinkType::ETHERNET, &SYN[..10])),
            Err(Skip::L2Error)
        );
    }
}
