//! Hostile traffic through the `miruo` binary: floods, a million half-open sessions, sessions
//! of 100,000 segments, sequence numbers wrapping at 2^32, time going backwards, duplicated
//! packets and overlapping IP fragments. Each test generates its capture on the fly and pipes
//! it into `miruo -f -` (nothing large is written to disk or committed), then checks
//!
//! * the statistics block: what was tracked, and that what the limits refused is counted
//!   (`DropSession`, `DropSegment`) rather than lost;
//! * the peak memory of the miruo process (`VmHWM`, read from /proc once it has processed the
//!   whole capture) against a bound computed from the `-L`/`-l` in force (see
//!   [`memory_limit_kb`] for the costs, and how they relate to README's "Memory");
//! * that nothing panicked (exit status 0, no panic message).
//!
//! Frames are built once with etherparse and then patched in place (addresses, ports,
//! sequence numbers, flags): a million frames are generated in well under a second, even in a
//! debug build. Checksums are not fixed up; miruo, like the original, does not check them.

mod common;

use std::io::{BufWriter, Read, Write};
use std::process::{ExitStatus, Stdio};

// ---------------------------------------------------------------------------------------------
// Capture generation

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// 2023-11-14 22:13:20 UTC, in µs: the capture's first timestamp.
const T0: i64 = 1_700_000_000_000_000;

/// Writes a classic pcap (µs, little-endian, Ethernet) to `out`.
struct Pcap<W: Write> {
    out: BufWriter<W>,
    bytes: u64,
}

impl<W: Write> Pcap<W> {
    fn new(out: W) -> std::io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 16, out);
        // magic, version 2.4, zone, sigfigs, snaplen 262144, LINKTYPE_ETHERNET
        out.write_all(&[
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
        ])?;
        Ok(Pcap { out, bytes: 24 })
    }

    fn frame(&mut self, ts_us: i64, data: &[u8]) -> std::io::Result<()> {
        let (sec, usec) = (
            ts_us.div_euclid(1_000_000) as u32,
            ts_us.rem_euclid(1_000_000) as u32,
        );
        let len = data.len() as u32;
        for word in [sec, usec, len, len] {
            self.out.write_all(&word.to_le_bytes())?;
        }
        self.bytes += 16 + u64::from(len);
        self.out.write_all(data)
    }

    /// Flushes; returns the output (still open) and the bytes written.
    fn finish(self) -> std::io::Result<(W, u64)> {
        let bytes = self.bytes;
        Ok((self.out.into_inner().map_err(|e| e.into_error())?, bytes))
    }
}

/// An Ethernet/IPv4/TCP frame whose header fields are patched in place.
#[derive(Clone)]
struct Tcp4(Vec<u8>);

impl Tcp4 {
    /// Offsets of the IPv4 and TCP headers behind a 14-byte Ethernet header.
    const IP: usize = 14;
    const TCP: usize = 34;

    fn new(payload_len: usize) -> Tcp4 {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
            .tcp(40000, 80, 0, 64240)
            .write(&mut out, &vec![b'x'; payload_len])
            .expect("frame template");
        Tcp4(out)
    }

    fn src(&mut self, ip: [u8; 4], port: u16) -> &mut Self {
        self.0[Self::IP + 12..Self::IP + 16].copy_from_slice(&ip);
        self.0[Self::TCP..Self::TCP + 2].copy_from_slice(&port.to_be_bytes());
        self
    }

    fn dst(&mut self, ip: [u8; 4], port: u16) -> &mut Self {
        self.0[Self::IP + 16..Self::IP + 20].copy_from_slice(&ip);
        self.0[Self::TCP + 2..Self::TCP + 4].copy_from_slice(&port.to_be_bytes());
        self
    }

    fn seq_ack(&mut self, seq: u32, ack: u32) -> &mut Self {
        self.0[Self::TCP + 4..Self::TCP + 8].copy_from_slice(&seq.to_be_bytes());
        self.0[Self::TCP + 8..Self::TCP + 12].copy_from_slice(&ack.to_be_bytes());
        self
    }

    fn flags(&mut self, flags: u8) -> &mut Self {
        self.0[Self::TCP + 13] = flags;
        self
    }

    /// IPv4 fragment offset (in 8-byte units) and the more-fragments bit.
    fn fragment(&mut self, offset: u16, more: bool) -> &mut Self {
        let word = (offset & 0x1fff) | if more { 0x2000 } else { 0 };
        self.0[Self::IP + 6..Self::IP + 8].copy_from_slice(&word.to_be_bytes());
        self
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// xorshift64*: deterministic "random" traffic without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// One side's view of a connection, for writing whole sessions.
struct Conn {
    client: Tcp4,
    server: Tcp4,
    cseq: u32,
    sseq: u32,
}

impl Conn {
    fn new(client_port: u16, cseq: u32, sseq: u32, payload_len: usize) -> Conn {
        let (c, s) = ([198, 18, 0, 1], [198, 18, 0, 2]);
        let mut client = Tcp4::new(payload_len);
        client.src(c, client_port).dst(s, 80);
        let mut server = Tcp4::new(payload_len);
        server.src(s, 80).dst(c, client_port);
        Conn {
            client,
            server,
            cseq,
            sseq,
        }
    }

    /// SYN, SYN/ACK, ACK (payload-less frames of the same addresses).
    fn handshake<W: Write>(&mut self, pcap: &mut Pcap<W>, ts: i64) -> std::io::Result<()> {
        let (mut c, mut s) = (self.bare(true), self.bare(false));
        pcap.frame(ts, c.seq_ack(self.cseq, 0).flags(SYN).bytes())?;
        pcap.frame(
            ts + 100,
            s.seq_ack(self.sseq, self.cseq.wrapping_add(1))
                .flags(SYN | ACK)
                .bytes(),
        )?;
        self.cseq = self.cseq.wrapping_add(1);
        self.sseq = self.sseq.wrapping_add(1);
        pcap.frame(ts + 200, c.seq_ack(self.cseq, self.sseq).flags(ACK).bytes())
    }

    /// A data segment from the client; the sequence number advances by the payload length.
    fn data<W: Write>(&mut self, pcap: &mut Pcap<W>, ts: i64) -> std::io::Result<()> {
        let len = (self.client.0.len() - 54) as u32;
        pcap.frame(
            ts,
            self.client
                .seq_ack(self.cseq, self.sseq)
                .flags(PSH | ACK)
                .bytes(),
        )?;
        self.cseq = self.cseq.wrapping_add(len);
        Ok(())
    }

    /// FIN/ACK, FIN/ACK, ACK: the client closes first.
    fn close<W: Write>(&mut self, pcap: &mut Pcap<W>, ts: i64) -> std::io::Result<()> {
        let (mut c, mut s) = (self.bare(true), self.bare(false));
        pcap.frame(ts, c.seq_ack(self.cseq, self.sseq).flags(FIN | ACK).bytes())?;
        self.cseq = self.cseq.wrapping_add(1);
        pcap.frame(
            ts + 100,
            s.seq_ack(self.sseq, self.cseq).flags(FIN | ACK).bytes(),
        )?;
        self.sseq = self.sseq.wrapping_add(1);
        pcap.frame(ts + 200, c.seq_ack(self.cseq, self.sseq).flags(ACK).bytes())
    }

    /// A payload-less frame of this connection, in either direction.
    fn bare(&self, from_client: bool) -> Tcp4 {
        let mut t = Tcp4::new(0);
        let (c, s) = (&self.client.0, &self.server.0);
        let from = if from_client { c } else { s };
        t.0[Tcp4::IP + 12..Tcp4::IP + 20].copy_from_slice(&from[Tcp4::IP + 12..Tcp4::IP + 20]);
        t.0[Tcp4::TCP..Tcp4::TCP + 4].copy_from_slice(&from[Tcp4::TCP..Tcp4::TCP + 4]);
        t
    }
}

// ---------------------------------------------------------------------------------------------
// Running the binary

/// What a run of `miruo -f -` left behind.
struct Run {
    status: ExitStatus,
    stdout: String,
    stdout_lines: u64,
    stderr: String,
    /// Peak resident set size of the miruo process, in KB.
    max_rss_kb: u64,
}

impl Run {
    /// A number of the (last) statistics block.
    fn stat(&self, field: &str) -> u64 {
        let v = self
            .stderr
            .lines()
            .rev()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.trim() == field)
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no '{field}' in the statistics:\n{}", self.stderr));
        v.parse()
            .unwrap_or_else(|_| panic!("'{field}' is not a number: {v}"))
    }

    fn assert_clean(&self) {
        assert!(
            self.status.success(),
            "miruo failed ({}):\n{}",
            self.status,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "miruo panicked:\n{}",
            self.stderr
        );
    }

    /// Asserts the peak RSS is within the bound for this many tracked sessions and stored
    /// segments ([`memory_limit_kb`]).
    fn assert_memory(&self, sessions: u64, segments: u64) {
        let limit = memory_limit_kb(sessions, segments);
        eprintln!(
            "peak RSS {} KB (limit {limit} KB for {sessions} sessions, {segments} segments)",
            self.max_rss_kb
        );
        assert!(self.max_rss_kb > 0, "no peak RSS measured");
        assert!(
            self.max_rss_kb <= limit,
            "peak RSS {} KB over the limit {limit} KB for {sessions} sessions and {segments} segments",
            self.max_rss_kb
        );
    }
}

/// The memory a run may use: a fixed part plus what `-L`/`-l` let the tables hold.
///
/// README "Memory" gives the costs; written out from the structure sizes (checked by the
/// unit test `memory_per_segment_and_session_stays_as_documented`):
///
/// * session-table bucket: `(FlowKey, Box<Session>)` = 40 + 8 → 48 bytes + 1 control byte;
/// * the boxed session: about 120 bytes (128 with malloc's header);
/// * its SYN: a 96-byte `Segment` in a vector of its own (112 bytes with malloc's header);
/// * its retransmission-index bucket: 24 + 8 bytes + 1 control byte;
/// * the timeout queue: 56-byte entries, compacted once more than 2n + 1024 (n live sessions),
///   in a vector that doubles: up to 4 entries per session at the worst moment.
///
/// hashbrown keeps at most 7/8 of its buckets full, so right after doubling it has 16/7
/// buckets per entry, and while doubling 8/7 + 16/7 = 24/7. A million half-open sessions peak
/// at 488 bytes each (measured: VmHWM 488 MB); the bound below allows about 740. A stored
/// segment is 96 bytes in its session's vector (which doubles: ×2) plus its index bucket
/// (×24/7). The fixed part (program, the reader's 8 MB buffer, stdio) measures 8.5–9 MB; 30 MB
/// leaves room for the allocator.
fn memory_limit_kb(sessions: u64, segments: u64) -> u64 {
    const FIXED: u64 = 30 << 20;
    const TABLE_PEAK: f64 = 24.0 / 7.0;
    let session = (49.0 + 33.0) * TABLE_PEAK + 128.0 + 112.0 + 56.0 * 4.0;
    let segment = 96.0 * 2.0 + 33.0 * TABLE_PEAK;
    (FIXED + (sessions as f64 * session + segments as f64 * segment) as u64) / 1024
}

/// Runs `miruo -f - ARGS` with `write` producing the capture on its stdin. Once everything is
/// written, waits until miruo has read it all and gone idle, reads its peak memory, then closes
/// its stdin (the end of the capture) and collects its output.
fn run_miruo(
    args: &[&str],
    write: impl FnOnce(&mut Pcap<std::process::ChildStdin>) -> std::io::Result<()> + Send,
) -> Run {
    let mut child = common::miruo()
        .arg("-f")
        .arg("-")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the miruo binary starts");
    let stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let pid = child.id();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let mut pcap = Pcap::new(stdin)?;
            write(&mut pcap)?;
            pcap.finish()
        });
        // Output is counted, and kept up to 4 MB: a flood must not fill the test's memory.
        let out = scope.spawn(move || {
            let (mut kept, mut lines, mut buf) = (Vec::new(), 0u64, vec![0u8; 1 << 16]);
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                if kept.len() < 4 << 20 {
                    kept.extend_from_slice(&buf[..n]);
                }
            }
            (String::from_utf8_lossy(&kept).into_owned(), lines)
        });
        let err = scope.spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        // The writer fails with a broken pipe only if miruo stopped reading early, which the
        // exit status then explains.
        let written = writer.join().expect("generator thread");
        let max_rss_kb = match &written {
            Ok((_, bytes)) => peak_rss_when_idle(pid, *bytes),
            Err(_) => 0,
        };
        // Closing miruo's stdin ends the capture.
        let written = written.map(|(stdin, _)| drop(stdin));
        let status = child.wait().expect("wait for miruo");
        let (stdout, stdout_lines) = out.join().expect("stdout reader");
        let stderr = err.join().expect("stderr reader");
        if let Err(e) = written {
            panic!("writing the capture failed ({e}); miruo exited {status}:\n{stderr}");
        }
        Run {
            status,
            stdout,
            stdout_lines,
            stderr,
            max_rss_kb,
        }
    })
}

/// miruo's peak RSS (`VmHWM`), read once it has read `bytes` from its stdin and used no CPU for
/// a while, i.e. processed the whole capture. Read from /proc while it still runs because
/// `ru_maxrss` of a child is no use here: Linux carries the high-water mark across `exec`, so
/// a child spawned by this (large, multi-threaded) test process starts with the test's RSS.
fn peak_rss_when_idle(pid: u32, bytes: u64) -> u64 {
    let field = |file: &str, key: &str| -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    // utime + stime, in clock ticks (fields 14 and 15 of /proc/PID/stat, after the command).
    let cpu = || -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let (mut last, mut still) = (None, 0);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let read_all = field("io", "rchar:").is_some_and(|r| r >= bytes);
        let now = cpu();
        still = if read_all && now.is_some() && now == last {
            still + 1
        } else {
            0
        };
        last = now;
        // Four polls (200 ms, 20 clock ticks) without CPU time: the input is processed.
        if still >= 4 || now.is_none() {
            break;
        }
    }
    field("status", "VmHWM:").unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Floods

/// A SYN flood on one port from many source addresses and ports: the first 1024 SYNs become
/// sessions (the default -L), every later one is counted in DropSession, nothing is shown, and
/// memory stays at the default limits'.
#[test]
fn syn_flood_to_one_port() {
    const N: u64 = 200_000;
    let run = run_miruo(&[], |pcap| {
        let mut f = Tcp4::new(0);
        f.dst([198, 18, 0, 2], 80).flags(SYN);
        for i in 0..N {
            let ip = [198, 18, 1 + (i >> 16) as u8, (i >> 8) as u8];
            f.src(ip, 1024 + (i as u16 & 0xff) * 200)
                .seq_ack(i as u32 * 7919, 0);
            pcap.frame(T0 + i as i64 * 20, f.bytes())?; // 50,000 SYN/s for 4 s
        }
        Ok(())
    });
    run.assert_clean();
    assert_eq!(run.stat("recv"), N);
    assert_eq!(run.stat("Total Sessions"), 1024);
    assert_eq!(run.stat("ActiveSession"), 1024);
    assert_eq!(run.stat("ActiveSessionMax"), 1024);
    assert_eq!(run.stat("DropSession"), N - 1024);
    assert_eq!(run.stat("Lookup"), 0, "half-open sessions are not shown");
    assert_eq!(run.stdout_lines, 1, "only the banner:\n{}", run.stdout);
    run.assert_memory(1024, 0);
}

/// Random flags, sequence numbers and ports between two hosts, with malformed TCP headers
/// mixed in: the header errors are counted exactly, every frame is read, limits hold, and the
/// sessions the RSTs and FINs close are accounted for.
#[test]
fn random_flag_flood() {
    const N: u64 = 100_000;
    let mut malformed = 0u64;
    let run = run_miruo(&["-L", "256", "-l", "4096"], |pcap| {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (a, b) = ([198, 18, 0, 1], [198, 18, 0, 2]);
        let templates: Vec<Tcp4> = (0..64).map(Tcp4::new).collect();
        for i in 0..N {
            let r = rng.next();
            let mut f = templates[(r >> 56) as usize % 64].clone();
            let port = 40000 + (r as u16 % 512);
            if r & 1 << 20 == 0 {
                f.src(a, port).dst(b, 80);
            } else {
                f.src(b, 80).dst(a, port);
            }
            f.flags((r >> 24) as u8)
                .seq_ack((r >> 32) as u32 % 8, (r >> 40) as u32 % 8);
            if r.is_multiple_of(97) {
                // Data offset 4: a TCP header error (the original crashed on it, F5).
                f.0[Tcp4::TCP + 12] = 0x40;
                malformed += 1;
            }
            pcap.frame(T0 + i as i64 * 50, f.bytes())?;
        }
        Ok(())
    });
    run.assert_clean();
    assert_eq!(run.stat("recv"), N);
    assert_eq!(run.stat("TCP"), malformed, "header errors counted exactly");
    assert_eq!((run.stat("L2"), run.stat("IP")), (0, 0));
    assert!(run.stat("ActiveSessionMax") <= 256);
    assert!(run.stat("ActiveSegmentMax") <= 4096);
    let total = run.stat("Total Sessions");
    assert!(
        total > 256,
        "random flags start and end many sessions: {total}"
    );
    assert!(run.stat("RST") > 0);
    run.assert_memory(256, 4096);
}

/// A million concurrent half-open sessions, `-L0` (unlimited): all are tracked, none dropped,
/// and memory is what a session costs ([`memory_limit_kb`]), not more.
#[test]
fn million_half_open_sessions_unlimited() {
    const N: u64 = 1_000_000;
    let run = run_miruo(&["-L0"], |pcap| million_syns(pcap, N));
    run.assert_clean();
    assert_eq!(run.stat("recv"), N);
    assert_eq!(run.stat("Total Sessions"), N);
    assert_eq!(run.stat("ActiveSession"), N);
    assert_eq!(run.stat("DropSession"), 0);
    assert_eq!(
        run.stat("Timeout"),
        0,
        "all SYNs within 20 s: none is due yet"
    );
    run.assert_memory(N, 0);
}

/// The same million with the default `-L 1024`: 1024 tracked, the rest in DropSession, and
/// memory that of 1024 sessions.
#[test]
fn million_half_open_sessions_default_limit() {
    const N: u64 = 1_000_000;
    let run = run_miruo(&[], |pcap| million_syns(pcap, N));
    run.assert_clean();
    assert_eq!(run.stat("recv"), N);
    assert_eq!(run.stat("Total Sessions"), 1024);
    assert_eq!(run.stat("ActiveSessionMax"), 1024);
    assert_eq!(run.stat("DropSession"), N - 1024);
    run.assert_memory(1024, 0);
}

/// `n` SYNs from distinct (address, port) pairs within 20 s of capture time (under the 30 s
/// half-open timeout, so all are open at once).
fn million_syns<W: Write>(pcap: &mut Pcap<W>, n: u64) -> std::io::Result<()> {
    let mut f = Tcp4::new(0);
    f.dst([198, 18, 0, 2], 443).flags(SYN);
    for i in 0..n {
        f.src([198, 19, (i >> 8) as u8, i as u8], 10000 + (i >> 16) as u16)
            .seq_ack(i as u32, 0);
        pcap.frame(T0 + i as i64 * 20, f.bytes())?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Long sessions

/// One session of 100,000 data segments: the session is pruned to its shown segments and the
/// latest ones (at most 2048 stored, SYN included), so ActiveSegmentMax stays at 2047 and
/// memory at that of 2048 segments; the header still counts every packet.
#[test]
fn session_with_100k_segments_is_pruned() {
    const DATA: u64 = 100_000;
    let run = run_miruo(&["--all"], |pcap| {
        let mut c = Conn::new(40001, 1000, 5000, 100);
        c.handshake(pcap, T0)?;
        for i in 0..DATA {
            c.data(pcap, T0 + 1000 + i as i64 * 10)?;
        }
        c.close(pcap, T0 + 2_000_000)
    });
    run.assert_clean();
    // SYN + SYN/ACK + ACK + data + FIN/ACK + FIN/ACK + ACK.
    let packets = 3 + DATA + 3;
    assert_eq!(run.stat("recv"), packets);
    assert_eq!(
        run.stat("ActiveSegmentMax"),
        2048,
        "pruned at 2048 stored segments besides the SYN"
    );
    assert_eq!(
        (run.stat("ActiveSession"), run.stat("ActiveSegment")),
        (0, 0),
        "closed and freed"
    );
    assert_eq!((run.stat("DropSegment"), run.stat("Retransmit")), (0, 0));
    assert!(
        run.stdout.contains(&format!(
            "Total {packets} segments, {} bytes",
            (packets - 1) * 54 + DATA * 100
        )),
        "{}",
        &run.stdout[..run.stdout.len().min(2000)]
    );
    // Shown: the handshake, the close; the pruned middle is one `****` line, not 100,000.
    assert!(
        run.stdout_lines < 20,
        "{} lines:\n{}",
        run.stdout_lines,
        run.stdout
    );
    run.assert_memory(1, 2048);
}

/// The same long session against `-l 1000`: 1000 segments are stored, every later one is
/// counted in DropSegment (once each, F3), and the session stays open (its FINs are refused
/// too, as in the original).
#[test]
fn segment_limit_counts_every_refused_segment() {
    const DATA: u64 = 100_000;
    let run = run_miruo(&["-l", "1000"], |pcap| {
        let mut c = Conn::new(40002, 1, 1, 10);
        c.handshake(pcap, T0)?;
        for i in 0..DATA {
            c.data(pcap, T0 + 1000 + i as i64 * 10)?;
        }
        c.close(pcap, T0 + 2_000_000)
    });
    run.assert_clean();
    let after_syn = 2 + DATA + 3;
    assert_eq!(run.stat("ActiveSegment"), 1000);
    assert_eq!(run.stat("DropSegment"), after_syn - 1000);
    assert_eq!(run.stat("ActiveSession"), 1);
    run.assert_memory(1, 1000);
}

/// Sequence numbers crossing 2^32 in both directions: no segment after the wrap is mistaken
/// for one before it, the one real retransmission (the same segment again 2 s later) is found,
/// and the session closes normally.
#[test]
fn sequence_numbers_wrap_at_2_pow_32() {
    let run = run_miruo(&[], |pcap| {
        // 200 segments of 100 bytes cross the wrap after about 16.
        let mut c = Conn::new(40003, u32::MAX - 1600, u32::MAX - 1, 100);
        c.handshake(pcap, T0)?;
        let mut resend = None;
        for i in 0..200 {
            if i == 100 {
                resend = Some((c.client.clone(), c.cseq, c.sseq));
            }
            c.data(pcap, T0 + 1000 + i * 1000)?;
        }
        let (mut again, seq, ack) = resend.expect("segment 100");
        pcap.frame(
            T0 + 2_200_000,
            again.seq_ack(seq, ack).flags(PSH | ACK).bytes(),
        )?;
        c.close(pcap, T0 + 2_300_000)
    });
    run.assert_clean();
    assert_eq!(run.stat("Retransmit"), 1, "{}", run.stdout);
    assert_eq!(
        (
            run.stat("Total Sessions"),
            run.stat("Lookup"),
            run.stat("ActiveSession")
        ),
        (1, 1, 0)
    );
    // The retransmitted segment lies past the wrap (its sequence number is small), and is
    // shown twice: as the original (green) and as the retransmission.
    let resent = format!("{:08X}/", (u32::MAX - 1599).wrapping_add(100 * 100));
    assert!(resent.starts_with("0000"), "{resent}");
    assert_eq!(
        run.stdout.matches(&resent).count(),
        2,
        "retransmitted segment not shown:\n{}",
        run.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// Time, duplicates, fragments

/// Timestamps that jump back (a clock stepped back by NTP while capturing): a session whose
/// packets go back 10 s shows no negative duration and no long delay; a jump back by an hour
/// times nothing out; the jump forward again times out exactly the sessions idle too long.
#[test]
fn timestamps_going_backwards() {
    let run = run_miruo(&["--all", "-t", "500", "-T", "100000"], |pcap| {
        // Handshake at T0, the rest of the session 10 s earlier.
        let mut c = Conn::new(40004, 10, 20, 10);
        c.handshake(pcap, T0)?;
        c.data(pcap, T0 - 10_000_000)?;
        c.data(pcap, T0 - 9_999_000)?;
        c.close(pcap, T0 - 9_998_000)?;
        // A half-open session at T0 ...
        let h = Conn::new(40005, 30, 40, 0);
        pcap.frame(
            T0 + 3000,
            h.bare(true).seq_ack(h.cseq, 0).flags(SYN).bytes(),
        )?;
        // ... an established one an hour earlier (the clock jumped back): nothing may time
        // out now ...
        Conn::new(40006, 50, 60, 0).handshake(pcap, T0 - 3_600_000_000)?;
        // ... and 60 s after T0 both are overdue: 30 s half-open, 900 s idle.
        Conn::new(40007, 70, 80, 0).handshake(pcap, T0 + 60_000_000)
    });
    run.assert_clean();
    assert_eq!(
        run.stat("LongDelay"),
        0,
        "a backward step is not a gap:\n{}",
        run.stdout
    );
    assert_eq!(run.stat("LongConnect"), 0);
    assert_eq!(run.stat("Total Sessions"), 4);
    assert_eq!(run.stat("Timeout"), 2, "{}", run.stdout);
    // Both timed out at the forward jump (T0 + 60 s = 22:14:20 UTC), none at the backward one.
    let destroyed: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("destroy session"))
        .collect();
    assert_eq!(destroyed.len(), 2, "{}", run.stdout);
    assert!(
        destroyed.iter().all(|l| l.contains("22:14:20.000")),
        "{destroyed:?}"
    );
    let header = run
        .stdout
        .lines()
        .find(|l| l.starts_with("0001 "))
        .expect("session 1 shown (--all)");
    assert!(
        header.contains(" 0.000 |"),
        "duration of a session going back in time: {header}"
    );
    let capture_time = run
        .stderr
        .lines()
        .find(|l| l.starts_with("Capture Time"))
        .expect("capture time");
    assert!(capture_time.ends_with("00:01:00"), "{capture_time}");
}

/// Writes `n` packets of a clean session (handshake, data, close) through `each`, which gets
/// the time and the frame.
fn clean_session(
    port: u16,
    mut each: impl FnMut(i64, &[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut mem = Pcap::new(Vec::new())?;
    let mut c = Conn::new(port, 100, 200, 50);
    c.handshake(&mut mem, T0)?;
    for i in 0..10 {
        c.data(&mut mem, T0 + 1000 + i * 1000)?;
    }
    c.close(&mut mem, T0 + 20_000)?;
    let (bytes, _) = mem.finish()?;
    let word = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let mut at = 24;
    while at < bytes.len() {
        let ts = i64::from(word(at)) * 1_000_000 + i64::from(word(at + 4));
        let len = word(at + 8) as usize;
        each(ts, &bytes[at + 16..at + 16 + len])?;
        at += 16 + len;
    }
    Ok(())
}

/// Every packet captured twice, 5 µs apart (a mirror port seeing both copies). Data copies
/// within the retransmission threshold are ignored: with `-S0` a clean session stays clean.
/// Repeated SYN and SYN/ACK are reported whatever the timing under the default `-S1`, and with
/// `-r -1` every repeat is a retransmission. A copy 1.5 s later is one under the default.
#[test]
fn duplicate_packets() {
    let mirrored = |pcap: &mut Pcap<std::process::ChildStdin>| {
        clean_session(40008, |ts, f| {
            pcap.frame(ts, f)?;
            pcap.frame(ts + 5, f)
        })
    };
    let clean = run_miruo(&["-S0"], mirrored);
    clean.assert_clean();
    assert_eq!(clean.stat("recv"), 2 * 16);
    assert_eq!(
        (clean.stat("Retransmit"), clean.stat("Lookup")),
        (0, 0),
        "{}",
        clean.stdout
    );
    assert_eq!(
        (clean.stat("Total Sessions"), clean.stat("ActiveSession")),
        (1, 0)
    );

    let syn = run_miruo(&[], mirrored);
    syn.assert_clean();
    assert_eq!(
        (
            syn.stat("Retransmit"),
            syn.stat("Lookup"),
            syn.stat("ActiveSession")
        ),
        (1, 1, 0),
        "{}",
        syn.stdout
    );

    let every = run_miruo(&["-S0", "-r", "-1"], mirrored);
    every.assert_clean();
    assert_eq!(
        (
            every.stat("Retransmit"),
            every.stat("Lookup"),
            every.stat("ActiveSession")
        ),
        (1, 1, 0)
    );
    // Every data copy is shown as a retransmission: 10 data segments, 10 copies at least.
    assert!(every.stdout_lines > 20, "{}", every.stdout);

    let late = run_miruo(&[], |pcap| {
        let mut c = Conn::new(40009, 100, 200, 50);
        c.handshake(pcap, T0)?;
        let (seq, ack) = (c.cseq, c.sseq);
        c.data(pcap, T0 + 1000)?;
        pcap.frame(
            T0 + 1_501_000,
            c.client.clone().seq_ack(seq, ack).flags(PSH | ACK).bytes(),
        )?;
        c.close(pcap, T0 + 1_600_000)
    });
    late.assert_clean();
    assert_eq!(
        (late.stat("Retransmit"), late.stat("Lookup")),
        (1, 1),
        "{}",
        late.stdout
    );
}

/// Overlapping IPv4 fragments: two different "first fragments" of one datagram (the second
/// overlaps the first and rewrites the TCP header), later fragments overlapping at odd
/// offsets, and a first fragment too short to hold a TCP header. First fragments are flagged,
/// later ones are not TCP, the short one is a TCP header error; nothing else happens.
#[test]
fn overlapping_ip_fragments() {
    let run = run_miruo(&[], |pcap| {
        let mut c = Conn::new(40010, 1000, 2000, 0);
        c.handshake(pcap, T0)?;
        let mut first = Conn::new(40010, 0, 0, 200).client;
        first
            .seq_ack(c.cseq, c.sseq)
            .flags(PSH | ACK)
            .fragment(0, true);
        pcap.frame(T0 + 1000, first.bytes())?;
        // The overlapping rewrite: offset 0 again, different sequence number and flags.
        first
            .seq_ack(c.cseq.wrapping_add(7), c.sseq)
            .flags(RST | ACK)
            .fragment(0, true);
        pcap.frame(T0 + 1100, first.bytes())?;
        // Later fragments at offsets 1 and 3 (8 and 24 bytes) overlapping the first ones.
        for (i, off) in [1u16, 3, 2].into_iter().enumerate() {
            let mut later = Conn::new(40010, 0, 0, 100).client;
            later.fragment(off, i < 2);
            pcap.frame(T0 + 1200 + i as i64 * 10, later.bytes())?;
        }
        // A first fragment carrying only 8 bytes of TCP header.
        let mut tiny = Conn::new(40010, 0, 0, 0).client;
        tiny.fragment(0, true);
        let cut = tiny.0[..Tcp4::TCP + 8].to_vec();
        pcap.frame(T0 + 1300, &cut)?;
        Ok(())
    });
    run.assert_clean();
    assert_eq!(run.stat("recv"), 3 + 2 + 3 + 1);
    assert_eq!(
        run.stat("fragment"),
        2,
        "both first fragments flagged:\n{}",
        run.stdout
    );
    assert_eq!(run.stat("TCP"), 1, "the 8-byte TCP header");
    assert_eq!(run.stat("Total Sessions"), 1);
    // The fragment flags the session; the RST in the rewritten first fragment closes it.
    assert_eq!(run.stat("Lookup"), 1, "{}", run.stdout);
    assert!(
        run.stdout.lines().filter(|l| l.contains(" F <")).count() == 2,
        "{}",
        run.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// Regressions found by fuzzing (fuzz/, `cargo xtask fuzz`): each reproduces the fuzzer's
// finding with the library directly; the fuzzer's own input is in fuzz/seeds/.

mod fuzz_regressions {
    use miruo::decode::Packet;
    use miruo::dpi::http::HttpDpi;
    use miruo::session::{Config, End, Report, Segment, Session, Tracker};
    use std::net::{IpAddr, Ipv4Addr};

    struct Nothing;

    impl Report for Nothing {
        fn session_end(&mut self, _: &Session, _: End) {}
        fn live_segment(&mut self, _: &Session, _: &Segment) {}
    }

    fn packet(from_client: bool, seq: u32, flags: u8, ts_us: i64) -> Packet<'static> {
        let (c, s) = (
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
        );
        let (src, dst, sport, dport) = if from_client {
            (c, s, 40000, 80)
        } else {
            (s, c, 80, 40000)
        };
        Packet {
            ts_us,
            wire_len: 154,
            vlan: 0,
            src,
            dst,
            sport,
            dport,
            seq,
            ack: 1,
            flags,
            options: &[],
            payload: &[],
            more_fragments: false,
        }
    }

    /// tracker target: once a session held more than 2048 segments that are all shown (here:
    /// every data segment repeated under `-r -1`), pruning never ran again, so the unmarked
    /// segments after them piled up without bound (spec §4.9 prunes after every store).
    #[test]
    fn pruning_resumes_after_a_session_of_marked_segments() {
        let mut tracker = Tracker::new(Config {
            retransmit_ms: -1,
            segment_limit: 0,
            ..Config::default()
        });
        let mut ts = super::T0;
        let mut tick = || {
            ts += 100;
            ts
        };
        tracker.packet(&packet(true, 0, super::SYN, tick()), &mut Nothing);
        tracker.packet(
            &packet(false, 0, super::SYN | super::ACK, tick()),
            &mut Nothing,
        );
        tracker.packet(&packet(true, 1, super::ACK, tick()), &mut Nothing);
        // 1100 data segments, each repeated: 2200 marked segments.
        for i in 0..1100u32 {
            let p = packet(true, 1 + i * 100, super::PSH | super::ACK, tick());
            tracker.packet(&p, &mut Nothing);
            tracker.packet(&Packet { ts_us: tick(), ..p }, &mut Nothing);
        }
        let marked = tracker.stats().active_segments;
        assert!(marked > 2048, "{marked}");
        // 5000 plain data segments: each is pruned by the next store.
        for i in 1100..6100u32 {
            tracker.packet(
                &packet(true, 1 + i * 100, super::PSH | super::ACK, tick()),
                &mut Nothing,
            );
        }
        let active = tracker.stats().active_segments;
        assert!(
            active <= marked + 1,
            "unmarked segments kept: {active} stored, {marked} of them marked"
        );
        assert_eq!(tracker.stats().drop_segment, 0);
    }

    /// http target: a header value with a bare CR (or any control character) was printed as
    /// it came, so one DPI line could move the terminal's cursor or carry escape sequences.
    #[test]
    fn dpi_lines_carry_no_control_characters() {
        let http = HttpDpi::from_mode("http:%:%").expect("mode").expect("http");
        let lines =
            http.inspect(b"GET /a\x1b[2J HTTP/1.1\r\nHost: h\rX\r\nX-A: \x1b]0;title\x07\r\n\r\n");
        assert_eq!(lines.len(), 3, "{lines:?}");
        for line in &lines {
            assert!(
                !line.chars().any(char::is_control),
                "control character in {line:?}"
            );
        }
        assert_eq!(lines[1], "DPI:HTTP:Header >>>>>>>>> Host: h.X");
    }
}

/// Connection churn: 300,000 complete short sessions within 20 s of capture time under the
/// default limits. At most two are open at once, so memory must be that of a few sessions,
/// however many came and went.
///
/// Failed at 079bffc, where the timeout queue kept an entry for every ended session until it
/// came due, so its size followed the connection rate, not `-L` (VmHWM 36.6 MB, 27 MB of it
/// stale entries); since 51caab1 the queue is compacted once stale entries outnumber the live
/// sessions.
#[test]
fn churn_of_short_sessions() {
    const N: u32 = 300_000;
    let run = run_miruo(&[], |pcap| {
        let mut c = Conn::new(1, 0, 0, 0);
        for i in 0..N {
            let ts = T0 + i64::from(i) * 60;
            let port = 1024 + (i % 60000) as u16;
            let ip = [198, 19, (i / 60000) as u8, 1];
            c.client.src(ip, port);
            c.server.dst(ip, port);
            c.cseq = i;
            c.sseq = !i;
            c.handshake(pcap, ts)?;
            c.close(pcap, ts + 30)?;
        }
        Ok(())
    });
    run.assert_clean();
    assert_eq!(run.stat("recv"), 6 * u64::from(N));
    assert_eq!(run.stat("Total Sessions"), u64::from(N));
    assert_eq!((run.stat("ActiveSession"), run.stat("DropSession")), (0, 0));
    assert!(run.stat("ActiveSessionMax") <= 2);
    // Two sessions of at most five stored segments each, and room for a thousand more.
    run.assert_memory(1024, 5 * 1024);
}
