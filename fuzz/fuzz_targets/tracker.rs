//! The whole session tracker (`miruo::session::Tracker`) fed arbitrary packet sequences under
//! an arbitrary configuration, with the text report rendering everything it is handed.
//!
//! The input is built with `arbitrary`: a [`Cfg`] (limits kept small so that the drop paths
//! run), then operations: single packets between a few endpoints (IPv4 and IPv6, two VLANs)
//! with any flags, sequence numbers relative to the flow's last ones (so retransmissions,
//! duplicates and the wrap at 2^32 happen), time steps that may go backwards, any options and
//! payloads (HTTP heads included); bursts that store thousands of segments in one session (the
//! pruning at 2048); and idle ticks (timeouts, as live capture does on a quiet link).
//!
//! Checked besides "no panic": the limits hold after every packet, a reported session is well
//! formed (its SYN first, IDs increasing, pruned beyond 2048), `Lookup` counts exactly the
//! sessions reported before the end, and with `--all`/`--live` the end-of-capture report
//! accounts for every active session and segment.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use miruo::decode::Packet;
use miruo::dpi::http::HttpDpi;
use miruo::report::clock::Clock;
use miruo::report::text::{Style, TextReport};
use miruo::session::{Config, End, Report, Segment, Session, Tracker};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A session holding more segments than this is pruned (spec §4.9; session/mod.rs).
const PRUNE_ABOVE: usize = 2048;
/// Capture time of the first packet: 2023-11-14, so that local-time formatting is exercised
/// on ordinary dates; steps move it from there.
const START_US: i64 = 1_700_000_000_000_000;

#[derive(Arbitrary, Debug)]
struct Cfg {
    long_connect_ms: u16,
    long_delay_ms: u16,
    retransmit_ms: i16,
    syn_retransmit: bool,
    rst_mode: u8,
    fragment: bool,
    context: u8,
    all: bool,
    live: bool,
    quiet: u8,
    session_limit: u8,
    segment_limit: u16,
    http: bool,
    color: bool,
}

#[derive(Arbitrary, Debug)]
enum Payload {
    Empty,
    Get,
    Response,
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Pkt {
    /// Endpoint pair and direction, see [`endpoints`].
    flow: u8,
    flags: u8,
    /// Sequence and acknowledgement numbers relative to the last ones sent in this direction
    /// (small steps make repeats and overlaps likely).
    seq_step: i16,
    ack_step: i16,
    /// Or an absolute number, when set.
    seq_abs: Option<u32>,
    wire_len: u16,
    /// Time step in µs; negative steps make timestamps go backwards.
    dt_us: i32,
    options: Vec<u8>,
    payload: Payload,
    fragment: bool,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Packet(Pkt),
    /// `count` copies of `template`, the sequence number advancing by `seq_step` each time.
    Burst {
        template: Pkt,
        count: u16,
        seq_step: u16,
        dt_us: u16,
    },
    /// No packet for `secs` seconds (a live source's idle tick).
    Idle {
        secs: u16,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    cfg: Cfg,
    ops: Vec<Op>,
}

/// A client, a server, a port and a VLAN out of a few each, and the direction.
fn endpoints(flow: u8) -> (IpAddr, u16, IpAddr, u16, u32, bool) {
    let clients = [
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 3)),
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
    ];
    let servers = [
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
    ];
    let client = clients[usize::from(flow & 3) % clients.len()];
    let server = servers[usize::from(flow >> 2 & 1)];
    let cport = 40000 + u16::from(flow >> 3 & 3);
    let vlan = u32::from(flow >> 5 & 1) * 7;
    let to_server = flow & 0x40 == 0;
    (client, cport, server, 80, vlan, to_server)
}

/// Checks what every reported session must satisfy, then renders it as the binary would.
struct Checked<W: std::io::Write> {
    text: TextReport<W>,
    ended: u64,
    finishing: bool,
    /// Sessions and stored segments (SYN excluded) reported by `finish`.
    open_sessions: u64,
    open_segments: u64,
}

fn check_session(s: &Session) {
    assert!(!s.segments.is_empty(), "session {} without its SYN", s.id);
    assert_eq!(
        s.segments[0].id, 0,
        "session {}: first stored segment is not the SYN",
        s.id
    );
    assert!(
        s.segments.windows(2).all(|w| w[0].id < w[1].id),
        "session {}: segment IDs not increasing",
        s.id
    );
    // spec §4.9: after every store, unmarked segments are pruned oldest first; marked ones
    // never are. So a session above the limit holds marked segments only (but its newest,
    // which is never pruned).
    let n = s.segments.len();
    if n > PRUNE_ABOVE {
        let unmarked = s.segments[1..n - 1].iter().filter(|x| !x.mark).count();
        assert_eq!(
            unmarked, 0,
            "session {}: {n} segments stored, {unmarked} of them unmarked: pruning failed",
            s.id
        );
    }
    assert!(
        s.total_segments >= s.segments.len() as u64,
        "session {}: fewer packets than stored segments",
        s.id
    );
}

impl<W: std::io::Write> Report for Checked<W> {
    fn session_end(&mut self, s: &Session, end: End) {
        check_session(s);
        if self.finishing {
            assert!(
                matches!(end, End::EndOfCapture { .. }),
                "finish reported {end:?}"
            );
            self.open_sessions += 1;
            self.open_segments += s.segments.len() as u64 - 1;
        } else {
            assert!(
                !matches!(end, End::EndOfCapture { .. }),
                "end of capture before the end"
            );
            self.ended += 1;
        }
        self.text.session_end(s, end);
    }

    fn live_segment(&mut self, s: &Session, seg: &Segment) {
        check_session(s);
        self.text.live_segment(s, seg);
    }
}

struct Flow {
    seq: [u32; 2],
    ack: [u32; 2],
}

fn feed<W: std::io::Write>(tracker: &mut Tracker, report: &mut Checked<W>, p: &Packet<'_>) {
    tracker.packet(p, report);
    let (st, cfg) = (tracker.stats(), tracker.config());
    assert!(
        cfg.session_limit == 0 || st.active_sessions <= u64::from(cfg.session_limit),
        "session limit exceeded"
    );
    assert!(
        cfg.segment_limit == 0 || st.active_segments <= u64::from(cfg.segment_limit),
        "segment limit exceeded"
    );
    assert!(st.max_sessions >= st.active_sessions && st.max_segments >= st.active_segments);
    assert!(st.total_sessions >= st.active_sessions);
}

fuzz_target!(|input: Input| {
    let c = &input.cfg;
    let cfg = Config {
        long_connect_ms: i64::from(c.long_connect_ms),
        long_delay_ms: i64::from(c.long_delay_ms),
        retransmit_ms: i64::from(c.retransmit_ms),
        syn_retransmit: c.syn_retransmit,
        rst_mode: c.rst_mode % 3,
        fragment: c.fragment,
        context: u32::from(c.context % 8),
        all: c.all || c.live,
        live: c.live,
        quiet: c.quiet % 3,
        session_limit: u32::from(c.session_limit % 8),
        segment_limit: u32::from(c.segment_limit % 5000),
        http: c
            .http
            .then(|| HttpDpi::from_mode("http:%:%").expect("mode").expect("http")),
    };
    let style = if cfg.live {
        Style::Live
    } else if cfg.quiet > 0 {
        Style::Quiet
    } else {
        Style::Normal
    };
    let text = TextReport::new(
        std::io::sink(),
        style,
        c.color,
        cfg.fragment,
        Clock::local(),
    );
    let mut report = Checked {
        text,
        ended: 0,
        finishing: false,
        open_sessions: 0,
        open_segments: 0,
    };
    let all = cfg.all;
    let mut tracker = Tracker::new(cfg);
    let mut flows: Vec<Flow> = (0..=255u8)
        .map(|_| Flow {
            seq: [0xffff_ff00; 2],
            ack: [0x7fff_fff0; 2],
        })
        .collect();
    let mut ts = START_US;
    // Bounds the work per input (bursts multiply it), so that one input stays well under
    // libFuzzer's time-out.
    let mut budget: u32 = 50_000;

    for op in &input.ops {
        let (pkt, count, burst_step, burst_dt) = match op {
            Op::Packet(p) => (p, 1, 0, 0),
            Op::Burst {
                template,
                count,
                seq_step,
                dt_us,
            } => (template, u32::from(*count % 4500), *seq_step, *dt_us),
            Op::Idle { secs } => {
                ts = ts.saturating_add(i64::from(*secs) * 1_000_000);
                tracker.idle(ts, &mut report);
                continue;
            }
        };
        let (client, cport, server, sport, vlan, to_server) = endpoints(pkt.flow);
        let (src, sp, dst, dp) = if to_server {
            (client, cport, server, sport)
        } else {
            (server, sport, client, cport)
        };
        let flow = &mut flows[usize::from(pkt.flow & 0x3f)];
        let dir = usize::from(!to_server);
        let payload: &[u8] = match &pkt.payload {
            Payload::Empty => b"",
            Payload::Get => {
                b"GET /a/b?secret=1 HTTP/1.1\r\nHost: h\r\nReferer: http://r/?q=2\r\n\r\n"
            }
            Payload::Response => b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Payload::Bytes(b) => b,
        };
        let options = &pkt.options[..pkt.options.len().min(40)];
        flow.seq[dir] = pkt
            .seq_abs
            .unwrap_or_else(|| flow.seq[dir].wrapping_add_signed(i32::from(pkt.seq_step)));
        flow.ack[dir] = flow.ack[dir].wrapping_add_signed(i32::from(pkt.ack_step));
        // Sources give times from 0 to i64::MAX (file: unsigned seconds, saturated; live:
        // the wall clock), never negative.
        ts = ts.saturating_add(i64::from(pkt.dt_us)).max(0);
        for _ in 0..count {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let p = Packet {
                ts_us: ts,
                wire_len: u32::from(pkt.wire_len),
                vlan,
                src,
                dst,
                sport: sp,
                dport: dp,
                seq: flow.seq[dir],
                ack: flow.ack[dir],
                flags: pkt.flags,
                options,
                payload,
                more_fragments: pkt.fragment,
            };
            feed(&mut tracker, &mut report, &p);
            flow.seq[dir] = flow.seq[dir].wrapping_add(u32::from(burst_step));
            ts = ts.saturating_add(i64::from(burst_dt));
        }
    }

    let st = tracker.stats().clone();
    assert_eq!(
        st.lookup, report.ended,
        "Lookup does not count the sessions reported"
    );
    report.finishing = true;
    tracker.finish(&mut report);
    if all {
        assert_eq!(
            report.open_sessions, st.active_sessions,
            "--all: open sessions not all reported at the end"
        );
        assert_eq!(
            report.open_segments, st.active_segments,
            "ActiveSegment differs from the segments stored"
        );
    }
    report.text.flush();
});
