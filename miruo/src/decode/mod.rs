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
