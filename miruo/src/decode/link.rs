//! Link layer: finds the network-layer header and its protocol behind each supported link type.
//! Never reads past the captured bytes; a header shorter than its fixed size is an L2 error.

use super::Skip;
use crate::source::LinkType;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Pre-standard QinQ tag still seen in captures.
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// More stacked tags than this are treated as garbage rather than walked forever.
const MAX_VLAN_TAGS: usize = 4;

/// Address families of the BSD NULL/LOOP headers (the IPv6 value differs between BSDs).
const AF_INET: u32 = 2;
const AF_INET6: [u32; 3] = [10, 24, 28]; // Linux, NetBSD/OpenBSD, FreeBSD/DragonFly
const AF_INET6_DARWIN: u32 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetProto {
    Ipv4,
    Ipv6,
}

/// The network-layer bytes of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetLayer<'a> {
    pub proto: NetProto,
    pub vlan: u32,
    pub bytes: &'a [u8],
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub fn network_layer(link: LinkType, data: &[u8]) -> Result<NetLayer<'_>, Skip> {
    match link {
        LinkType::ETHERNET => ethernet(data),
        LinkType::LINUX_SLL => {
            // 16-byte header; protocol in bytes 14..16 (an EtherType for IP).
            let ethertype = be16(data, 14).ok_or(Skip::L2Error)?;
            ethertype_payload(ethertype, &data[16..], 0)
        }
        LinkType::LINUX_SLL2 => {
            // 20-byte header; protocol in bytes 0..2.
            if data.len() < 20 {
                return Err(Skip::L2Error);
            }
            let ethertype = be16(data, 0).ok_or(Skip::L2Error)?;
            ethertype_payload(ethertype, &data[20..], 0)
        }
        LinkType::NULL | LinkType::LOOP => {
            let family: [u8; 4] = data
                .get(..4)
                .ok_or(Skip::L2Error)?
                .try_into()
                .map_err(|_| Skip::L2Error)?;
            // NULL stores the family in the writer's byte order, LOOP in network order; the
            // values are small, so whichever reading is small is the right one.
            let (be, le) = (u32::from_be_bytes(family), u32::from_le_bytes(family));
            let family = if link == LinkType::LOOP || be < 256 {
                be
            } else {
                le
            };
            let proto = match family {
                AF_INET => NetProto::Ipv4,
                f if AF_INET6.contains(&f) || f == AF_INET6_DARWIN => NetProto::Ipv6,
                _ => return Err(Skip::NotTcp),
            };
            Ok(NetLayer {
                proto,
                vlan: 0,
                bytes: &data[4..],
            })
        }
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => {
            let proto = match data.first().map(|b| b >> 4) {
                Some(4) => NetProto::Ipv4,
                Some(6) => NetProto::Ipv6,
                // Empty or another version: nothing we could decode as IP.
                Some(_) => return Err(Skip::NotTcp),
                None => return Err(Skip::IpError),
            };
            Ok(NetLayer {
                proto,
                vlan: 0,
                bytes: data,
            })
        }
        LinkType::IPV4 => Ok(NetLayer {
            proto: NetProto::Ipv4,
            vlan: 0,
            bytes: data,
        }),
        LinkType::IPV6 => Ok(NetLayer {
            proto: NetProto::Ipv6,
            vlan: 0,
            bytes: data,
        }),
        _ => Err(Skip::UnsupportedLink),
    }
}

fn ethernet(data: &[u8]) -> Result<NetLayer<'_>, Skip> {
    let mut ethertype = be16(data, 12).ok_or(Skip::L2Error)?;
    let mut at = 14;
    let mut vlan = 0u32;
    let mut tags = 0;
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        tags += 1;
        if tags > MAX_VLAN_TAGS {
            return Err(Skip::L2Error);
        }
        let tci = be16(data, at).ok_or(Skip::L2Error)?;
        ethertype = be16(data, at + 2).ok_or(Skip::L2Error)?;
        vlan = (vlan << 12) | u32::from(tci & 0x0fff);
        at += 4;
    }
    ethertype_payload(ethertype, &data[at..], vlan)
}

fn ethertype_payload(ethertype: u16, bytes: &[u8], vlan: u32) -> Result<NetLayer<'_>, Skip> {
    let proto = match ethertype {
        ETHERTYPE_IPV4 => NetProto::Ipv4,
        ETHERTYPE_IPV6 => NetProto::Ipv6,
        _ => return Err(Skip::NotTcp),
    };
    Ok(NetLayer { proto, vlan, bytes })
}
