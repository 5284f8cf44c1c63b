//! Detector and lifecycle tests with crafted packet sequences; the spec section is in each
//! test's name.

use super::*;
use crate::decode::tcp::PSH;
use std::net::Ipv4Addr;

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const TS_OPT: [u8; 12] = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0];

/// What the tracker told the report.
#[derive(Debug, Default)]
struct Recorder {
    ended: Vec<Ended>,
    live: Vec<(u64, u64)>,
}

#[derive(Debug)]
struct Ended {
    id: u64,
    end: End,
    /// (packet ID, shown, colour) of every stored segment.
    segments: Vec<(u64, bool, Option<Color>)>,
    total_segments: u64,
    total_bytes: u64,
    states: [SideState; 2],
}

impl Report for Recorder {
    fn session_end(&mut self, s: &Session, end: End) {
        self.ended.push(Ended {
            id: s.id,
            end,
            segments: s.segments.iter().map(|g| (g.id, g.mark, g.color)).collect(),
            total_segments: s.total_segments,
            total_bytes: s.total_bytes,
            states: s.states,
        });
    }

    fn live_segment(&mut self, s: &Session, seg: &Segment) {
        self.live.push((s.id, seg.id));
    }
}

/// A scripted connection between CLIENT:port and SERVER:80.
struct Conn {
    port: u16,
    opts: Vec<u8>,
    fragment: bool,
}

impl Conn {
    fn new(port: u16) -> Conn {
        Conn {
            port,
            opts: Vec::new(),
            fragment: false,
        }
    }

    /// A packet at `ms` milliseconds; `to_server` gives the direction.
    fn pkt(&self, ms: i64, to_server: bool, flags: u8, seq: u32, ack: u32, len: u32) -> Packet<'_> {
        let (c, s) = (IpAddr::V4(CLIENT), IpAddr::V4(SERVER));
        let (src, dst, sport, dport) = if to_server {
            (c, s, self.port, 80)
        } else {
            (s, c, 80, self.port)
        };
        Packet {
            ts_us: 1_700_000_000_000_000 + ms * 1000,
            wire_len: len,
            vlan: 0,
            src,
            dst,
            sport,
            dport,
            seq,
            ack,
            flags,
            options: &self.opts,
            payload: &[],
            more_fragments: self.fragment,
        }
    }
}

fn run(cfg: Config, packets: &[Packet<'_>]) -> (Recorder, Tracker) {
    let mut t = Tracker::new(cfg);
    let mut r = Recorder::default();
    for p in packets {
        t.packet(p, &mut r);
    }
    (r, t)
}

fn all() -> Config {
    Config {
        all: true,
        ..Config::default()
    }
}

/// Handshake, one request/response, client closes first (spec §4.5 left column).
fn client_close(c: &Conn, t0: i64) -> Vec<Packet<'_>> {
    vec![
        c.pkt(t0, true, SYN, 100, 0, 74),
        c.pkt(t0 + 1, false, SYN | ACK, 500, 101, 74),
        c.pkt(t0 + 2, true, ACK, 101, 501, 66),
        c.pkt(t0 + 3, true, ACK | PSH, 101, 501, 100),
        c.pkt(t0 + 4, false, ACK, 501, 135, 66),
        c.pkt(t0 + 5, true, FIN | ACK, 135, 501, 66),
        c.pkt(t0 + 6, false, FIN | ACK, 501, 136, 66),
        c.pkt(t0 + 7, true, ACK, 136, 502, 66),
    ]
}

#[test]
fn spec_4_6_client_close_ends_the_session_shown_only_with_all() {
    let c = Conn::new(1000);
    let (r, t) = run(Config::default(), &client_close(&c, 0));
    assert!(
        r.ended.is_empty(),
        "a normal session is not shown by default"
    );
    assert_eq!(t.stats().active_sessions, 0);
    assert_eq!(t.stats().total_sessions, 1);

    let (r, t) = run(all(), &client_close(&c, 0));
    assert_eq!(r.ended.len(), 1);
    let e = &r.ended[0];
    assert_eq!(e.end, End::Closed);
    assert_eq!(e.states, [SideState::TimeWait, SideState::Closed]);
    // spec §6.2: 8 packets, bytes without the SYN.
    assert_eq!(
        (e.total_segments, e.total_bytes),
        (8, 74 + 66 + 100 + 66 + 66 + 66 + 66)
    );
    // Handshake yellow, data not shown, FINs shown, final ACK blue.
    let colors: Vec<_> = e.segments.iter().map(|s| s.2).collect();
    assert_eq!(
        colors,
        [
            Some(Color::Yellow),
            Some(Color::Yellow),
            Some(Color::Yellow),
            None,
            None,
            None,
            None,
            Some(Color::Blue)
        ]
    );
    let shown: Vec<_> = e.segments.iter().map(|s| s.1).collect();
    assert_eq!(shown, [true, true, true, false, false, true, true, true]);
    assert_eq!(t.stats().lookup, 1);
}

#[test]
fn spec_4_5_server_close_first_with_separate_ack() {
    let c = Conn::new(1001);
    let p = [
        c.pkt(0, true, SYN, 1, 0, 74),
        c.pkt(1, false, SYN | ACK, 9, 2, 74),
        c.pkt(2, true, ACK, 2, 10, 66),
        c.pkt(3, false, FIN | ACK, 10, 2, 66),
        c.pkt(4, true, ACK, 2, 11, 66),
        c.pkt(5, true, FIN | ACK, 2, 11, 66),
        c.pkt(6, false, ACK, 11, 3, 66),
    ];
    let (r, _) = run(all(), &p);
    assert_eq!(r.ended.len(), 1);
    assert_eq!(r.ended[0].states, [SideState::Closed, SideState::TimeWait]);
}

#[test]
fn spec_4_2_only_a_syn_creates_sessions_and_ecn_syns_do_f6() {
    let c = Conn::new(1002);
    // A SYN/ACK or data without a SYN: nothing tracked.
    let (_, t) = run(
        all(),
        &[
            c.pkt(0, false, SYN | ACK, 1, 2, 74),
            c.pkt(1, true, ACK, 2, 2, 66),
        ],
    );
    assert_eq!(t.stats().total_sessions, 0);
    // ECE|CWR|SYN (0xC2) creates a session (F6).
    let (_, t) = run(all(), &[c.pkt(0, true, 0xc0 | SYN, 1, 0, 74)]);
    assert_eq!(t.stats().total_sessions, 1);
}

#[test]
fn spec_4_3_duplicate_syn_destroys_and_flags_the_new_session() {
    let c = Conn::new(1003);
    let p = [
        c.pkt(0, true, SYN, 100, 0, 74),
        c.pkt(1, false, SYN | ACK, 500, 101, 74),
        c.pkt(2, true, ACK, 101, 501, 66),
        c.pkt(300, true, SYN, 9000, 0, 74),
        c.pkt(301, false, RST | ACK, 0, 9001, 54),
    ];
    let (r, t) = run(Config::default(), &p);
    assert_eq!(r.ended.len(), 2);
    assert_eq!(r.ended[0].end, End::Duplicate { now_us: p[3].ts_us });
    assert_eq!(r.ended[0].id, 1);
    // The replacement's SYN is red and the session flagged, so its RST end is shown.
    assert_eq!(r.ended[1].id, 2);
    assert_eq!(r.ended[1].segments[0].2, Some(Color::Red));
    assert_eq!((t.stats().error, t.stats().lookup), (1, 2));

    // -q: the replacement is not flagged; -qq: the destroyed one is not shown either.
    let (r, _) = run(
        Config {
            quiet: 1,
            rst_mode: 0,
            ..Config::default()
        },
        &p,
    );
    assert_eq!(r.ended.len(), 1);
    let (r, t) = run(
        Config {
            quiet: 2,
            rst_mode: 0,
            ..Config::default()
        },
        &p,
    );
    assert!(r.ended.is_empty());
    assert_eq!(t.stats().error, 1);
}

#[test]
fn spec_4_3_the_same_syn_again_is_a_retransmission_not_a_duplicate() {
    let c = Conn::new(1004);
    let (r, t) = run(
        Config::default(),
        &[
            c.pkt(0, true, SYN, 7, 0, 74),
            c.pkt(1000, true, SYN, 7, 0, 74),
        ],
    );
    assert_eq!(t.stats().error, 0);
    assert!(r.ended.is_empty());
    assert_eq!(t.stats().retransmit, 1);
}

#[test]
fn spec_5_2_long_connect_is_strictly_greater() {
    let c = Conn::new(1005);
    // client_close lasts 7 ms.
    for (threshold, shown) in [(6, true), (7, false)] {
        let (r, t) = run(
            Config {
                long_connect_ms: threshold,
                ..Config::default()
            },
            &client_close(&c, 0),
        );
        assert_eq!(r.ended.len() == 1, shown, "-T{threshold}");
        assert_eq!(t.stats().long_connect, u64::from(shown));
    }
}

#[test]
fn spec_5_3_long_delay_marks_both_sides_of_the_gap() {
    let c = Conn::new(1006);
    let mut p = client_close(&c, 0);
    for q in &mut p[4..] {
        q.ts_us += 3_000_000;
    }
    let (r, t) = run(
        Config {
            long_delay_ms: 2000,
            ..Config::default()
        },
        &p,
    );
    assert_eq!(r.ended.len(), 1);
    let segs = &r.ended[0].segments;
    assert!(
        segs[3].1 && segs[3].2.is_none(),
        "the segment before the gap is shown, uncoloured"
    );
    assert_eq!(segs[4].2, Some(Color::Red));
    assert_eq!(t.stats().long_delay, 1);
    let (r, _) = run(
        Config {
            long_delay_ms: 3001,
            ..Config::default()
        },
        &p,
    );
    assert!(r.ended.is_empty());
}

/// A session whose first data segment is sent again `after_ms` later.
fn with_repeat<'a>(c: &'a Conn, after_ms: i64) -> Vec<Packet<'a>> {
    let mut p = client_close(c, 0);
    p.insert(5, c.pkt(3 + after_ms, true, ACK | PSH, 101, 501, 100));
    for q in &mut p[6..] {
        q.ts_us += after_ms * 1000;
    }
    p
}

#[test]
fn spec_5_4_fast_repeats_are_discarded() {
    let c = Conn::new(1007);
    let (r, t) = run(all(), &with_repeat(&c, 999));
    assert_eq!(r.ended[0].total_segments, 8, "the repeat is not counted");
    assert_eq!(t.stats().retransmit, 0);
}

#[test]
fn spec_5_4_slow_repeats_are_retransmissions_coloured_green_cyan_red() {
    let c = Conn::new(1008);
    let (r, t) = run(Config::default(), &with_repeat(&c, 1000));
    assert_eq!(r.ended.len(), 1);
    let segs = &r.ended[0].segments;
    assert_eq!(segs[3].2, Some(Color::Green), "the original");
    assert_eq!(segs[4].2, Some(Color::Cyan), "in between");
    assert_eq!(segs[5].2, Some(Color::Red), "same options");
    assert_eq!(r.ended[0].total_segments, 9);
    assert_eq!(t.stats().retransmit, 1, "F2: counted");

    // Different options (a new TCP timestamp) → magenta.
    let mut c2 = Conn::new(1009);
    c2.opts = TS_OPT.to_vec();
    let mut p = with_repeat(&c2, 1000);
    let other = Conn {
        port: 1009,
        opts: vec![1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 0],
        fragment: false,
    };
    p[5] = other.pkt(1003, true, ACK | PSH, 101, 501, 100);
    let (r, _) = run(Config::default(), &p);
    assert_eq!(r.ended[0].segments[5].2, Some(Color::Magenta));
}

#[test]
fn spec_5_4_r0_ignores_and_negative_r_reports_every_repeat() {
    let c = Conn::new(1010);
    let (r, _) = run(
        Config {
            retransmit_ms: 0,
            ..Config::default()
        },
        &with_repeat(&c, 5000),
    );
    assert!(r.ended.is_empty());
    let (r, _) = run(
        Config {
            retransmit_ms: -1,
            ..Config::default()
        },
        &with_repeat(&c, 0),
    );
    assert_eq!(r.ended.len(), 1);
}

#[test]
fn spec_5_5_syn_repeats_follow_s_not_r() {
    let c = Conn::new(1011);
    let mut p = client_close(&c, 0);
    p.insert(1, c.pkt(0, true, SYN, 100, 0, 74));
    let (r, _) = run(
        Config {
            retransmit_ms: 0,
            ..Config::default()
        },
        &p,
    );
    assert_eq!(
        r.ended.len(),
        1,
        "-S1: detected even 0 ms later and with -r0"
    );
    assert_eq!(r.ended[0].segments[1].2, Some(Color::Red));
    let (r, t) = run(
        Config {
            syn_retransmit: false,
            ..Config::default()
        },
        &p,
    );
    assert!(r.ended.is_empty());
    assert_eq!(t.stats().retransmit, 0);
}

fn rst_after(c: &Conn, fin_first: bool) -> Vec<Packet<'_>> {
    let mut p = client_close(c, 0)[..5].to_vec();
    if fin_first {
        p.push(c.pkt(10, false, FIN | ACK, 501, 135, 66));
        p.push(c.pkt(11, true, ACK, 135, 502, 66));
    }
    p.push(c.pkt(12, true, RST | ACK, 135, 502, 54));
    p
}

#[test]
fn spec_5_6_rst_modes() {
    let c = Conn::new(1012);
    for (mode, break_shown, close_shown) in [(0, false, false), (1, true, false), (2, true, true)] {
        let cfg = Config {
            rst_mode: mode,
            ..Config::default()
        };
        let (r, t) = run(cfg.clone(), &rst_after(&c, false));
        assert_eq!(r.ended.len() == 1, break_shown, "-R{mode} break RST");
        assert_eq!(t.stats().rst, 1);
        let (r, _) = run(cfg, &rst_after(&c, true));
        assert_eq!(r.ended.len() == 1, close_shown, "-R{mode} close-phase RST");
    }
}

#[test]
fn f4_rst0_keeps_an_earlier_flag() {
    let c = Conn::new(1013);
    let mut p = with_repeat(&c, 1000)[..6].to_vec();
    p.push(c.pkt(2000, false, RST | ACK, 501, 135, 54));
    let (r, _) = run(
        Config {
            rst_mode: 0,
            ..Config::default()
        },
        &p,
    );
    assert_eq!(r.ended.len(), 1);
}

#[test]
fn spec_5_7_first_fragments_are_flagged_unless_f0() {
    let c = Conn::new(1014);
    let fragmented = Conn {
        fragment: true,
        ..Conn::new(1014)
    };
    let mut p = client_close(&c, 0);
    p[3] = fragmented.pkt(3, true, ACK | PSH, 101, 501, 100);
    let (r, t) = run(Config::default(), &p);
    assert_eq!(r.ended[0].segments[3].2, Some(Color::Red));
    assert_eq!(t.stats().fragment, 1);
    let (r, t) = run(
        Config {
            fragment: false,
            ..Config::default()
        },
        &p,
    );
    assert!(r.ended.is_empty());
    assert_eq!(t.stats().fragment, 0);
}

#[test]
fn spec_5_9_context_marks_before_and_after() {
    let c = Conn::new(1015);
    let mut p = vec![
        c.pkt(0, true, SYN, 1, 0, 74),
        c.pkt(1, false, SYN | ACK, 9, 2, 74),
        c.pkt(2, true, ACK, 2, 10, 66),
    ];
    for i in 0..10u32 {
        p.push(c.pkt(3 + i64::from(i), true, ACK | PSH, 2 + i * 10, 10, 76));
    }
    // A long gap before the 6th data segment flags it.
    for q in &mut p[8..] {
        q.ts_us += 5_000_000;
    }
    let (r, t) = run(
        Config {
            long_delay_ms: 1000,
            context: 2,
            ..Config::default()
        },
        &p,
    );
    assert_eq!(t.stats().long_delay, 1);
    // Still open at the end: nothing shown until finish (F9).
    assert!(r.ended.is_empty());
    let mut r = Recorder::default();
    t.finish(&mut r);
    let shown: Vec<u64> = r.ended[0]
        .segments
        .iter()
        .filter(|s| s.1)
        .map(|s| s.0)
        .collect();
    // 0-2 handshake (shown, so 3 and 4 follow as its context), 7 = gap predecessor, 8 flagged;
    // context 6 (and 7) before, 9 and 10 after.
    assert_eq!(shown, [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]);
    assert!(matches!(r.ended[0].end, End::EndOfCapture { .. }));
}

#[test]
fn spec_4_9_limits_count_drops_once_f3() {
    let (a, b) = (Conn::new(2000), Conn::new(2001));
    let p = [a.pkt(0, true, SYN, 1, 0, 74), b.pkt(1, true, SYN, 1, 0, 74)];
    let (_, t) = run(
        Config {
            session_limit: 1,
            ..Config::default()
        },
        &p,
    );
    assert_eq!((t.stats().total_sessions, t.stats().drop_session), (1, 1));

    let (r, t) = run(
        Config {
            segment_limit: 3,
            all: true,
            ..Config::default()
        },
        &client_close(&a, 0),
    );
    assert_eq!(
        t.stats().drop_segment,
        4,
        "8 packets: SYN + 3 stored + 4 refused"
    );
    assert_eq!(t.stats().active_segments, 3);
    assert!(
        r.ended.is_empty(),
        "its FINs were refused, so it never closes"
    );
}

#[test]
fn spec_4_9_pruning_keeps_marked_segments_and_bounds_storage() {
    let c = Conn::new(2002);
    let mut p = vec![
        c.pkt(0, true, SYN, 1, 0, 74),
        c.pkt(1, false, SYN | ACK, 9, 2, 74),
        c.pkt(2, true, ACK, 2, 10, 66),
    ];
    for i in 0..5000u32 {
        p.push(c.pkt(3, true, ACK | PSH, 2 + i * 100, 10, 166));
    }
    let (_, t) = run(Config::default(), &p);
    assert_eq!(t.stats().max_segments, 2048);
    assert!(t.stats().active_segments < 2048);
    let session = t.sessions.values().next().expect("open");
    assert_eq!(session.total_segments, 5003);
    assert!(
        session.segments[..3].iter().all(|s| s.mark),
        "the handshake is never pruned"
    );
    // The index of first copies forgets pruned segments.
    assert_eq!(t.originals.len(), session.segments.len());
}

#[test]
fn f9_timeouts_follow_capture_time() {
    let (a, b) = (Conn::new(3000), Conn::new(3001));
    // An unanswered SYN times out after 30 s of capture time; an established idle one after 900 s.
    let p = [
        a.pkt(0, true, SYN, 1, 0, 74),
        b.pkt(0, true, SYN, 1, 0, 74),
        b.pkt(1, false, SYN | ACK, 9, 2, 74),
        b.pkt(2, true, ACK, 2, 10, 66),
        b.pkt(30_500, true, ACK, 2, 10, 66),
        b.pkt(31_000, true, ACK | PSH, 2, 10, 70),
    ];
    let (r, t) = run(Config::default(), &p);
    assert_eq!(r.ended.len(), 1);
    assert_eq!(r.ended[0].id, 1);
    assert!(matches!(r.ended[0].end, End::Timeout { .. }));
    assert_eq!(
        (
            t.stats().timeout,
            t.stats().lookup,
            t.stats().active_sessions
        ),
        (1, 1, 1)
    );
    let mut t = t;
    let mut r = Recorder::default();
    t.idle(p[5].ts_us + 900_000_000, &mut r);
    assert!(r.ended.is_empty(), "900 s idle is not yet more than 900 s");
    t.idle(p[5].ts_us + 901_000_000, &mut r);
    assert_eq!(r.ended.len(), 1);
    assert_eq!(t.stats().active_sessions, 0);
}

#[test]
fn f8_ids_do_not_wrap() {
    let c = Conn::new(4000);
    let mut p = vec![c.pkt(0, true, SYN, 1, 0, 74)];
    for i in 0..70_000u32 {
        p.push(c.pkt(1, true, ACK | PSH, 2 + i, 10, 70));
    }
    let (_, t) = run(
        Config {
            segment_limit: 0,
            ..Config::default()
        },
        &p,
    );
    let session = t.sessions.values().next().expect("open");
    assert_eq!(session.segments.last().map(|s| s.id), Some(70_000));
}

#[test]
fn spec_6_5_live_reports_each_segment_once_f15() {
    let c = Conn::new(4001);
    let mut p = client_close(&c, 0);
    for q in &mut p[4..] {
        q.ts_us += 3_000_000;
    }
    let (r, _) = run(
        Config {
            live: true,
            all: true,
            long_delay_ms: 1000,
            context: 3,
            ..Config::default()
        },
        &p,
    );
    let ids: Vec<u64> = r.live.iter().map(|x| x.1).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 5, 6, 7]);
}

/// README "Memory": the per-session and per-segment figures stated there.
#[test]
fn memory_per_segment_and_session_stays_as_documented() {
    use std::mem::size_of;
    assert_eq!(size_of::<Segment>(), 96, "a stored segment");
    assert!(
        size_of::<Session>() <= 128,
        "Session is {} bytes",
        size_of::<Session>()
    );
    assert_eq!(
        size_of::<(FlowKey, Box<Session>)>(),
        48,
        "a session-table bucket"
    );
    assert_eq!(
        size_of::<(RetransKey, u64)>(),
        32,
        "a retransmission-index bucket"
    );
    assert_eq!(
        size_of::<Reverse<(i64, u64, FlowKey)>>(),
        56,
        "a timeout-queue entry"
    );
}
