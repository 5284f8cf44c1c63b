//! The kernel-side parser, run for real through BPF_PROG_TEST_RUN on crafted frames: which
//! frames give a record, how much of them, with which flags and counters — and that every
//! verdict is "pass". Needs root (CAP_BPF + CAP_NET_ADMIN): skipped with a message otherwise,
//! and a failure when CI=true.
#![cfg(target_os = "linux")]

use miruo::source::live::testing::{Hook, ProgramHarness, RunResult};
use miruo_common::{
    Config, DIR_EGRESS, DIR_INGRESS, FLAG_LATER_FRAGMENT, FLAG_RAW_IP, FLAG_TRUNCATED,
    FLAG_UNPARSED, counter,
};
use std::sync::Mutex;

const TC_PASS: u32 = -1i32 as u32; // TC_ACT_UNSPEC: next program, then pass
const XDP_PASS: u32 = 2;

/// Tests share the kernel objects per harness, but each loads its own; serialise anyway so the
/// verifier runs one at a time on 2 cores.
static LOCK: Mutex<()> = Mutex::new(());

fn harness(config: Config) -> Option<ProgramHarness> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !miruo::source::live::available() {
        assert!(!ci, "CI=true but miruo was built without its eBPF programs");
        eprintln!("SKIP: miruo was built without the eBPF toolchain (cargo xtask setup)");
        return None;
    }
    let missing = miruo::source::live::missing_capabilities();
    if !missing.is_empty() {
        assert!(
            !ci,
            "CI=true but this test lacks {missing:?}: it must run as root"
        );
        eprintln!("SKIP: BPF_PROG_TEST_RUN needs root (missing {missing:?})");
        return None;
    }
    Some(ProgramHarness::load(&config).expect("the programs load and pass the verifier"))
}

// ---- frame builders: every byte on the wire is visible here ----

const MAC_DST: [u8; 6] = [0x02, 0, 0, 0, 0, 2];
const MAC_SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

fn eth(ethertype: u16, tags: &[(u16, u16)], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MAC_DST);
    f.extend_from_slice(&MAC_SRC);
    for &(tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// TCP header with `opts` (padded to 4 bytes), flags SYN|ACK, then `payload`.
fn tcp(opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut o = opts.to_vec();
    while !o.len().is_multiple_of(4) {
        o.push(1); // NOP
    }
    let doff = (20 + o.len()) / 4;
    let mut t = vec![
        0x9c,
        0x40,
        0x00,
        0x50, // ports 40000 → 80
        0,
        0,
        0,
        1, // seq
        0,
        0,
        0,
        0, // ack
        (doff as u8) << 4,
        0x12, // data offset, SYN|ACK
        0xff,
        0xff,
        0,
        0,
        0,
        0, // window, checksum, urgent
    ];
    t.extend_from_slice(&o);
    t.extend_from_slice(payload);
    t
}

fn ipv4(proto: u8, options: &[u8], frag: u16, payload: &[u8]) -> Vec<u8> {
    let ihl = (20 + options.len()) / 4;
    let total = (20 + options.len() + payload.len()) as u16;
    let mut h = vec![0x40 | ihl as u8, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34]);
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2]);
    h.extend_from_slice(options);
    h.extend_from_slice(payload);
    h
}

fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    let mut src = [0u8; 16];
    src[0] = 0xfd;
    src[15] = 1;
    let mut dst = src;
    dst[15] = 2;
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

/// An IPv6 extension header of `len8` 8-byte units (beyond the first 8), padded with zeros.
fn ext(next: u8, len8: u8, rest: &[u8]) -> Vec<u8> {
    let mut e = vec![next, len8];
    e.resize(8 * (len8 as usize + 1), 0);
    e.extend_from_slice(rest);
    e
}

fn frag6(next: u8, offset8: u16, more: bool, rest: &[u8]) -> Vec<u8> {
    let mut e = vec![next, 0];
    e.extend_from_slice(&((offset8 << 3) | u16::from(more)).to_be_bytes());
    e.extend_from_slice(&[0, 0, 0, 7]);
    e.extend_from_slice(rest);
    e
}

// ---- assertions ----

fn one_record(r: &RunResult) -> &miruo::source::live::testing::CapturedRecord {
    assert_eq!(
        r.records.len(),
        1,
        "expected one record, got {:?}",
        r.records
    );
    &r.records[0]
}

fn assert_tc_pass(r: &RunResult) {
    assert_eq!(
        r.verdict, TC_PASS,
        "TC programs must never change the verdict"
    );
}

fn run_all_tc(h: &mut ProgramHarness, frame: &[u8]) -> RunResult {
    let r = h.run(Hook::TcIngress, frame).expect("test run");
    assert_tc_pass(&r);
    let x = h.run(Hook::Xdp, frame).expect("test run");
    assert_eq!(x.verdict, XDP_PASS, "XDP must always pass");
    assert_eq!(
        x.records.len(),
        r.records.len(),
        "XDP and TC record the same frames"
    );
    for (a, b) in x.records.iter().zip(&r.records) {
        assert_eq!(a.data, b.data);
        assert_eq!(a.header.flags, b.header.flags);
    }
    r
}

#[test]
fn plain_ipv4_tcp_is_recorded_up_to_the_end_of_the_tcp_header() {
    let _g = LOCK.lock();
    let Some(mut h) = harness(Config::DEFAULT) else {
        return;
    };
    let seg = tcp(&[2, 4, 0x05, 0xb4], b"GET / HTTP/1.1\r\n\r\n");
    let frame = eth(0x0800, &[], &ipv4(6, &[], 0x4000, &seg));
    let r = run_all_tc(&mut h, &frame);
    let rec = one_record(&r);
    assert_eq!(rec.header.wire_len as usize, frame.len());
    assert_eq!(rec.header.cap_len, 14 + 20 + 24, "headers only by default");
    assert_eq!(rec.data, frame[..14 + 20 + 24]);
    assert_eq!(rec.header.hdr_end, 14 + 20 + 24);
    assert_eq!(rec.header.flags, 0);
    assert_eq!(rec.header.direction, DIR_INGRESS);
    assert!(rec.header.ts_ns > 0);
    assert_eq!(rec.item_len, 24 + 96, "smallest record class");
    assert_eq!(r.counters[counter::PACKETS as usize], 1);
    assert_eq!(r.counters[counter::TCP as usize], 1);
    assert_eq!(r.counters[counter::TRUNCATED as usize], 0);

    let e = h.run(Hook::TcEgress, &frame).expect("test run");
    assert_tc_pass(&e);
    assert_eq!(one_record(&e).header.direction, DIR_EGRESS);
}

#[test]
fn non_tcp_passes_without_a_record() {
    let _g = LOCK.lock();
    let Some(mut h) = harness(Config::DEFAULT) else {
        return;
    };
    let udp = [0x30, 0x39, 0x00, 0x35, 0, 12, 0, 0, 1, 2, 3, 4];
    let arp = [0u8; 28];
    let icmp6 = [128u8, 0, 0, 0, 0, 1, 0, 1];
    for frame in [
        eth(0x0800, &[], &ipv4(17, &[], 0, &udp)),
        eth(0x0806, &[], &arp),
        eth(0x86dd, &[], &ipv6(58, &icmp6)),
        // ESP: cannot be looked into
        eth(0x86dd, &[], &ipv6(50, &[0u8; 16])),
        // IPv6 ethertype but an IPv4 header inside
        eth(0x86dd, &[], &ipv4(6, &[], 0, &tcp(&[], b""))),
    ] {
        let r = run_all_tc(&mut h, &frame);
        assert!(r.records.is_empty(), "no record for {frame:02x?}");
        assert_eq!(r.counters[counter::PACKETS as usize], 1);
        assert_eq!(r.counters[counter::TCP as usize], 0);
    }
}

#[test]
fn vlan_and_qinq_tags_are_skipped() {
    let _g = LOCK.lock();
    let Some(mut h) = harness(Config::DEFAULT) else {
        return;
    };
    let ip = ipv4(6, &[], 0, &tcp(&[], b"x"));
    for tags in [
        vec![(0x8100, 100)],
        vec![(0x88a8, 10), (0x8100, 20)],
        vec![(0x9100, 1), (0x8100, 2)],
    ] {
        let frame = eth(0x0800, &tags, &ip);
        let r = run_all_tc(&mut h, &frame);
        let rec = one_record(&r);
        let hdr = 14 + 4 * tags.len() + 20 + 20;
        assert_eq!(usize::from(rec.header.cap_len), hdr);
        assert_eq!(rec.data, frame[..hdr]);
        assert_eq!(rec.header.flags, 0);
    }
    // More tags than the parser follows: recorded, flagged, user space decides.
    let frame = eth(
        0x0800,
        &[(0x8100, 1), (0x8100, 2), (0x8100, 3), (0x8100, 4)],
        &ip,
    );
    let r = run_all_tc(&mut h, &frame);
    assert_eq!(one_record(&r).header.flags, FLAG_UNPARSED);
    assert_eq!(r.counters[counter::UNPARSED as usize], 1);
}

#[test]
fn ipv4_options_move_the_tcp_header() {
    let _g = LOCK.lock();
    let Some(mut h) = harness(Config::DEFAULT) else {
        return;
    };
    // 40 bytes of options (IHL 15): NOPs and an end-of-list.
    let mut opts = vec![1u8; 39];
    opts.push(0);
    // TCP with timestamps and SACK-permitted options (doff 8)
    let seg = tcp(&[4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0], b"payload");
    let frame = eth(0x0800, &[], &ipv4(6, &opts, 0, &seg));
    let r = run_all_tc(&mut h, &frame);
    let rec = one_record(&r);
    let hdr = 14 + 60 + 32;
    assert_eq!(usize::from(rec.header.cap_len), hdr);
    assert_eq!(rec.item_len, 24 + 160, "second record class");
    assert_eq!(rec.data, frame[..hdr]);
}

#[test]
fn ipv4_fragments_first_has_tcp_later_recorded_as_ip_only() {
    let _g = LOCK.lock();
    let Some(mut h) = harness(Config::DEFAULT) else {
        return;
    };
    // first fragment: MF set, offset 0
    let first = eth(0x0800, &[], &ipv4(6, &[], 0x2000, &tcp(&[], &[7u8; 64])));
    let r = run_all_tc(&mut h, &first);
    let rec = one_record(&r);
    assert_eq!(rec.header.flags, 0);
    assert_eq!(rec.header.cap_len, 14 + 20 + 20);
    // later fragment: offset 8 (64 bytes), no TCP header inside
    let later = eth(0x0800, &[], &ipv4(6, &[], 8, &[7u8; 64]));
    let r = run_all_tc(&mut h, &later);
    let rec = one_record(&r);
    assert_eq!(rec.header.flags, FLAG_LATER_FRAGMENT);
    assert_eq!(rec.header.cap_len, 14 + 20);
    assert_eq!(rec.data, later[..34]);
    // a later fragment of UDP is not ours
    let udp_later = eth(0x0800, &[], &ipv4(17, &[], 8, &[7u8; 64]));
    assert!(run_all_tc(&mut h, &udp_later).records.is_empty());
}

#[test]
fn ipv6_extension_headers_and_fragments() {
    let _g = LOCK.lock();
    let Some(mut h) = harness(Config::DEFAULT) else {
        return;
    };
    let seg = tcp(&[], b"hello");
    // hop-by-hop (8) → routing (24) → destination options (16) → TCP
    let chain = ext(43, 0, &ext(60, 2, &ext(6, 1, &seg)));
    let frame = eth(0x86dd, &[], &ipv6(0, &chain));
    let r = run_all_tc(&mut h, &frame);
    let rec = one_record(&r);
    let hdr = 14 + 40 + 8 + 24 + 16 + 20;
    assert_eq!(usize::from(rec.header.cap_len), hdr);
    assert_eq!(rec.data, frame[..hdr]);
    assert_eq!(rec.header.flags, 0);

    // first fragment (offset 0, M=1): TCP header follows the fragment header
    let first = eth(0x86dd, &[], &ipv6(44, &frag6(6, 0, true, &seg)));
    let rec = one_record(&run_all_tc(&mut h, &first)).clone();
    assert_eq!(usize::from(rec.header.cap_len), 14 + 40 + 8 + 20);
    assert_eq!(rec.header.flags, 0);

    // later fragment: recorded up to the end of the fragment header
    let later = eth(0x86dd, &[], &ipv6(44, &frag6(6, 3, false, &[9u8; 40])));
    let rec = one_record(&run_all_tc(&mut h, &later)).clone();
    assert_eq!(rec.header.flags, FLAG_LATER_FRAGMENT);
    assert_eq!(usize::from(rec.header.cap_len), 14 + 40 + 8);

    // AH (length in 4-byte units + 2): 24 bytes
    let mut ah = vec![6u8, 4];
    ah.resize(24, 0);
    ah.extend_from_slice(&seg);
    let frame = eth(0x86dd, &[], &ipv6(51, &ah));
    let rec = one_record(&run_all_tc(&mut h, &frame)).clone();
    assert_eq!(usize::from(rec.header.cap_len), 14 + 40 + 24 + 20);

    // more extension headers than the parser follows → unparsed, recorded
    let mut chain = ext(6, 0, &seg);
    for _ in 0..7 {
        chain = ext(60, 0, &chain);
    }
    let frame = eth(0x86dd, &[], &ipv6(60, &chain));
    let r = run_all_tc(&mut h, &frame);
    assert_eq!(one_record(&r).header.flags, FLAG_UNPARSED);
}

#[test]
fn truncated_frames() {
    let _g = LOCK.lock();
    let Some(mut h) = harness(Config::DEFAULT) else {
        return;
    };
    let full = eth(0x0800, &[], &ipv4(6, &[], 0, &tcp(&[2, 4, 5, 0xb4], b"")));
    // cut inside the TCP header: recorded as far as it goes, flagged
    let cut = &full[..14 + 20 + 10];
    let r = run_all_tc(&mut h, cut);
    let rec = one_record(&r);
    assert_eq!(rec.header.flags, FLAG_TRUNCATED);
    assert_eq!(rec.data, cut);
    assert_eq!(r.counters[counter::TRUNCATED as usize], 1);
    // Cut inside the IP header: nothing can be said, passes. The kernel's skb test run refuses
    // IP frames without a whole IP header (EINVAL), so only XDP can be fed these.
    for cut in [&full[..14 + 8], &full[..14]] {
        let r = h.run(Hook::Xdp, cut).expect("test run");
        assert_eq!(r.verdict, XDP_PASS);
        assert!(r.records.is_empty());
        assert_eq!(r.counters[counter::PACKETS as usize], 1);
    }
}

#[test]
fn snaplen_and_payload_bound_the_copy() {
    let _g = LOCK.lock();
    let big = tcp(&[], &[0xab; 1000]);
    let frame = eth(0x0800, &[], &ipv4(6, &[], 0, &big));
    {
        let Some(mut h) = harness(Config {
            payload: 100,
            ..Config::DEFAULT
        }) else {
            return;
        };
        let rec = one_record(&run_all_tc(&mut h, &frame)).clone();
        assert_eq!(rec.header.cap_len, 54 + 100);
        assert_eq!(rec.data, frame[..154]);
        assert_eq!(rec.header.wire_len as usize, frame.len());
    }
    {
        // DPI with more payload than a record holds: capped at SNAP_MAX
        let Some(mut h) = harness(Config {
            payload: 4000,
            ..Config::DEFAULT
        }) else {
            return;
        };
        let rec = one_record(&run_all_tc(&mut h, &frame)).clone();
        assert_eq!(usize::from(rec.header.cap_len), miruo_common::SNAP_MAX);
        assert_eq!(rec.item_len, 24 + miruo_common::SNAP_MAX);
    }
    {
        // a snap length shorter than the headers: truncated
        let Some(mut h) = harness(Config {
            snaplen: 40,
            ..Config::DEFAULT
        }) else {
            return;
        };
        let r = run_all_tc(&mut h, &frame);
        let rec = one_record(&r);
        assert_eq!(rec.header.cap_len, 40);
        assert_eq!(rec.header.flags, FLAG_TRUNCATED);
    }
}

#[test]
fn raw_ip_programs_parse_from_the_ip_header() {
    let _g = LOCK.lock();
    let Some(mut h) = harness(Config::DEFAULT) else {
        return;
    };
    let v4 = ipv4(6, &[], 0, &tcp(&[], b"abc"));
    let r = h.run(Hook::TcIngressRaw, &v4).expect("test run");
    assert_tc_pass(&r);
    let rec = one_record(&r);
    assert_eq!(rec.header.flags, FLAG_RAW_IP);
    assert_eq!(rec.data, v4[..40]);
    let v6 = ipv6(6, &tcp(&[], b"abc"));
    let r = h.run(Hook::TcEgressRaw, &v6).expect("test run");
    assert_tc_pass(&r);
    let rec = one_record(&r);
    assert_eq!(rec.header.flags, FLAG_RAW_IP);
    assert_eq!(rec.header.direction, DIR_EGRESS);
    assert_eq!(rec.data, v6[..60]);
}

/// The kernel's skb test run refuses (EINVAL) an IPv4/IPv6 ethertype without a whole IP header
/// behind it; XDP takes anything of at least 14 bytes.
fn skb_test_run_accepts(f: &[u8]) -> bool {
    match u16::from_be_bytes([f[12], f[13]]) {
        0x0800 => f.len() >= 14 + 20,
        0x86dd => f.len() >= 14 + 40,
        _ => true,
    }
}

#[test]
fn verdict_is_pass_for_arbitrary_bytes() {
    let _g = LOCK.lock();
    let Some(mut h) = harness(Config::DEFAULT) else {
        return;
    };
    // A cheap deterministic generator: every length 14..300 with varying content, plus
    // mutations of a valid frame (the parser must never fault or change the verdict).
    let base = eth(
        0x86dd,
        &[(0x8100, 5)],
        &ipv6(0, &ext(6, 0, &tcp(&[], &[1; 50]))),
    );
    let mut seed = 0x1234_5678u32;
    for len in 14..300usize {
        let mut f: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        if len % 2 == 0 {
            let n = base.len().min(len);
            f[..n].copy_from_slice(&base[..n]);
            f[(seed as usize) % n] ^= 0xff;
        }
        if skb_test_run_accepts(&f) {
            for hook in [Hook::TcIngress, Hook::TcEgressRaw] {
                assert_eq!(h.run(hook, &f).expect("test run").verdict, TC_PASS);
            }
        }
        assert_eq!(h.run(Hook::Xdp, &f).expect("test run").verdict, XDP_PASS);
    }
}

// ---- the filter expression's kernel part (issue 4's push-down) ----

/// Whether each probe frame is recorded under the rules pushed down for `expr`: IPv4
/// 198.18.0.1:40000 → 198.18.0.2:80 (also VLAN-tagged, also on the raw-IP program), IPv6
/// fd00::1 → fd00::2 with the same ports (also behind a hop-by-hop header), and a later IPv4
/// fragment of the first (addresses, no ports). Every verdict must still be "pass", and what
/// is not recorded is counted as `filtered`.
fn pushdown_outcomes(expr: &str) -> Option<[bool; 3]> {
    let terms = miruo::filter::pushdown::parse(expr)
        .unwrap_or_else(|| panic!("'{expr}' should be pushed down"));
    let mut h = harness(Config {
        rules: miruo::source::live::kernel_rules(&terms),
        ..Config::DEFAULT
    })?;
    let v4 = ipv4(6, &[], 0x4000, &tcp(&[], &[]));
    let v6 = ipv6(6, &tcp(&[], &[]));
    let v6_ext = ipv6(0, &ext(6, 0, &tcp(&[], &[])));
    let later = ipv4(6, &[], 8, &[7u8; 64]);
    let mut recorded = |frame: &[u8], hook: Hook| -> bool {
        let r = if hook == Hook::TcIngress {
            run_all_tc(&mut h, frame)
        } else {
            h.run(hook, frame).expect("test run")
        };
        assert_tc_pass(&r);
        assert_eq!(r.counters[counter::TCP as usize], 1, "{expr}: a TCP frame");
        let filtered = r.counters[counter::FILTERED as usize];
        assert_eq!(
            filtered,
            u64::from(r.records.is_empty()),
            "{expr}: not recorded ⇔ counted as filtered"
        );
        !r.records.is_empty()
    };
    let a4 = recorded(&eth(0x0800, &[], &v4), Hook::TcIngress);
    let a6 = recorded(&eth(0x86dd, &[], &v6), Hook::TcIngress);
    let frag = recorded(&eth(0x0800, &[], &later), Hook::TcIngress);
    assert_eq!(
        recorded(&eth(0x0800, &[(0x8100, 5)], &v4), Hook::TcEgress),
        a4,
        "{expr}: VLAN"
    );
    assert_eq!(recorded(&v4, Hook::TcIngressRaw), a4, "{expr}: raw IP");
    assert_eq!(
        recorded(&eth(0x86dd, &[], &v6_ext), Hook::TcIngress),
        a6,
        "{expr}: IPv6 ext"
    );
    Some([a4, a6, frag])
}

#[test]
fn pushed_down_rules_decide_what_is_recorded() {
    let _g = LOCK.lock();
    const T: bool = true;
    const F: bool = false;
    // [IPv4, IPv6, later IPv4 fragment]: a fragment has no ports, so port terms let it through
    // (libpcap, running the whole expression in user space, drops it there).
    let eight = "net 198.18.0.0/16 and net 198.18.0.0/24 and host 198.18.0.1 and dst host \
                 198.18.0.2 and port 80 and src port 40000 and dst port 80";
    let cases: Vec<(String, [bool; 3])> = vec![
        ("port 80".into(), [T, T, T]),
        ("port 40000".into(), [T, T, T]),
        ("dst port 80".into(), [T, T, T]),
        ("src port 80".into(), [F, F, T]),
        ("tcp port 81".into(), [F, F, T]),
        ("host 198.18.0.1".into(), [T, F, T]),
        ("src host 198.18.0.1".into(), [T, F, T]),
        ("src host 198.18.0.2".into(), [F, F, F]),
        ("dst host 198.18.0.2".into(), [T, F, T]),
        ("host 198.18.0.3".into(), [F, F, F]),
        ("net 198.18.0.0/15".into(), [T, F, T]),
        ("dst net 198.18.0.0 mask 255.255.255.0".into(), [T, F, T]),
        ("net 10.0.0.0/8".into(), [F, F, F]),
        ("ip".into(), [T, F, T]),
        ("ip6".into(), [F, T, F]),
        ("host fd00::1".into(), [F, T, F]),
        ("src host fd00::2".into(), [F, F, F]),
        ("dst host fd00::2 and port 80".into(), [F, T, F]),
        ("ip6 net fd00::/8 && src port 40000".into(), [F, T, F]),
        ("net fe80::/10".into(), [F, F, F]),
        ("host 198.18.0.2 and port 80 and ip".into(), [T, F, T]),
        ("host 198.18.0.2 and port 81".into(), [F, F, T]),
        ("tcp".into(), [T, T, T]),
        // All eight slots: the last one is evaluated too...
        (format!("{eight} and ip"), [T, F, T]),
        (format!("{eight} and ip6"), [F, F, F]),
        // ...and a ninth term stays in user space (a prefix of a conjunction is implied by it).
        (format!("{eight} and ip and port 81"), [T, F, T]),
    ];
    for (expr, want) in cases {
        let Some(got) = pushdown_outcomes(&expr) else {
            return;
        };
        assert_eq!(
            got, want,
            "recorded [IPv4, IPv6, later fragment] for '{expr}'"
        );
    }
}
