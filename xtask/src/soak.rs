//! `cargo xtask soak MINUTES [--replay] [--interval SECS]`: keeps miruo busy with connection
//! churn for MINUTES and samples, every interval (default 60 s), its resident memory
//! (`VmRSS` of /proc/PID/status), its open file descriptors (/proc/PID/fd) and its counters —
//! sessions, what the limits dropped, and for live capture the ring-buffer drops — from the
//! statistics block that SIGUSR1 makes it print. Ends with a table and a verdict: memory and
//! descriptors flat, or growing (then the command fails).
//!
//! Two workloads:
//!
//! * live (the default, as root with the eBPF toolchain): a network-namespace test bed
//!   ([`TestNet`]), miruo capturing with `-i` on the server's interface, and the test bed's
//!   churn client ([`peer::client_churn`]: short echo and HTTP connections, refused SYNs, bulk
//!   uploads alongside) running back to back until the time is up. Everything is torn down by
//!   guards, also on failure.
//! * `--replay` (anywhere): a generator thread writes an endless pcap of synthetic churn to
//!   `miruo -f -` (handshake, data, close; one refused SYN and one retransmission in 16
//!   connections; a bulk session that is pruned), paced at about 20,000 packets per second of
//!   wall time, with timestamps that follow the wall clock.
//!
//! The verdict compares the sample at the end of a warm-up (the first fifth of the samples,
//! at least one: the ring buffer, the tables and the output buffers are still being touched
//! for the first time) with the last: memory may move within 10 % + 2 MB, descriptors not at
//! all, and frames must still be arriving.

use crate::testbed::{self, NetConfig, TestNet, peer};
use crate::util::build_release_miruo;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One row of the table.
#[derive(Clone, Debug, Default)]
struct Sample {
    minute: f64,
    rss_kb: u64,
    fds: u64,
    /// Frames (file) or ring-buffer records (live) read so far.
    recv: u64,
    total_sessions: u64,
    active_sessions: u64,
    drop_session: u64,
    drop_segment: u64,
    /// Ring-buffer drops (live only).
    ring_drop: u64,
}

pub fn run(args: &[String]) -> Result<()> {
    let mut minutes: f64 = 10.0;
    let mut interval = 60u64;
    let mut replay = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--replay" => replay = true,
            "--interval" => {
                interval = it
                    .next()
                    .context("--interval needs seconds")?
                    .parse()
                    .context("--interval")?
            }
            m => {
                minutes = m
                    .parse()
                    .with_context(|| format!("soak: '{m}' is not a number of minutes"))?
            }
        }
    }
    let binary = build_release_miruo()?;
    let duration = Duration::from_secs_f64(minutes * 60.0);
    let interval = Duration::from_secs(interval.max(1));

    let live_possible = testbed::is_root();
    let (mode, samples) = if replay || !live_possible {
        if !replay {
            eprintln!(
                "soak: not root, so no test bed for live capture: replaying through `miruo -f -`"
            );
        }
        ("replay (-f -)", soak_replay(&binary, duration, interval)?)
    } else {
        ("live (-i, eBPF)", soak_live(&binary, duration, interval)?)
    };
    print_report(mode, minutes, &samples)
}

// ---------------------------------------------------------------------------------------------
// Live

fn soak_live(binary: &Path, duration: Duration, interval: Duration) -> Result<Vec<Sample>> {
    let net = TestNet::new(NetConfig::direct())?;
    // Tens of thousands of short connections a minute: without TIME_WAIT reuse and a wide
    // port range the client namespace runs out of ephemeral ports, and the churn stalls.
    for (key, value) in [
        ("net.ipv4.tcp_tw_reuse", "1"),
        ("net.ipv4.ip_local_port_range", "1024 65000"),
    ] {
        testbed::run_in(
            &net.client.ns,
            &["sysctl", "-q", "-w", &format!("{key}={value}")],
        )?;
    }
    let _server = net.start_server()?;
    let (out, log) = log_files();
    let _guards = (RemoveOnDrop(out.clone()), RemoveOnDrop(log.clone()));
    let mut cmd = testbed::command_in(&net.server.ns, binary);
    // Output is not the point here (and a terminal would slow miruo down): stdout is dropped,
    // the statistics on stderr go to the log that the samples are read from.
    cmd.args(["-i", &net.server.iface, "-C", "0"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out)?)
        .stderr(std::fs::File::create(&log)?);
    let mut miruo = Miruo::spawn(&mut cmd)?;
    wait_for(&out, "listening on", Duration::from_secs(20), &mut miruo)?;

    let stop = Arc::new(AtomicBool::new(false));
    let connections = Arc::new(AtomicU64::new(0));
    let host = std::net::IpAddr::V4(net.server.ipv4);
    let samples = std::thread::scope(|scope| -> Result<Vec<Sample>> {
        let (stop2, conns) = (stop.clone(), connections.clone());
        let client_ns = net.client.ns.clone();
        let churn = scope.spawn(move || -> Result<()> {
            testbed::in_ns(&client_ns, || {
                while !stop2.load(Ordering::Relaxed) {
                    // Short rounds, so that the stop flag is seen within seconds.
                    let r =
                        peer::client_churn(host, u64::MAX, 4, 1, 8 << 20, Duration::from_secs(10))?;
                    conns.fetch_add(r.short_connections + r.refused, Ordering::Relaxed);
                }
                Ok(())
            })
        });
        let samples = sample_loop(&mut miruo, &log, duration, interval, true);
        stop.store(true, Ordering::Relaxed);
        churn
            .join()
            .map_err(|_| anyhow::anyhow!("the churn thread panicked"))??;
        samples
    })?;
    eprintln!(
        "soak: {} short connections made",
        connections.load(Ordering::Relaxed)
    );
    miruo.signal(libc::SIGTERM)?;
    let status = miruo.wait_timeout(Duration::from_secs(10))?;
    if !status.success() {
        bail!("miruo exited {status}: {}", tail(&log));
    }
    Ok(samples)
}

// ---------------------------------------------------------------------------------------------
// Replay

fn soak_replay(binary: &Path, duration: Duration, interval: Duration) -> Result<Vec<Sample>> {
    let (out, log) = log_files();
    let _guards = (RemoveOnDrop(out.clone()), RemoveOnDrop(log.clone()));
    let mut cmd = Command::new(binary);
    cmd.args(["-f", "-", "-C", "0"])
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out)?)
        .stderr(std::fs::File::create(&log)?);
    let mut miruo = Miruo::spawn(&mut cmd)?;
    let stdin = miruo.child.stdin.take().context("miruo's stdin")?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let writer = std::thread::spawn(move || generate(stdin, &stop2));
    wait_for(&out, "listening on", Duration::from_secs(20), &mut miruo)?;
    let samples = sample_loop(&mut miruo, &log, duration, interval, false);
    stop.store(true, Ordering::Relaxed);
    let written = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the generator panicked"))?;
    let status = miruo.wait_timeout(Duration::from_secs(30))?;
    let samples = samples?;
    eprintln!(
        "soak: generator wrote {} packets; miruo exited {status}",
        written.unwrap_or(0)
    );
    if !status.success() {
        bail!(
            "miruo exited {status}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    Ok(samples)
}

/// Writes synthetic churn as pcap until `stop`; returns the packets written. Dropping the
/// pipe at the end is miruo's end of input.
fn generate(out: std::process::ChildStdin, stop: &AtomicBool) -> Result<u64> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    out.write_all(&[
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
    ])?;
    let start = Instant::now();
    let wall_us = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    };
    let mut packets = 0u64;
    let mut conn = 0u64;
    const RATE: u64 = 20_000;
    while !stop.load(Ordering::Relaxed) {
        // Pace: no more than RATE packets per second of wall time.
        let due = start.elapsed().as_micros() as u64 * RATE / 1_000_000;
        if packets > due {
            out.flush()?;
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let ts = wall_us();
        for frame in churn_connection(conn) {
            write_frame(&mut out, ts, &frame)?;
            packets += 1;
        }
        conn += 1;
    }
    out.flush()?;
    Ok(packets)
}

fn write_frame(out: &mut impl Write, ts_us: u64, frame: &[u8]) -> std::io::Result<()> {
    let len = frame.len() as u32;
    for word in [
        (ts_us / 1_000_000) as u32,
        (ts_us % 1_000_000) as u32,
        len,
        len,
    ] {
        out.write_all(&word.to_le_bytes())?;
    }
    out.write_all(frame)
}

/// The frames of connection number `n`: 198.18.x.y:port → 198.18.0.2:80, ports and addresses
/// rotating so that the same 4-tuple comes back only after 2^24 connections.
fn churn_connection(n: u64) -> Vec<Vec<u8>> {
    let client = [198, 18, 1 + (n >> 16 & 0x3f) as u8, (n >> 8) as u8];
    let server = [198, 18, 0, 2];
    let cport = 1024 + (n & 0xff) as u16 * 200;
    let (mut c, mut s) = (n as u32 * 7919, n as u32 * 104_729);
    let tcp = |from_client: bool, seq: u32, ack: u32, flags: u8, payload: usize| {
        let (src, dst, sp, dp) = if from_client {
            (client, server, cport, 80)
        } else {
            (server, client, 80, cport)
        };
        frame(src, dst, sp, dp, seq, ack, flags, payload)
    };
    const F: u8 = 0x01;
    const S: u8 = 0x02;
    const R: u8 = 0x04;
    const P: u8 = 0x08;
    const A: u8 = 0x10;
    let mut v = vec![tcp(true, c, 0, S, 0)];
    if n % 16 == 15 {
        // Refused: RST/ACK from the server.
        v.push(tcp(false, 0, c.wrapping_add(1), R | A, 0));
        return v;
    }
    v.push(tcp(false, s, c.wrapping_add(1), S | A, 0));
    c = c.wrapping_add(1);
    s = s.wrapping_add(1);
    v.push(tcp(true, c, s, A, 0));
    // Every 64th connection is a bulk transfer long enough to be pruned (> 2048 segments).
    let data = if n % 64 == 5 { 3000 } else { 2 };
    for i in 0..data {
        v.push(tcp(true, c, s, P | A, 100));
        if n % 16 == 7 && i == 0 {
            // A retransmission (the same segment again); shown by `-r` only if 1 s apart,
            // which it is not: it is ignored, exercising that path.
            v.push(tcp(true, c, s, P | A, 100));
        }
        c = c.wrapping_add(100);
        v.push(tcp(false, s, c, A, 0));
    }
    v.push(tcp(true, c, s, F | A, 0));
    c = c.wrapping_add(1);
    v.push(tcp(false, s, c, F | A, 0));
    s = s.wrapping_add(1);
    v.push(tcp(true, c, s, A, 0));
    v
}

/// An Ethernet/IPv4/TCP frame with `payload` bytes of data (checksums left zero: miruo does
/// not check them).
#[allow(clippy::too_many_arguments)]
fn frame(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: usize,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(54 + payload);
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = (40 + payload) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
    f.resize(54 + payload, b'x');
    f
}

// ---------------------------------------------------------------------------------------------
// Sampling and the report

/// Takes a sample now and then every `interval` until `duration` has passed.
fn sample_loop(
    miruo: &mut Miruo,
    log: &Path,
    duration: Duration,
    interval: Duration,
    live: bool,
) -> Result<Vec<Sample>> {
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next = start + interval;
    loop {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_secs(1)));
            if let Some(st) = miruo.try_wait()? {
                bail!("miruo exited during the soak ({st}): {}", tail(log));
            }
            continue;
        }
        let s = sample(miruo, log, start, live)?;
        eprintln!(
            "soak: {:5.1} min  RSS {} KB  fds {}  recv {}  sessions {}  drops {}/{}/{}",
            s.minute,
            s.rss_kb,
            s.fds,
            s.recv,
            s.total_sessions,
            s.drop_session,
            s.drop_segment,
            s.ring_drop
        );
        samples.push(s);
        if start.elapsed() + Duration::from_millis(500) >= duration {
            return Ok(samples);
        }
        next += interval;
    }
}

/// RSS and fds from /proc, then the counters of the statistics block SIGUSR1 makes it print.
fn sample(miruo: &mut Miruo, log: &Path, start: Instant, live: bool) -> Result<Sample> {
    let pid = miruo.pid();
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).context("miruo's /proc status")?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .context("miruo's fd directory")?
        .count() as u64;
    let blocks_before = std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("===== Session Statistics")
        .count();
    miruo.signal(libc::SIGUSR1)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let block = loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches("===== Session Statistics").count() > blocks_before
            && text.trim_end().ends_with("==============================")
        {
            let at = text
                .rfind("===== Session Statistics")
                .expect("counted above");
            break text[at..].to_string();
        }
        if Instant::now() > deadline {
            bail!(
                "miruo printed no statistics within 10 s of SIGUSR1: {}",
                tail(log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let field = |name: &str| -> u64 {
        block
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.trim() == name)
                    .map(|(_, v)| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0)
    };
    Ok(Sample {
        minute: start.elapsed().as_secs_f64() / 60.0,
        rss_kb,
        fds,
        recv: field("recv"),
        total_sessions: field("Total Sessions"),
        active_sessions: field("ActiveSession"),
        drop_session: field("DropSession"),
        drop_segment: field("DropSegment"),
        ring_drop: if live { field("drop") } else { 0 },
    })
}

fn print_report(mode: &str, minutes: f64, samples: &[Sample]) -> Result<()> {
    println!("\nsoak: {mode}, {minutes} min");
    println!(
        "| minute | RSS KB | fds | frames read | sessions | active | DropSession | DropSegment | ring drops |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for s in samples {
        println!(
            "| {:.1} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.minute,
            s.rss_kb,
            s.fds,
            s.recv,
            s.total_sessions,
            s.active_sessions,
            s.drop_session,
            s.drop_segment,
            s.ring_drop
        );
    }
    if samples.len() < 2 {
        bail!(
            "{} sample(s): a soak needs at least two intervals",
            samples.len()
        );
    }
    // The baseline is taken after the warm-up: a fifth of the samples, at least the first.
    let first = &samples[(samples.len() / 5).max(1) - 1];
    let last = &samples[samples.len() - 1];
    let rss_ok = last.rss_kb <= first.rss_kb + first.rss_kb / 10 + 2048;
    let fds_ok = last.fds == first.fds;
    let moving = last.recv > first.recv;
    let verdict = match (rss_ok, fds_ok, moving) {
        (true, true, true) => "flat",
        (_, _, false) => "stalled (no frames read between the first and the last sample)",
        _ => "growing",
    };
    println!(
        "\nverdict: {verdict} (from minute {:.1} to {:.1}: RSS {} → {} KB, fds {} → {}; {} frames read)",
        first.minute, last.minute, first.rss_kb, last.rss_kb, first.fds, last.fds, last.recv
    );
    if verdict != "flat" {
        bail!("soak: {verdict}");
    }
    Ok(())
}

fn wait_for(log: &Path, needle: &str, timeout: Duration, child: &mut Miruo) -> Result<()> {
    let end = Instant::now() + timeout;
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(needle)
    {
        if let Some(st) = child.try_wait()? {
            bail!("miruo exited ({st}) before starting: {}", tail(log));
        }
        if Instant::now() > end {
            bail!("miruo did not start within {timeout:?}: {}", tail(log));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The miruo process under test: signalled by its PID, SIGKILLed if still running when
/// dropped (a failed soak leaves nothing behind).
struct Miruo {
    child: Child,
    status: Option<ExitStatus>,
}

impl Miruo {
    fn spawn(cmd: &mut Command) -> Result<Miruo> {
        Ok(Miruo {
            child: cmd.spawn().context("cannot start miruo")?,
            status: None,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    fn signal(&mut self, sig: libc::c_int) -> Result<()> {
        if self.try_wait()?.is_some() {
            bail!("miruo has already exited");
        }
        // SAFETY: kill(2) on our own child, not yet reaped, so the PID is still its own.
        if unsafe { libc::kill(self.child.id() as libc::pid_t, sig) } != 0 {
            bail!("kill: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits for the exit; SIGKILL after `timeout`.
    fn wait_timeout(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_wait()? {
                return Ok(st);
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                self.status = Some(self.child.wait()?);
                bail!("miruo did not exit within {timeout:?}: killed");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Miruo {
    fn drop(&mut self) {
        if matches!(self.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Files for miruo's stdout (the banner and the sessions it shows: a few MB over a soak) and
/// stderr (the statistics blocks the samples are read from).
fn log_files() -> (PathBuf, PathBuf) {
    let base = std::env::temp_dir().join(format!("miruo-soak-{}", std::process::id()));
    (base.with_extension("stdout"), base.with_extension("stderr"))
}

/// Deletes a file when dropped (miruo's output).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_connections_are_well_formed() {
        let refused = churn_connection(15);
        assert_eq!(refused.len(), 2);
        assert_eq!(refused[1][47], 0x14, "RST/ACK");
        let normal = churn_connection(1);
        // SYN, SYN/ACK, ACK, 2 × (data, ACK), FIN/ACK, FIN/ACK, ACK.
        assert_eq!(normal.len(), 10);
        assert!(normal.iter().all(|f| f.len() == 54 || f.len() == 154));
        assert_eq!(
            churn_connection(5).len(),
            3 + 2 * 3000 + 3,
            "a bulk session"
        );
        // Different connections use different 4-tuples.
        assert_ne!(
            churn_connection(1)[0][26..38],
            churn_connection(2)[0][26..38]
        );
    }

    #[test]
    fn verdict_flags_growth() {
        let s = |minute: f64, rss_kb: u64, fds: u64, recv: u64| Sample {
            minute,
            rss_kb,
            fds,
            recv,
            ..Sample::default()
        };
        assert!(print_report("t", 2.0, &[s(1.0, 20_000, 5, 10), s(2.0, 21_000, 5, 20)]).is_ok());
        assert!(print_report("t", 2.0, &[s(1.0, 20_000, 5, 10), s(2.0, 40_000, 5, 20)]).is_err());
        assert!(print_report("t", 2.0, &[s(1.0, 20_000, 5, 10), s(2.0, 20_000, 6, 20)]).is_err());
        assert!(print_report("t", 2.0, &[s(1.0, 20_000, 5, 10), s(2.0, 20_000, 5, 10)]).is_err());
    }
}
