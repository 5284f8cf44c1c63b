//! The part of a filter expression that live capture also evaluates in the kernel, so traffic
//! the expression excludes never reaches the ring buffer (issue 4's push-down).
//!
//! Recognised, and nothing else: terms `[src|dst] host ADDR`, `[src|dst] net ADDR/LEN`,
//! `[src|dst] net ADDR mask MASK`, `[src|dst] port N`, with the qualifiers `ip`/`ip6` before
//! `host`/`net` (matching the address's family) and `tcp` before `port`, and the bare protocol
//! terms `ip`, `ip6`, `tcp`; joined by `and` or `&&`. Anything else — `or`, `not`/`!`,
//! parentheses, `portrange`, byte offsets, host or service names (they would need DNS or
//! /etc/services), abbreviated or octal numbers, a bare value that inherits the previous
//! qualifiers (`host a and b`) — gives `None`: the whole expression then runs in user space
//! only. Being conservative costs only speed; being wrong would hide traffic.
//!
//! Semantics are tcpdump's on the TCP frames the kernel records: `host A` is either address,
//! `port N` either port, an IPv4 address never matches an IPv6 frame and back. The full
//! expression still runs in user space (libpcap), so the kernel side only has to be implied by
//! it; where libpcap is stricter (`port` on a later IPv4 fragment, or on IPv6 behind extension
//! headers) the kernel records and libpcap drops, with the same result.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which side of the packet a term looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Src,
    Dst,
    /// Either side: tcpdump's default (`host A` = `src host A or dst host A`).
    Either,
}

/// What a term tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    /// `(address & mask) == net`; `net` has no bits outside `mask`; both of the same family.
    /// `host A` is a full mask.
    Addr { net: IpAddr, mask: IpAddr },
    /// A TCP port.
    Port(u16),
    /// The IP version: `ip` (false) or `ip6` (true).
    Ipv6(bool),
}

/// One term of the conjunction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term {
    pub dir: Dir,
    pub test: Test,
}

/// The conjunction `expression` means, when it is made only of the terms this module knows;
/// `None` otherwise. An empty list: nothing to test in the kernel (empty expression, or only
/// `tcp`, which every recorded frame is).
pub fn parse(expression: &str) -> Option<Vec<Term>> {
    let tokens = tokens(expression);
    let mut terms = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        if at > 0 {
            match tokens[at] {
                "and" | "&&" => at += 1,
                _ => return None,
            }
        }
        let (term, used) = term(tokens.get(at..)?)?;
        terms.extend(term);
        at += used;
    }
    // A trailing `and` (`port 80 and`) is a syntax error libpcap reports; never push that.
    if tokens.last().is_some_and(|t| matches!(*t, "and" | "&&")) {
        return None;
    }
    Some(terms)
}

/// Splits on white space and around `&&` (libpcap accepts `port 80&&host a`).
fn tokens(expression: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for word in expression.split_whitespace() {
        let mut rest = word;
        while let Some(i) = rest.find("&&") {
            if i > 0 {
                out.push(&rest[..i]);
            }
            out.push("&&");
            rest = &rest[i + 2..];
        }
        if !rest.is_empty() {
            out.push(rest);
        }
    }
    out
}

/// One term at the start of `t`: the term (`None` for `tcp`, which tests nothing here) and how
/// many tokens it used.
fn term(t: &[&str]) -> Option<(Option<Term>, usize)> {
    let mut at = 0;
    let proto = match t.first().copied()? {
        p @ ("tcp" | "ip" | "ip6") => {
            at += 1;
            Some(p)
        }
        _ => None,
    };
    let dir = match t.get(at).copied() {
        Some("src") => Some(Dir::Src),
        Some("dst") => Some(Dir::Dst),
        _ => None,
    };
    if dir.is_some() {
        at += 1;
    }
    let kind = t.get(at).copied();
    if !matches!(kind, Some("host" | "net" | "port")) {
        // A bare protocol: `ip`, `ip6`, `tcp` (followed by `and` or the end).
        if dir.is_some() || !matches!(kind, None | Some("and" | "&&")) {
            return None;
        }
        let test = match proto? {
            "tcp" => return Some((None, at)),
            "ip" => Test::Ipv6(false),
            _ => Test::Ipv6(true),
        };
        return Some((
            Some(Term {
                dir: Dir::Either,
                test,
            }),
            at,
        ));
    }
    at += 1;
    let dir = dir.unwrap_or(Dir::Either);
    let value = t.get(at).copied()?;
    at += 1;
    let test = match kind? {
        "port" => {
            if !matches!(proto, None | Some("tcp")) {
                return None;
            }
            Test::Port(number(value)?)
        }
        "host" => {
            let a = address(value)?;
            Test::Addr {
                net: a,
                mask: prefix_mask(a.is_ipv6(), full(a))?,
            }
        }
        _ => {
            let (net, mask) = if t.get(at) == Some(&"mask") {
                let net: Ipv4Addr = value.parse().ok()?;
                let mask: Ipv4Addr = t.get(at + 1)?.parse().ok()?;
                at += 2;
                (IpAddr::V4(net), IpAddr::V4(mask))
            } else {
                let (a, len) = match value.split_once('/') {
                    Some((a, len)) => (address(a)?, decimal(len)?),
                    None => {
                        let a = address(value)?;
                        (a, u32::from(full(a)))
                    }
                };
                (a, prefix_mask(a.is_ipv6(), u8::try_from(len).ok()?)?)
            };
            // libpcap refuses "non-network bits set"; the kernel compares masked values.
            if and(net, mask)? != net {
                return None;
            }
            Test::Addr { net, mask }
        }
    };
    if let Test::Addr { net, .. } = test {
        // `ip host` wants IPv4, `ip6 host` IPv6; `tcp host` is a libpcap error.
        let ok = match proto {
            None => true,
            Some("ip") => net.is_ipv4(),
            Some("ip6") => net.is_ipv6(),
            Some(_) => false,
        };
        if !ok {
            return None;
        }
    }
    Some((Some(Term { dir, test }), at))
}

/// A plain decimal number without leading zeros (libpcap reads `010` as octal, `0x50` as hex:
/// not worth guessing), as a port.
fn number(s: &str) -> Option<u16> {
    u16::try_from(decimal(s)?).ok()
}

fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// A numeric address; names are not resolved (DNS belongs to libpcap, in user space).
/// Rust's parser takes only the full dotted quad without leading zeros, which libpcap reads the
/// same way.
fn address(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

fn full(a: IpAddr) -> u8 {
    if a.is_ipv6() { 128 } else { 32 }
}

fn prefix_mask(v6: bool, len: u8) -> Option<IpAddr> {
    if v6 {
        if len > 128 {
            return None;
        }
        // A shift by the full width is None (not 0) in Rust: that is the /0 mask.
        let bits = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        Some(IpAddr::V6(Ipv6Addr::from(bits)))
    } else {
        if len > 32 {
            return None;
        }
        let bits = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        Some(IpAddr::V4(Ipv4Addr::from(bits)))
    }
}

fn and(a: IpAddr, m: IpAddr) -> Option<IpAddr> {
    match (a, m) {
        (IpAddr::V4(a), IpAddr::V4(m)) => {
            Some(IpAddr::V4(Ipv4Addr::from(a.to_bits() & m.to_bits())))
        }
        (IpAddr::V6(a), IpAddr::V6(m)) => {
            Some(IpAddr::V6(Ipv6Addr::from(a.to_bits() & m.to_bits())))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }
    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }
    fn addr(dir: Dir, net: IpAddr, mask: IpAddr) -> Term {
        Term {
            dir,
            test: Test::Addr { net, mask },
        }
    }
    fn port(dir: Dir, p: u16) -> Term {
        Term {
            dir,
            test: Test::Port(p),
        }
    }

    #[test]
    fn single_terms() {
        assert_eq!(parse("port 80"), Some(vec![port(Dir::Either, 80)]));
        assert_eq!(parse("tcp src port 3306"), Some(vec![port(Dir::Src, 3306)]));
        assert_eq!(parse("dst port 0"), Some(vec![port(Dir::Dst, 0)]));
        assert_eq!(
            parse("host 198.18.0.1"),
            Some(vec![addr(
                Dir::Either,
                v4("198.18.0.1"),
                v4("255.255.255.255")
            )])
        );
        assert_eq!(
            parse("ip dst host 198.18.0.1"),
            Some(vec![addr(
                Dir::Dst,
                v4("198.18.0.1"),
                v4("255.255.255.255")
            )])
        );
        assert_eq!(
            parse("src host fd00::1"),
            Some(vec![addr(
                Dir::Src,
                v6("fd00::1"),
                v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
            )])
        );
        assert_eq!(parse("ip6 host fd00::1").map(|t| t.len()), Some(1));
        assert_eq!(
            parse("net 198.18.0.0/15"),
            Some(vec![addr(Dir::Either, v4("198.18.0.0"), v4("255.254.0.0"))])
        );
        assert_eq!(
            parse("dst net 198.18.0.0 mask 255.255.0.0"),
            Some(vec![addr(Dir::Dst, v4("198.18.0.0"), v4("255.255.0.0"))])
        );
        assert_eq!(
            parse("net 198.18.0.1"),
            Some(vec![addr(
                Dir::Either,
                v4("198.18.0.1"),
                v4("255.255.255.255")
            )])
        );
        assert_eq!(
            parse("net 0.0.0.0/0"),
            Some(vec![addr(Dir::Either, v4("0.0.0.0"), v4("0.0.0.0"))])
        );
        assert_eq!(
            parse("ip6 net fd00::/8"),
            Some(vec![addr(Dir::Either, v6("fd00::"), v6("ff00::"))])
        );
        assert_eq!(
            parse("ip"),
            Some(vec![Term {
                dir: Dir::Either,
                test: Test::Ipv6(false)
            }])
        );
        assert_eq!(
            parse("ip6"),
            Some(vec![Term {
                dir: Dir::Either,
                test: Test::Ipv6(true)
            }])
        );
    }

    #[test]
    fn conjunctions() {
        let want = Some(vec![
            addr(Dir::Either, v4("198.18.0.2"), v4("255.255.255.255")),
            port(Dir::Either, 9001),
        ]);
        assert_eq!(parse("host 198.18.0.2 and port 9001"), want);
        assert_eq!(parse("host 198.18.0.2 && port 9001"), want);
        assert_eq!(parse("host 198.18.0.2&&port 9001"), want);
        assert_eq!(parse("  host   198.18.0.2  and\tport 9001 "), want);
        assert_eq!(parse("tcp and port 80"), Some(vec![port(Dir::Either, 80)]));
        assert_eq!(
            parse("ip and tcp and src port 80 and dst net fd00::/16").map(|t| t.len()),
            Some(3)
        );
        // `tcp` tests nothing the kernel records differently; empty means "push nothing".
        assert_eq!(parse("tcp"), Some(vec![]));
        assert_eq!(parse(""), Some(vec![]));
    }

    #[test]
    fn everything_else_stays_in_user_space() {
        for e in [
            "port 80 or port 443",
            "port 80 || port 443",
            "not port 22",
            "! port 22",
            "!port 22",
            "(port 80)",
            "( port 80 )",
            "port 80 and (host 198.18.0.1)",
            "portrange 80-90",
            "tcp[13] & 2 != 0",
            "tcp[tcpflags] & tcp-syn != 0",
            "host db1",
            "port http",
            "port 080",
            "port 0x50",
            "port 65536",
            "port -1",
            "net 10",
            "net 198.18",
            "net 198.18.0.1/15",
            "net 198.18.0.0/33",
            "net fd00::/129",
            "net fd00::1/8",
            "net 198.18.0.1 mask 255.255.0.0",
            "net fd00:: mask ffff::",
            "host 198.18.0.1/32",
            "host 010.0.0.1",
            "host fe80::1%eth0",
            "host 198.18.0.1 and 198.18.0.2",
            "port 80 and 443",
            "tcp host 198.18.0.1",
            "ip6 host 198.18.0.1",
            "ip host fd00::1",
            "ip port 80",
            "ip6 port 80",
            "udp port 53",
            "src or dst host 198.18.0.1",
            "src and dst host 198.18.0.1",
            "src 198.18.0.1",
            "ether host 02:00:00:00:00:01",
            "vlan and port 80",
            "greater 100",
            "port 80 and",
            "and port 80",
            "port 80 and and port 81",
            "port",
            "host",
            "src",
            "PORT 80",
            "port 80 port 81",
            "ip ip6",
        ] {
            assert_eq!(parse(e), None, "{e}");
        }
    }

    #[test]
    fn many_terms_are_all_returned() {
        // The loader pushes the first MAX_RULES; a conjunction's prefix is implied by it.
        let e = (1..=12)
            .map(|p| format!("port {p}"))
            .collect::<Vec<_>>()
            .join(" and ");
        assert_eq!(parse(&e).map(|t| t.len()), Some(12));
    }
}
