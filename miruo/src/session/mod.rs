//! The session tracker: decoded TCP packets in, display decisions out (spec §4–§5, with the
//! fixes of compat.md). Pure and deterministic: no I/O, no clock — time comes from the packets
//! (and from the source's idle ticks in live mode) — and no formatting: every ended session
//! that is to be shown, and every segment in `--live` mode, goes to a [`Report`].
//!
//! Per packet (spec §4.4): look up the session → create / duplicate-check on a SYN → DPI probe →
//! retransmission check → store (limits, fragment and long-delay detectors, pruning) → state
//! machine → `-v` context → close check. Timeouts are checked whenever the capture time enters a
//! new second (F9).

pub mod state;
#[cfg(test)]
mod tests;

use crate::decode::Packet;
use crate::decode::tcp::{ACK, FIN, RST, SYN};
use crate::dpi::http::HttpDpi;
use state::{Color, Rst, SideState, transition};
use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;

/// A session holding more segments than this (SYN included) is pruned (spec §4.9).
const PRUNE_ABOVE: usize = 2048;
/// Pruning stops once fewer than this many segments remain.
const PRUNE_TO: usize = 1024;
/// Idle time after which any session times out (spec §4.7), in whole seconds.
const IDLE_TIMEOUT_S: i64 = 900;
/// Idle time after which a half-open or half-closed session times out.
const TRANSIENT_TIMEOUT_S: i64 = 30;

/// The detector and display settings (the resolved command line).
#[derive(Clone, Debug)]
pub struct Config {
    /// `-T`: long-connection threshold in ms; ≤ 0 is off.
    pub long_connect_ms: i64,
    /// `-t`: long-delay threshold in ms; ≤ 0 is off.
    pub long_delay_ms: i64,
    /// `-r`: retransmission threshold in ms; 0 ignores data retransmissions, < 0 reports all.
    pub retransmit_ms: i64,
    /// `-S`: report SYN and SYN/ACK retransmissions.
    pub syn_retransmit: bool,
    /// `-R`: 0 = no RST flags a session, 1 = only break RSTs, 2 = every RST.
    pub rst_mode: u8,
    /// `-F`: detect IP fragments.
    pub fragment: bool,
    /// `-v`: segments of context before and after every shown segment.
    pub context: u32,
    /// `--all`: show every session that closes.
    pub all: bool,
    /// `--live`: show every segment as it is stored.
    pub live: bool,
    /// `-q` count: 1 keeps a duplicate-SYN session's replacement unflagged, 2 also hides the
    /// destroyed one.
    pub quiet: u8,
    /// `-L`: sessions tracked at once; 0 = unlimited.
    pub session_limit: u32,
    /// `-l`: segments stored over all sessions (SYNs excluded); 0 = unlimited.
    pub segment_limit: u32,
    /// `-m http`: inspect HTTP request and response heads.
    pub http: Option<HttpDpi>,
}

impl Default for Config {
    /// The original's defaults (spec §2.2).
    fn default() -> Self {
        Config {
            long_connect_ms: 0,
            long_delay_ms: 0,
            retransmit_ms: 1000,
            syn_retransmit: true,
            rst_mode: 1,
            fragment: true,
            context: 0,
            all: false,
            live: false,
            quiet: 0,
            session_limit: 1024,
            segment_limit: 65536,
            http: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: u16,
}

/// Direction of a segment relative to the session's client (the sender of the first SYN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    ToServer,
    ToClient,
}

/// One stored segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Packet ID: 0 for the SYN, then +1 per stored segment (never wraps, F8).
    pub id: u64,
    pub ts_us: i64,
    pub seq: u32,
    pub ack: u32,
    pub wire_len: u32,
    pub flags: u8,
    pub dir: Dir,
    /// Client and server state after this segment.
    pub states: [SideState; 2],
    /// First fragment of a fragmented datagram.
    pub fragment: bool,
    /// Show-mark: printed when the session is printed.
    pub mark: bool,
    pub color: Option<Color>,
    pub options: TcpOptions,
    /// DPI lines (HTTP request/response line and headers), printed after the segment.
    pub dpi: Box<[String]>,
}

impl Segment {
    /// The packet as a segment not yet stored: no ID, no mark, no colour, no DPI lines.
    fn of(p: &Packet<'_>, dir: Dir, states: [SideState; 2]) -> Segment {
        Segment {
            id: 0,
            ts_us: p.ts_us,
            seq: p.seq,
            ack: p.ack,
            wire_len: p.wire_len,
            flags: p.flags,
            dir,
            states,
            fragment: p.more_fragments,
            mark: false,
            color: None,
            options: TcpOptions::new(p.options),
            dpi: Box::default(),
        }
    }
}

/// A copy of a segment's TCP option bytes (at most 40).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpOptions {
    len: u8,
    bytes: [u8; 40],
}

impl TcpOptions {
    pub fn new(options: &[u8]) -> Self {
        let len = options.len().min(40);
        let mut bytes = [0u8; 40];
        bytes[..len].copy_from_slice(&options[..len]);
        TcpOptions {
            len: len as u8,
            bytes,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A tracked TCP connection.
#[derive(Debug)]
pub struct Session {
    /// Session ID: 1, 2, ... in creation order (never wraps, F8).
    pub id: u64,
    pub client: Endpoint,
    pub server: Endpoint,
    pub vlan: u32,
    /// Client and server state.
    pub states: [SideState; 2],
    /// Stored segments, oldest first; `segments[0]` is the SYN and is never pruned.
    pub segments: Vec<Segment>,
    /// Packets accepted into the session, SYN included (pruned ones still count).
    pub total_segments: u64,
    /// Wire bytes of the accepted packets, SYN excluded.
    pub total_bytes: u64,
    /// Display flag: print this session when it ends.
    pub display: bool,
    /// Remaining `-v` "after" context.
    after: u32,
    /// A retransmission was detected (for the Retransmit statistic, F2).
    retransmitted: bool,
    /// Every stored segment before this index is marked (pruning found nothing to delete
    /// there, and marks are never taken back), so pruning starts here.
    prune_from: usize,
    /// The earliest timeout deadline queued for this session (see [`Tracker::tick`]).
    queued_deadline: i64,
}

impl Session {
    /// Connection time in ms: newest stored segment − SYN, truncated (spec §5.2).
    pub fn duration_ms(&self) -> i64 {
        let first = self.segments.first().map_or(0, |s| s.ts_us);
        let last = self.segments.last().map_or(0, |s| s.ts_us);
        (last - first).max(0) / 1000
    }

    /// The capture-time second at which this session times out if nothing more arrives
    /// (spec §4.7): idle more than 30 s while half-open or half-closed, else more than 900 s.
    fn deadline_sec(&self) -> i64 {
        let last_sec = self
            .segments
            .last()
            .map_or(0, |seg| seg.ts_us.div_euclid(1_000_000));
        let limit = if self.states.iter().any(|st| st.is_transient()) {
            TRANSIENT_TIMEOUT_S
        } else {
            IDLE_TIMEOUT_S
        };
        last_sec + limit + 1
    }

    fn is_closed(&self) -> bool {
        use SideState::{Closed, TimeWait};
        matches!(
            self.states,
            [Closed, Closed] | [TimeWait, Closed] | [Closed, TimeWait]
        )
    }

    fn segment_index(&self, id: u64) -> Option<usize> {
        self.segments.binary_search_by_key(&id, |s| s.id).ok()
    }
}

/// Why a displayed session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Both sides closed (or a RST).
    Closed,
    /// Destroyed: idle too long (`destroy session` / `time out`).
    Timeout { now_us: i64 },
    /// Destroyed by a new SYN on the same 4-tuple (`error break`).
    Duplicate { now_us: i64 },
    /// Still open when the input ended (F9).
    EndOfCapture { now_us: i64 },
}

impl End {
    /// The centred message and the reason of the destroy line, if any.
    pub fn destroy_text(self) -> Option<(&'static str, &'static str)> {
        match self {
            End::Closed => None,
            End::Timeout { .. } => Some(("destroy session", "time out")),
            End::Duplicate { .. } => Some(("error break", "Duplicate connection(packet loss?)")),
            End::EndOfCapture { .. } => Some(("end of capture", "still open")),
        }
    }

    pub fn now_us(self) -> Option<i64> {
        match self {
            End::Closed => None,
            End::Timeout { now_us } | End::Duplicate { now_us } | End::EndOfCapture { now_us } => {
                Some(now_us)
            }
        }
    }
}

/// Where the tracker's display decisions go.
pub trait Report {
    /// A session ended and is to be shown (header, marked segments, destroy line).
    fn session_end(&mut self, session: &Session, end: End);
    /// `--live`: a segment was stored (or the session created, for the SYN) and is shown now.
    fn live_segment(&mut self, session: &Session, segment: &Segment);
}

/// The session counters of the statistics block (spec §7.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub total_sessions: u64,
    pub lookup: u64,
    pub long_connect: u64,
    pub long_delay: u64,
    /// Sessions with a detected retransmission (F2).
    pub retransmit: u64,
    pub timeout: u64,
    pub error: u64,
    pub rst: u64,
    pub fragment: u64,
    pub active_sessions: u64,
    pub max_sessions: u64,
    pub active_segments: u64,
    pub max_segments: u64,
    pub drop_session: u64,
    /// Segments refused by `-l`, counted once (F3).
    pub drop_segment: u64,
    /// Capture time of the first and the latest TCP packet.
    pub first_us: Option<i64>,
    pub now_us: i64,
}

/// Lookup key of a session: the two endpoints in a fixed order, and the VLAN tags. Addresses
/// are kept as one 128-bit number (IPv4 mapped into IPv6), which hashes and compares in a few
/// instructions; this lookup runs for every packet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FlowKey {
    /// The two addresses, lower endpoint first, each as two 64-bit halves: 8-byte alignment
    /// keeps the key at 40 bytes (a `u128` would pad it to 80).
    addrs: [u64; 4],
    ports: [u16; 2],
    vlan: u32,
}

impl FlowKey {
    fn new(a: Endpoint, b: Endpoint, vlan: u32) -> FlowKey {
        let bits = |e: Endpoint| {
            let addr = match e.addr {
                IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
                IpAddr::V6(v6) => u128::from(v6),
            };
            (addr, e.port)
        };
        let (a, b) = (bits(a), bits(b));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let halves = |x: u128| [(x >> 64) as u64, x as u64];
        let [l0, l1] = halves(lo.0);
        let [h0, h1] = halves(hi.0);
        FlowKey {
            addrs: [l0, l1, h0, h1],
            ports: [lo.1, hi.1],
            vlan,
        }
    }
}

/// What makes two segments "the same" for the retransmission detector (spec §5.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct RetransKey {
    session: u64,
    seq: u32,
    ack: u32,
    wire_len: u32,
    flags: u8,
}

impl RetransKey {
    fn of(session: u64, s: &Segment) -> RetransKey {
        RetransKey {
            session,
            seq: s.seq,
            ack: s.ack,
            wire_len: s.wire_len,
            flags: s.flags,
        }
    }
}

type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

pub struct Tracker {
    cfg: Config,
    /// Boxed: the table's buckets stay small (48 bytes), which matters at a million sessions,
    /// where a table that doubles briefly holds both bucket arrays.
    sessions: FastMap<FlowKey, Box<Session>>,
    /// First stored copy (packet ID) of each (session, seq, ack, length, flags): the original's
    /// search "from the SYN forward, first hit wins", in O(1) instead of O(stored segments).
    originals: FastMap<RetransKey, u64>,
    next_id: u64,
    stats: Stats,
    /// Timeout deadlines (second, session ID, key), earliest first; entries go stale when a
    /// session sees more traffic or ends, and are checked when they come due.
    deadlines: BinaryHeap<Reverse<(i64, u64, FlowKey)>>,
}

fn is_session_syn(flags: u8) -> bool {
    // F6: ECE/CWR (and PSH/URG) do not matter; ACK, RST and FIN do.
    flags & (SYN | ACK | RST | FIN) == SYN
}

impl Tracker {
    pub fn new(cfg: Config) -> Tracker {
        Tracker {
            cfg,
            sessions: FastMap::default(),
            originals: FastMap::default(),
            next_id: 1,
            stats: Stats::default(),
            deadlines: BinaryHeap::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Feeds one decoded TCP packet, then runs the timeout scan if its second is new.
    pub fn packet(&mut self, p: &Packet<'_>, report: &mut impl Report) {
        self.stats.now_us = p.ts_us;
        self.stats.first_us.get_or_insert(p.ts_us);
        self.segment(p, report);
        self.tick(p.ts_us, report);
    }

    /// Advances the clock without a packet (live mode, idle link) and runs due timeouts.
    pub fn idle(&mut self, now_us: i64, report: &mut impl Report) {
        self.stats.now_us = now_us;
        self.tick(now_us, report);
    }

    fn segment(&mut self, p: &Packet<'_>, report: &mut impl Report) {
        let src = Endpoint {
            addr: p.src,
            port: p.sport,
        };
        let dst = Endpoint {
            addr: p.dst,
            port: p.dport,
        };
        let key = FlowKey::new(src, dst, p.vlan);

        if is_session_syn(p.flags) {
            match self.sessions.get(&key) {
                None => return self.create(key, src, dst, p, false, report),
                Some(s) if s.segments[0].seq == p.seq && s.segments[0].ack == p.ack => {
                    // The same SYN again: an ordinary segment (a SYN retransmission, §5.5).
                }
                Some(_) => {
                    // spec §4.3: a new connection on a tracked 4-tuple.
                    self.stats.error += 1;
                    let old = self.remove(&key);
                    if self.cfg.quiet < 2 {
                        self.stats.lookup += 1;
                        report.session_end(&old, End::Duplicate { now_us: p.ts_us });
                    }
                    let flag = self.cfg.quiet == 0;
                    return self.create(key, src, dst, p, flag, report);
                }
            }
        }

        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        let dir = if session.client == src {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let (sender, receiver) = match dir {
            Dir::ToServer => (0, 1),
            Dir::ToClient => (1, 0),
        };

        // spec §9: probe with the states before this packet.
        let dpi = match &self.cfg.http {
            Some(http) if session.states == [SideState::Established; 2] => http.inspect(p.payload),
            _ => Vec::new(),
        };

        let mut segment = Segment::of(p, dir, session.states);
        segment.dpi = dpi.into_boxed_slice();

        // spec §4.9: the segment limit (applied after the retransmission check, which may
        // already discard the packet or mark the original).
        let limit_hit = self.cfg.segment_limit != 0
            && self.stats.active_segments >= u64::from(self.cfg.segment_limit);
        let last_id = session.segments.last().map_or(0, |s| s.id);

        // spec §5.4/§5.5: retransmission check against the first stored copy. One hash lookup:
        // a new signature is recorded right away with the ID the segment is about to get.
        let original_id = match self.originals.entry(RetransKey::of(session.id, &segment)) {
            Entry::Occupied(o) => Some(*o.get()),
            Entry::Vacant(v) => {
                if limit_hit {
                    self.stats.drop_segment += 1;
                    return;
                }
                v.insert(last_id + 1);
                None
            }
        };
        if let Some(at) = original_id.and_then(|id| session.segment_index(id)) {
            let original = &session.segments[at];
            let detected = if original.flags & SYN != 0 {
                self.cfg.syn_retransmit
            } else {
                let delay_ms = (p.ts_us - original.ts_us).abs() / 1000;
                self.cfg.retransmit_ms != 0 && delay_ms >= self.cfg.retransmit_ms
            };
            if !detected {
                // Ignored: not stored, not counted, no state change (spec §4.4 step 5).
                return;
            }
            session.display = true;
            if !session.retransmitted {
                session.retransmitted = true;
                self.stats.retransmit += 1;
            }
            segment.color = Some(if original.options == segment.options {
                Color::Red
            } else {
                Color::Magenta
            });
            if !self.cfg.live {
                let original = &mut session.segments[at];
                original.mark = true;
                original.color = Some(Color::Green);
                for later in &mut session.segments[at + 1..] {
                    if later.color.is_none() {
                        later.mark = true;
                        later.color = Some(Color::Cyan);
                    }
                }
            }
            if limit_hit {
                self.stats.drop_segment += 1;
                return;
            }
        }

        // spec §5.7: IP fragments.
        if self.cfg.fragment && segment.fragment {
            segment.color = Some(Color::Red);
            session.display = true;
            self.stats.fragment += 1;
        }
        // spec §5.3: long delay since the previously stored segment.
        let previous = session
            .segments
            .last_mut()
            .expect("a session always holds its SYN");
        if self.cfg.long_delay_ms > 0
            && (p.ts_us - previous.ts_us).max(0) / 1000 > self.cfg.long_delay_ms
        {
            session.display = true;
            previous.mark = true;
            segment.color = Some(Color::Red);
            self.stats.long_delay += 1;
        }
        segment.mark = segment.color.is_some() || self.cfg.live;
        segment.id = last_id + 1;

        session.total_segments += 1;
        session.total_bytes += u64::from(p.wire_len);
        self.stats.active_segments += 1;
        self.stats.max_segments = self.stats.max_segments.max(self.stats.active_segments);
        if session.segments.len() >= PRUNE_ABOVE {
            // The spec prunes right after the 2049th segment is stored; the new segment is
            // never pruned, so pruning just before storing it removes the same segments and
            // keeps the vector's capacity at 2048. A session whose 2048 segments are all
            // marked keeps growing, and is pruned again at every store (as the spec says)
            // from where the last pruning stopped.
            prune(session, &mut self.originals, &mut self.stats);
        }
        session.segments.push(segment);

        // spec §4.5: the state machine.
        let t = transition(p.flags, session.states[sender], session.states[receiver]);
        session.states[sender] = t.sender;
        session.states[receiver] = t.receiver;
        if let Some(rst) = t.rst {
            self.stats.rst += 1;
            // F4: a RST may flag the session, but never clears an earlier flag.
            session.display |= match rst {
                Rst::Break => self.cfg.rst_mode > 0,
                Rst::ClosePhase => self.cfg.rst_mode > 1,
            };
        }
        let last = session.segments.len() - 1;
        let stored = &mut session.segments[last];
        stored.mark |= t.show || !stored.dpi.is_empty();
        if t.color.is_some() {
            stored.color = t.color;
        }
        stored.states = session.states;

        // spec §5.9: -v context.
        if self.cfg.context > 0 {
            if session.segments[last].mark {
                session.after = self.cfg.context;
                let from = last.saturating_sub(self.cfg.context as usize);
                for s in &mut session.segments[from..last] {
                    s.mark = true;
                }
            } else if session.after > 0 {
                session.after -= 1;
                session.segments[last].mark = true;
            }
        }

        Self::queue_deadline(&mut self.deadlines, key, session);
        if session.is_closed() {
            self.close(&key, report);
        } else if self.cfg.live {
            report.live_segment(session, &session.segments[last]);
        }
        self.compact_deadlines();
    }

    fn create(
        &mut self,
        key: FlowKey,
        client: Endpoint,
        server: Endpoint,
        p: &Packet<'_>,
        flag: bool,
        report: &mut impl Report,
    ) {
        if self.cfg.session_limit != 0
            && self.stats.active_sessions >= u64::from(self.cfg.session_limit)
        {
            self.stats.drop_session += 1;
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut syn = Segment::of(p, Dir::ToServer, [SideState::SynSent, SideState::SynRecv]);
        syn.mark = true;
        syn.color = Some(if flag { Color::Red } else { Color::Yellow });
        self.originals.insert(RetransKey::of(id, &syn), 0);
        let mut session = Session {
            id,
            client,
            server,
            vlan: p.vlan,
            states: syn.states,
            segments: vec![syn],
            total_segments: 1,
            total_bytes: 0,
            display: flag,
            after: 0,
            retransmitted: false,
            queued_deadline: i64::MAX,
            prune_from: 1,
        };
        self.stats.total_sessions += 1;
        self.stats.active_sessions += 1;
        self.stats.max_sessions = self.stats.max_sessions.max(self.stats.active_sessions);
        Self::queue_deadline(&mut self.deadlines, key, &mut session);
        if self.cfg.live {
            report.live_segment(&session, &session.segments[0]);
        }
        self.sessions.insert(key, Box::new(session));
        self.compact_deadlines();
    }

    /// spec §4.6: a session reached a closed state.
    fn close(&mut self, key: &FlowKey, report: &mut impl Report) {
        let mut session = self.remove(key);
        if self.cfg.live || self.cfg.all {
            session.display = true;
        }
        if self.cfg.long_connect_ms > 0 && session.duration_ms() > self.cfg.long_connect_ms {
            session.display = true;
            self.stats.long_connect += 1;
        }
        if session.display {
            self.stats.lookup += 1;
            if self.cfg.live {
                let last = session.segments.len() - 1;
                report.live_segment(&session, &session.segments[last]);
            }
            report.session_end(&session, End::Closed);
        }
    }

    /// Removes a session and its index entries, updating the active counters.
    fn remove(&mut self, key: &FlowKey) -> Box<Session> {
        let session = self
            .sessions
            .remove(key)
            .expect("removing a session that was just found");
        for s in &session.segments {
            forget_original(&mut self.originals, session.id, s);
        }
        self.stats.active_sessions -= 1;
        self.stats.active_segments -= (session.segments.len() - 1) as u64;
        session
    }

    /// F9: timeouts by capture time (spec §4.7): a session idle for more than 900 s, or 30 s
    /// while half-open or half-closed, is destroyed and shown.
    ///
    /// The original scans every session at every new second. Here each session has its
    /// deadline queued (again whenever it moves earlier, see [`Tracker::queue_deadline`]); a
    /// queued deadline that comes due is checked against the session's current one, and the
    /// session either expires or is queued again. Same outcome, without the scans.
    fn tick(&mut self, now_us: i64, report: &mut impl Report) {
        let now_sec = now_us.div_euclid(1_000_000);
        let mut expired: Vec<(u64, FlowKey)> = Vec::new();
        while let Some(&Reverse((due, id, key))) = self.deadlines.peek() {
            if due > now_sec {
                break;
            }
            self.deadlines.pop();
            let Some(s) = self
                .sessions
                .get_mut(&key)
                .filter(|s| s.id == id && s.queued_deadline == due)
            else {
                continue; // stale: the session ended, or an earlier deadline was queued since
            };
            let deadline = s.deadline_sec();
            if deadline <= now_sec {
                expired.push((id, key));
            } else {
                s.queued_deadline = deadline;
                self.deadlines.push(Reverse((deadline, id, key)));
            }
        }
        // Session order, so that output does not depend on the order of deadlines.
        expired.sort_unstable_by_key(|(id, _)| *id);
        for (_, key) in expired {
            let session = self.remove(&key);
            self.stats.timeout += 1;
            self.stats.lookup += 1;
            report.session_end(&session, End::Timeout { now_us });
        }
    }

    /// Queues the session's deadline if it is earlier than the one already queued (a new
    /// session, or one that became half-open or half-closed).
    fn queue_deadline(
        deadlines: &mut BinaryHeap<Reverse<(i64, u64, FlowKey)>>,
        key: FlowKey,
        s: &mut Session,
    ) {
        let deadline = s.deadline_sec();
        if deadline < s.queued_deadline {
            s.queued_deadline = deadline;
            deadlines.push(Reverse((deadline, s.id, key)));
        }
    }

    /// Drops the queue's stale entries (of ended sessions, or superseded by an earlier
    /// deadline) once they outnumber the live ones, so the queue's memory follows `-L` like
    /// the session table's. Rebuilding from the live sessions' queued deadlines costs O(n)
    /// after at least n pushes: O(1) per push.
    fn compact_deadlines(&mut self) {
        if self.deadlines.len() > 2 * self.sessions.len() + 1024 {
            self.deadlines = self
                .sessions
                .iter()
                .map(|(key, s)| Reverse((s.queued_deadline, s.id, *key)))
                .collect();
        }
    }

    /// F9: at the end of the input, shows every open session that would be shown if it closed
    /// now. The statistics keep counting them as active, as the original's did.
    pub fn finish(&self, report: &mut impl Report) {
        let mut open: Vec<&Session> = self
            .sessions
            .values()
            .map(|s| &**s)
            .filter(|s| {
                s.display
                    || self.cfg.all
                    || self.cfg.live
                    || (self.cfg.long_connect_ms > 0 && s.duration_ms() > self.cfg.long_connect_ms)
            })
            .collect();
        open.sort_unstable_by_key(|s| s.id);
        for s in open {
            report.session_end(
                s,
                End::EndOfCapture {
                    now_us: self.stats.now_us,
                },
            );
        }
    }
}

/// spec §4.9: drop unmarked segments, oldest first (never the SYN), until fewer than
/// [`PRUNE_TO`] remain once the segment being stored is added.
///
/// The walk starts at `prune_from`: a session of many marked segments is pruned at every
/// store, and walking its marked prefix each time would make it quadratic.
fn prune(session: &mut Session, originals: &mut FastMap<RetransKey, u64>, stats: &mut Stats) {
    let len = session.segments.len();
    let mut excess = len - (PRUNE_TO - 2);
    let id = session.id;
    let from = session.prune_from.clamp(1, len);
    let mut kept = from;
    for at in from..len {
        let s = &session.segments[at];
        if s.mark || excess == 0 {
            session.segments.swap(kept, at);
            kept += 1;
        } else {
            excess -= 1;
            forget_original(originals, id, s);
            stats.active_segments -= 1;
        }
    }
    session.segments.truncate(kept);
    // Walked to the end: all that is left is marked. Stopped early: the session is back
    // under the limit, and the next pruning walks it all again.
    session.prune_from = if excess > 0 { kept } else { 1 };
}

/// Drops a stored segment from the index of first copies, if it is the one recorded there.
fn forget_original(originals: &mut FastMap<RetransKey, u64>, session: u64, s: &Segment) {
    if let Entry::Occupied(e) = originals.entry(RetransKey::of(session, s))
        && *e.get() == s.id
    {
        e.remove();
    }
}
