//! Live capture for real: the programs attached to veths in network namespaces made for the
//! test (xtask's test bed), real kernel TCP between them, and what [`LiveSource`] hands out
//! compared with what tcpdump recorded on the same interface at the same time. Also: nothing
//! stays attached when the source is dropped or its process is SIGKILLed, `-i any` follows
//! interfaces that appear later, and the one-line errors.
//!
//! Needs root: skipped with a message otherwise, and a failure when CI=true.
#![cfg(target_os = "linux")]

use anyhow::{Context, Result, bail};
use aya::programs::{SchedClassifier, TcAttachType};
use miruo::source::live::{LiveOptions, LiveSource};
use miruo::source::{LinkType, Next, Source, SourceStats};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use xtask::bench_live::{iperf, median, syn_flood};
use xtask::testbed::{self, NetConfig, TestNet, peer};

/// One attach test at a time: they share 2 cores and the tcpdump comparison wants quiet.
static LOCK: Mutex<()> = Mutex::new(());

fn ready() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !miruo::source::live::available() {
        assert!(!ci, "CI=true but miruo was built without its eBPF programs");
        eprintln!("SKIP: miruo was built without the eBPF toolchain (cargo xtask setup)");
        return false;
    }
    if !testbed::is_root() {
        assert!(
            !ci,
            "CI=true but the live-capture tests are not running as root"
        );
        eprintln!("SKIP: live capture tests need root (network namespaces, CAP_BPF)");
        return false;
    }
    true
}

fn quiet() -> LiveOptions {
    LiveOptions {
        announce: false,
        ..LiveOptions::default()
    }
}

/// A frame as the source handed it out.
#[derive(Clone, Debug)]
struct Captured {
    ts_us: i64,
    link: LinkType,
    wire_len: u32,
    data: Vec<u8>,
}

struct Capture {
    frames: Vec<Captured>,
    stats: SourceStats,
    interfaces: Vec<String>,
    idles: u64,
}

/// Opens a LiveSource on `devices` inside `ns` on its own thread, runs `traffic` once it is
/// attached, keeps reading `linger` longer, and returns what it got. The source is dropped
/// (detached) before this returns.
fn capture_during<T: Send>(
    ns: &str,
    devices: &[&str],
    opts: LiveOptions,
    linger: Duration,
    traffic: impl FnOnce() -> Result<T> + Send,
) -> Result<(Capture, T)> {
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<std::result::Result<(), String>>();
    let devices: Vec<String> = devices.iter().map(|s| s.to_string()).collect();
    std::thread::scope(|s| {
        let stop = &stop;
        let handle = s.spawn(move || {
            testbed::in_ns(ns, || {
                let mut src = match LiveSource::open(&devices, opts) {
                    Ok(src) => src,
                    Err(e) => {
                        let _ = tx.send(Err(format!("{e:#}")));
                        return Err(e);
                    }
                };
                let _ = tx.send(Ok(()));
                let mut cap = Capture {
                    frames: Vec::new(),
                    stats: SourceStats::default(),
                    interfaces: Vec::new(),
                    idles: 0,
                };
                while !stop.load(Ordering::Relaxed) {
                    match src.next()? {
                        Next::Frame(f) => cap.frames.push(Captured {
                            ts_us: f.ts_us,
                            link: f.link,
                            wire_len: f.wire_len,
                            data: f.data.to_vec(),
                        }),
                        Next::Idle { .. } => cap.idles += 1,
                        Next::Metadata => {}
                        Next::End => bail!("a live source never ends by itself"),
                    }
                }
                cap.stats = src.stats();
                cap.interfaces = src.interfaces();
                Ok(cap)
            })
        });
        let opened = rx.recv().context("capture thread died before attaching")?;
        let result = match opened {
            Ok(()) => traffic(),
            Err(e) => Err(anyhow::anyhow!("{e}")),
        };
        std::thread::sleep(linger);
        stop.store(true, Ordering::Relaxed);
        let cap = handle
            .join()
            .map_err(|_| anyhow::anyhow!("capture thread panicked"))??;
        Ok((cap, result?))
    })
}

/// TCP view of a captured Ethernet frame: (src, dst, sport, dport, flags, payload length).
fn tcp_of(data: &[u8], wire_len: u32) -> Option<(IpAddr, IpAddr, u16, u16, u8, usize)> {
    let et = u16::from_be_bytes([*data.get(12)?, *data.get(13)?]);
    let (src, dst, l4, ip_end): (IpAddr, IpAddr, usize, usize) = match et {
        0x0800 => {
            let ihl = usize::from(data.get(14)? & 0x0f) * 4;
            let s: [u8; 4] = data.get(26..30)?.try_into().ok()?;
            let d: [u8; 4] = data.get(30..34)?.try_into().ok()?;
            let total = usize::from(u16::from_be_bytes([*data.get(16)?, *data.get(17)?]));
            (s.into(), d.into(), 14 + ihl, 14 + total)
        }
        0x86dd => {
            let s: [u8; 16] = data.get(22..38)?.try_into().ok()?;
            let d: [u8; 16] = data.get(38..54)?.try_into().ok()?;
            let plen = usize::from(u16::from_be_bytes([*data.get(18)?, *data.get(19)?]));
            if *data.get(20)? != 6 {
                return None;
            }
            (s.into(), d.into(), 54, 54 + plen)
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*data.get(l4)?, *data.get(l4 + 1)?]);
    let dport = u16::from_be_bytes([*data.get(l4 + 2)?, *data.get(l4 + 3)?]);
    let doff = usize::from(data.get(l4 + 12)? >> 4) * 4;
    let flags = *data.get(l4 + 13)?;
    let payload = ip_end.min(wire_len as usize).saturating_sub(l4 + doff);
    Some((src, dst, sport, dport, flags, payload))
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

fn assert_echo_session(frames: &[Captured], client: IpAddr, server: IpAddr) {
    let segs: Vec<_> = frames
        .iter()
        .filter_map(|f| tcp_of(&f.data, f.wire_len))
        .collect();
    let c2s = |s: &&(IpAddr, IpAddr, u16, u16, u8, usize)| {
        s.0 == client && s.1 == server && s.3 == peer::PORT_ECHO
    };
    let s2c = |s: &&(IpAddr, IpAddr, u16, u16, u8, usize)| {
        s.0 == server && s.1 == client && s.2 == peer::PORT_ECHO
    };
    let syn = segs
        .iter()
        .filter(c2s)
        .filter(|s| s.4 & (SYN | ACK) == SYN)
        .count();
    let synack = segs
        .iter()
        .filter(s2c)
        .filter(|s| s.4 & (SYN | ACK) == SYN | ACK)
        .count();
    let fin_c = segs.iter().filter(c2s).filter(|s| s.4 & FIN != 0).count();
    let fin_s = segs.iter().filter(s2c).filter(|s| s.4 & FIN != 0).count();
    let data_c: usize = segs.iter().filter(c2s).map(|s| s.5).sum();
    let data_s: usize = segs.iter().filter(s2c).map(|s| s.5).sum();
    assert_eq!((syn, synack), (1, 1), "one handshake in {segs:?}");
    assert_eq!((fin_c, fin_s), (1, 1), "one FIN each way in {segs:?}");
    assert_eq!(
        (data_c, data_s),
        (12, 12),
        "\"hello miruo\\n\" each way in {segs:?}"
    );
}

fn tcx_programs(ns: &str, iface: &str) -> Result<usize> {
    let iface = iface.to_string();
    testbed::in_ns(ns, move || {
        let mut n = 0;
        for dir in [TcAttachType::Ingress, TcAttachType::Egress] {
            n += SchedClassifier::query_tcx(&iface, dir)?.1.len();
        }
        Ok(n)
    })
}

fn xdp_attached(ns: &str, iface: &str) -> Result<bool> {
    let out = testbed::run_in(ns, &["ip", "-d", "link", "show", "dev", iface])?;
    Ok(out.contains("prog/xdp"))
}

#[test]
fn live_frames_equal_tcpdump_on_the_same_interface() -> Result<()> {
    let _g = LOCK.lock();
    if !ready() {
        return Ok(());
    }
    let net = TestNet::new(NetConfig::direct())?;
    let _server = net.start_server()?;
    let (c, s) = (net.client.clone(), net.server.clone());
    let pcap = std::env::temp_dir().join(format!("mrt-{}-live.pcap", std::process::id()));
    let pcap_s = pcap.to_string_lossy().into_owned();
    let mut tcpdump = testbed::spawn_in(
        &c.ns,
        &[
            "tcpdump", "-i", &c.iface, "-n", "-U", "-s", "256", "-w", &pcap_s, "tcp",
        ],
    )?;
    tcpdump.wait_for_output("listening on", Duration::from_secs(10))?;
    let t0 = miruo_now_us();
    let (cap, ()) = capture_during(
        &c.ns,
        &[&c.iface],
        quiet(),
        Duration::from_millis(300),
        || {
            net.in_client(|| peer::client_echo(IpAddr::V4(s.ipv4), peer::PORT_ECHO))?;
            net.in_client(|| peer::client_echo(IpAddr::V6(s.ipv6), peer::PORT_ECHO))
        },
    )?;
    let t1 = miruo_now_us();
    settle(&pcap, Duration::from_millis(400), Duration::from_secs(10));
    tcpdump.stop(libc::SIGINT, Duration::from_secs(5))?;

    assert_echo_session(&cap.frames, IpAddr::V4(c.ipv4), IpAddr::V4(s.ipv4));
    assert_echo_session(&cap.frames, IpAddr::V6(c.ipv6), IpAddr::V6(s.ipv6));
    for f in &cap.frames {
        assert_eq!(f.link, LinkType::ETHERNET);
        assert!(
            f.ts_us >= t0 - 1000 && f.ts_us <= t1 + 1000,
            "time stamp {} outside [{t0}, {t1}]",
            f.ts_us
        );
    }
    assert_eq!(cap.interfaces, vec![c.iface.clone()]);
    let stat = |k: &str| {
        cap.stats
            .lines
            .iter()
            .find(|(l, _)| l.trim() == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(cap.stats.title, "eBPF Statistics");
    assert_eq!(stat("recv"), cap.frames.len().to_string());
    assert_eq!(stat("drop"), "0");

    // The same frames as tcpdump, byte for byte over what we recorded, within 1 ms.
    let file = std::fs::File::open(&pcap)?;
    let mut reader = pcap_file::pcap::PcapReader::new(file)?;
    let mut dumped = Vec::new();
    while let Some(p) = reader.next_packet() {
        let p = p?;
        dumped.push((
            p.timestamp().as_micros() as i64,
            p.orig_len(),
            p.into_data().into_owned(),
        ));
    }
    let _ = std::fs::remove_file(&pcap);
    assert_eq!(
        dumped.len(),
        cap.frames.len(),
        "tcpdump saw {} TCP frames, miruo {}",
        dumped.len(),
        cap.frames.len()
    );
    let mut unmatched: Vec<&Captured> = cap.frames.iter().collect();
    for (ts, len, data) in &dumped {
        let i = unmatched
            .iter()
            .position(|f| {
                f.wire_len == *len && data.starts_with(&f.data) && (f.ts_us - ts).abs() <= 1000
            })
            .with_context(|| format!("tcpdump frame at {ts} ({len} bytes) has no live twin"))?;
        unmatched.swap_remove(i);
    }

    // Dropping the source detached everything.
    assert_eq!(
        tcx_programs(&c.ns, &c.iface)?,
        0,
        "TCX programs left after drop"
    );
    Ok(())
}

#[test]
fn loopback_frames_are_seen_once_like_tcpdump() -> Result<()> {
    let _g = LOCK.lock();
    if !ready() {
        return Ok(());
    }
    let net = TestNet::new(NetConfig::direct())?;
    let _server = net.start_server()?;
    let ns = net.server.ns.clone();
    let pcap = std::env::temp_dir().join(format!("mrt-{}-lo.pcap", std::process::id()));
    let pcap_s = pcap.to_string_lossy().into_owned();
    let mut tcpdump = testbed::spawn_in(
        &ns,
        &["tcpdump", "-i", "lo", "-n", "-U", "-w", &pcap_s, "tcp"],
    )?;
    tcpdump.wait_for_output("listening on", Duration::from_secs(10))?;
    let (cap, ()) = capture_during(&ns, &["lo"], quiet(), Duration::from_millis(300), || {
        testbed::in_ns(&ns, || {
            peer::client_echo("127.0.0.1".parse()?, peer::PORT_ECHO)
        })
    })?;
    settle(&pcap, Duration::from_millis(400), Duration::from_secs(10));
    tcpdump.stop(libc::SIGINT, Duration::from_secs(5))?;
    let lo: IpAddr = "127.0.0.1".parse()?;
    let segs: Vec<_> = cap
        .frames
        .iter()
        .filter_map(|f| tcp_of(&f.data, f.wire_len))
        .collect();
    let syns = segs
        .iter()
        .filter(|s| s.0 == lo && s.3 == peer::PORT_ECHO && s.4 & (SYN | ACK) == SYN)
        .count();
    assert_eq!(
        syns, 1,
        "loopback: each packet once (ingress only), got {segs:?}"
    );
    let mut reader = pcap_file::pcap::PcapReader::new(std::fs::File::open(&pcap)?)?;
    let mut n = 0;
    while let Some(p) = reader.next_packet() {
        p?;
        n += 1;
    }
    let _ = std::fs::remove_file(&pcap);
    assert_eq!(
        n,
        cap.frames.len(),
        "tcpdump -i lo saw {n} frames, miruo {}",
        cap.frames.len()
    );
    Ok(())
}

/// Waits until `file` has not grown for `quiet` (at most `max`).
fn settle(file: &std::path::Path, quiet: Duration, max: Duration) {
    let end = Instant::now() + max;
    let size = || std::fs::metadata(file).map_or(0, |m| m.len());
    let (mut last, mut since) = (size(), Instant::now());
    while Instant::now() < end && since.elapsed() < quiet {
        std::thread::sleep(Duration::from_millis(50));
        let now = size();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
}

/// Replaces every time-like token (`HH:MM:SS.mmm`, `S.mmm`) with `#` and returns its value in
/// seconds, so two outputs can be compared exactly apart from times within a tolerance.
fn split_times(line: &str) -> (String, Vec<f64>) {
    let mut times = Vec::new();
    let words: Vec<String> = line
        .split(' ')
        .map(|w| {
            // Exactly one '.', digits after it, digits and ':' before it (so addresses such
            // as 198.18.0.1:9001 stay text).
            let Some((hms, frac)) = w.split_once('.') else {
                return w.to_string();
            };
            let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            if !digits(frac) || !hms.split(':').all(digits) {
                return w.to_string();
            }
            let secs = hms
                .split(':')
                .fold(0.0, |acc, p| acc * 60.0 + p.parse::<f64>().unwrap_or(0.0));
            times.push(secs + format!("0.{frac}").parse::<f64>().unwrap_or(0.0));
            "#".to_string()
        })
        .collect();
    (words.join(" "), times)
}

#[test]
fn split_times_keeps_addresses_and_reads_times() {
    let (t, v) = split_times("0001:0000 14:37:01.971 | 198.18.0.1:60244 == 198.18.0.2:9001 0.100");
    assert_eq!(t, "0001:0000 # | 198.18.0.1:60244 == 198.18.0.2:9001 #");
    assert!((v[0] - (14.0 * 3600.0 + 37.0 * 60.0 + 1.971)).abs() < 1e-9);
    assert!((v[1] - 0.1).abs() < 1e-9);
}

/// Issue 3's check: `miruo -i` on a veth while tcpdump records it; `miruo -f` on that file prints
/// the same sessions, segments, states and flags (times within 1 ms).
#[test]
fn live_output_equals_replay_of_tcpdump_capture() -> Result<()> {
    let _g = LOCK.lock();
    if !ready() {
        return Ok(());
    }
    let bin = env!("CARGO_BIN_EXE_miruo");
    let net = TestNet::new(NetConfig::direct())?;
    let _server = net.start_server()?;
    let (c, s) = (net.client.clone(), net.server.clone());
    let dir = std::env::temp_dir().join(format!("mrt-{}-e2e", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (pcap, live_out, live_err) = (
        dir.join("cap.pcap"),
        dir.join("live.out"),
        dir.join("live.err"),
    );
    let pcap_s = pcap.to_string_lossy().into_owned();
    let mut tcpdump = testbed::spawn_in(
        &c.ns,
        &["tcpdump", "-i", &c.iface, "-n", "-U", "-w", &pcap_s, "tcp"],
    )?;
    tcpdump.wait_for_output("listening on", Duration::from_secs(10))?;
    let mut cmd = testbed::command_in(&c.ns, bin);
    cmd.args(["-i", &c.iface, "-C", "0", "--all"])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&live_out)?)
        .stderr(std::fs::File::create(&live_err)?);
    let mut miruo = testbed::ChildGuard::spawn(&mut cmd)?;
    let end = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&live_err)?.contains("capturing on") {
        if Instant::now() > end || miruo.try_wait()?.is_some() {
            bail!(
                "miruo -i did not start: {}",
                std::fs::read_to_string(&live_err)?
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let host = IpAddr::V4(s.ipv4);
    net.in_client(|| peer::client_echo(host, peer::PORT_ECHO))?;
    net.in_client(|| peer::client_http(host))?;
    net.in_client(|| peer::client_rst_abort(host))?;
    net.in_client(|| peer::client_refused(host))?;
    net.in_client(|| peer::client_server_close(host))?;
    net.in_client(|| peer::client_echo(IpAddr::V6(s.ipv6), peer::PORT_ECHO))?;
    // tcpdump drops what it has not written yet when interrupted, and lags on a busy machine:
    // wait until its file stops growing.
    settle(&pcap, Duration::from_millis(400), Duration::from_secs(10));
    let st = miruo.stop(libc::SIGINT, Duration::from_secs(10))?;
    assert!(st.success(), "miruo -i exit: {st}");
    tcpdump.stop(libc::SIGINT, Duration::from_secs(5))?;
    let replay = std::process::Command::new(bin)
        .args(["-C", "0", "--all", "-f", &pcap_s])
        .output()?;
    assert!(
        replay.status.success(),
        "miruo -f: {}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let live = std::fs::read_to_string(&live_out)?;
    let replay = String::from_utf8_lossy(&replay.stdout).into_owned();
    let err = std::fs::read_to_string(&live_err)?;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        err.contains("===== eBPF Statistics ====="),
        "statistics on stderr: {err}"
    );
    // The banner names the interface and the capture size; everything after it must agree.
    let (l, r): (Vec<&str>, Vec<&str>) = (
        live.lines().skip(1).collect(),
        replay.lines().skip(1).collect(),
    );
    assert!(l.len() > 20, "live output too short:\n{live}");
    for (i, (a, b)) in l.iter().zip(&r).enumerate() {
        let ((ta, va), (tb, vb)) = (split_times(a), split_times(b));
        assert_eq!(ta, tb, "line {}: live and replay differ:\n{a}\n{b}", i + 2);
        for (x, y) in va.iter().zip(&vb) {
            assert!(
                (x - y).abs() <= 0.0011,
                "line {}: times differ by more than 1 ms:\n{a}\n{b}",
                i + 2
            );
        }
    }
    assert_eq!(l.len(), r.len(), "live:\n{live}\nreplay:\n{replay}");
    Ok(())
}

fn miruo_now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

#[test]
fn xdp_ingress_with_tc_egress_sees_both_directions() -> Result<()> {
    let _g = LOCK.lock();
    if !ready() {
        return Ok(());
    }
    let net = TestNet::new(NetConfig::direct())?;
    let _server = net.start_server()?;
    let (c, s) = (net.client.clone(), net.server.clone());
    let opts = LiveOptions {
        xdp: true,
        ..quiet()
    };
    let (cap, attached) =
        capture_during(&c.ns, &[&c.iface], opts, Duration::from_millis(300), || {
            let attached = xdp_attached(&c.ns, &c.iface)?;
            net.in_client(|| peer::client_echo(IpAddr::V4(s.ipv4), peer::PORT_ECHO))?;
            Ok(attached)
        })?;
    assert!(attached, "XDP program attached while capturing");
    assert_echo_session(&cap.frames, IpAddr::V4(c.ipv4), IpAddr::V4(s.ipv4));
    assert!(
        !xdp_attached(&c.ns, &c.iface)?,
        "XDP left attached after drop"
    );
    Ok(())
}

#[test]
fn netlink_clsact_fallback_captures_and_detaches_on_drop() -> Result<()> {
    let _g = LOCK.lock();
    if !ready() {
        return Ok(());
    }
    let net = TestNet::new(NetConfig::direct())?;
    let _server = net.start_server()?;
    let (c, s) = (net.client.clone(), net.server.clone());
    let filters = || -> Result<String> {
        let mut out = String::new();
        for dir in ["ingress", "egress"] {
            out += &testbed::run_in(&c.ns, &["tc", "filter", "show", "dev", &c.iface, dir])?;
        }
        Ok(out)
    };
    let opts = LiveOptions {
        tc_netlink: true,
        ..quiet()
    };
    let (cap, shown) =
        capture_during(&c.ns, &[&c.iface], opts, Duration::from_millis(300), || {
            let shown = filters()?;
            net.in_client(|| peer::client_echo(IpAddr::V4(s.ipv4), peer::PORT_ECHO))?;
            Ok(shown)
        })?;
    assert!(
        shown.contains("miruo_tc_in") && shown.contains("miruo_tc_eg"),
        "filters: {shown}"
    );
    assert_eq!(tcx_programs(&c.ns, &c.iface)?, 0, "no TCX in netlink mode");
    assert_echo_session(&cap.frames, IpAddr::V4(c.ipv4), IpAddr::V4(s.ipv4));
    // Dropping the source removed the filters (the clsact qdisc itself stays, as documented).
    let after = filters()?;
    assert!(!after.contains("miruo"), "filters left after drop: {after}");
    Ok(())
}

#[test]
fn any_follows_interfaces_that_appear_later() -> Result<()> {
    let _g = LOCK.lock();
    if !ready() {
        return Ok(());
    }
    let net = TestNet::new(NetConfig::direct())?;
    let ns = net.client.ns.clone();
    let (cap, ()) = capture_during(&ns, &["any"], quiet(), Duration::from_millis(2500), || {
        testbed::run_in(
            &ns,
            &[
                "ip", "link", "add", "mrt-new0", "type", "veth", "peer", "name", "mrt-new1",
            ],
        )?;
        testbed::run_in(&ns, &["ip", "link", "set", "mrt-new0", "up"])?;
        testbed::run_in(&ns, &["ip", "link", "set", "mrt-new1", "up"])?;
        Ok(())
    })?;
    for want in ["lo", "veth-c", "mrt-new0", "mrt-new1"] {
        assert!(
            cap.interfaces.iter().any(|i| i == want),
            "{want} not in {:?}",
            cap.interfaces
        );
    }
    assert!(cap.idles > 0, "an idle source reports Idle");
    Ok(())
}

#[test]
fn tun_devices_get_the_raw_ip_programs() -> Result<()> {
    let _g = LOCK.lock();
    if !ready() {
        return Ok(());
    }
    let net = TestNet::new(NetConfig::direct())?;
    let ns = net.client.ns.clone();
    testbed::run_in(
        &ns,
        &["ip", "tuntap", "add", "dev", "mrt-tun0", "mode", "tun"],
    )?;
    testbed::run_in(&ns, &["ip", "link", "set", "mrt-tun0", "up"])?;
    let (link, hooks, tcx) = testbed::in_ns(&ns, || {
        let src = LiveSource::open(&["mrt-tun0".to_string()], quiet())?;
        let mut names = Vec::new();
        for dir in [TcAttachType::Ingress, TcAttachType::Egress] {
            for p in SchedClassifier::query_tcx("mrt-tun0", dir)?.1 {
                names.push(p.name_as_str().unwrap_or_default().to_string());
            }
        }
        Ok((src.link_type(), src.hook_count(), names))
    })?;
    assert_eq!(link, LinkType::RAW, "a tun device has no link header");
    assert_eq!(hooks, 2);
    assert_eq!(
        tcx,
        vec!["miruo_tc_in_raw".to_string(), "miruo_tc_eg_raw".to_string()]
    );
    Ok(())
}

#[test]
fn unknown_interface_is_one_clear_error() {
    let _g = LOCK.lock();
    if !ready() {
        return;
    }
    let err = LiveSource::open(&["mrt-nonexistent0".to_string()], quiet())
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(
        err.contains("no such interface: mrt-nonexistent0"),
        "got: {err}"
    );
    assert!(!err.contains('\n'), "one line: {err}");
}

/// Not a test by itself: run by `missing_capabilities_are_named` without CAP_BPF, CAP_NET_ADMIN
/// and CAP_SYS_ADMIN; prints the error `open` gives.
#[test]
#[ignore = "child process of missing_capabilities_are_named"]
fn open_error_child() {
    if std::env::var("MRT_CHILD_OPEN").is_err() {
        return;
    }
    match LiveSource::open(&["lo".to_string()], quiet()) {
        Ok(_) => println!("OPENED"),
        Err(e) => println!("ERROR: {e:#}"),
    }
}

#[test]
fn missing_capabilities_are_named() -> Result<()> {
    let _g = LOCK.lock();
    if !ready() {
        return Ok(());
    }
    let Some(setpriv) = testbed::find_tool("setpriv") else {
        eprintln!("SKIP: no setpriv (util-linux)");
        return Ok(());
    };
    // Root with those capabilities removed from the bounding set, as an unprivileged user
    // would be (the check reads the effective set, not the uid).
    let out = std::process::Command::new(setpriv)
        .arg("--bounding-set=-bpf,-net_admin,-sys_admin")
        .arg(std::env::current_exe()?)
        .args([
            "--exact",
            "open_error_child",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("MRT_CHILD_OPEN", "1")
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.split_once("ERROR: ").map(|(_, e)| e))
        .with_context(|| format!("no error in {text}"))?;
    for want in ["CAP_BPF", "CAP_NET_ADMIN", "sudo", "-f FILE"] {
        assert!(line.contains(want), "{want} missing from: {line}");
    }
    Ok(())
}

/// Not a test by itself: the process `sigkill_leaves_nothing_attached` starts (inside a
/// namespace) and kills. Attaches, says READY, then waits to be killed.
#[test]
#[ignore = "child process of sigkill_leaves_nothing_attached"]
fn sigkill_child() {
    let Ok(iface) = std::env::var("MRT_CHILD_IFACE") else {
        return;
    };
    let xdp = std::env::var("MRT_CHILD_XDP").is_ok_and(|v| v == "1");
    let mut src = LiveSource::open(&[iface], LiveOptions { xdp, ..quiet() }).expect("attach");
    println!("READY");
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        let _ = src.next();
    }
}

#[test]
fn sigkill_leaves_nothing_attached() -> Result<()> {
    let _g = LOCK.lock();
    if !ready() {
        return Ok(());
    }
    let net = TestNet::new(NetConfig::direct())?;
    let c = net.client.clone();
    let exe = std::env::current_exe()?;
    for xdp in [false, true] {
        let out = std::env::temp_dir().join(format!("mrt-{}-child-{xdp}.out", std::process::id()));
        let f = std::fs::File::create(&out)?;
        let mut cmd = testbed::command_in(&c.ns, &exe);
        cmd.args([
            "--exact",
            "sigkill_child",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("MRT_CHILD_IFACE", &c.iface)
        .env("MRT_CHILD_XDP", if xdp { "1" } else { "0" })
        .stdin(std::process::Stdio::null())
        .stdout(f.try_clone()?)
        .stderr(f);
        let mut child = testbed::ChildGuard::spawn(&mut cmd)?;
        let end = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&out)?.contains("READY") {
            if Instant::now() > end || child.try_wait()?.is_some() {
                bail!("child did not attach: {}", std::fs::read_to_string(&out)?);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let expected_tc = if xdp { 1 } else { 2 };
        assert_eq!(
            tcx_programs(&c.ns, &c.iface)?,
            expected_tc,
            "attached while running"
        );
        assert_eq!(xdp_attached(&c.ns, &c.iface)?, xdp);
        child.signal(libc::SIGKILL)?;
        child.wait_timeout(Duration::from_secs(5)).ok();
        // Links are released with the process's last fd reference; allow the kernel a moment.
        let end = Instant::now() + Duration::from_secs(3);
        while (tcx_programs(&c.ns, &c.iface)? > 0 || xdp_attached(&c.ns, &c.iface)?)
            && Instant::now() < end
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            tcx_programs(&c.ns, &c.iface)?,
            0,
            "TCX programs left after SIGKILL"
        );
        assert!(!xdp_attached(&c.ns, &c.iface)?, "XDP left after SIGKILL");
        let _ = std::fs::remove_file(&out);
    }
    Ok(())
}

fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespec; the per-thread CPU clock always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// What the counting consumer of [`count_during`] saw.
struct Counted {
    frames: u64,
    /// CPU seconds of the consumer thread (user + system).
    cpu: f64,
    stats: SourceStats,
}

/// Counts what a LiveSource delivers on `dev` in `ns` while `traffic` runs. The consumer does
/// nothing else, so this is the ring's ceiling and the capture's own CPU cost.
fn count_during<T: Send>(
    ns: &str,
    dev: &str,
    traffic: impl FnOnce() -> Result<T> + Send,
) -> Result<(Counted, T)> {
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let stop = &stop;
        let handle = s.spawn(move || {
            testbed::in_ns(ns, || {
                let mut src = LiveSource::open(&[dev.to_string()], quiet())?;
                let _ = tx.send(());
                let cpu0 = thread_cpu_secs();
                let (mut n, mut sum) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    if let Next::Frame(f) = src.next()? {
                        n += 1;
                        sum += u64::from(f.data[f.data.len() - 1]);
                    }
                }
                std::hint::black_box(sum);
                Ok(Counted {
                    frames: n,
                    cpu: thread_cpu_secs() - cpu0,
                    stats: src.stats(),
                })
            })
        });
        rx.recv().context("capture thread died before attaching")?;
        let r = traffic();
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let counted = handle
            .join()
            .map_err(|_| anyhow::anyhow!("capture thread panicked"))??;
        Ok((counted, r?))
    })
}
fn stat(s: &SourceStats, key: &str) -> String {
    s.lines
        .iter()
        .find(|(l, _)| l.trim() == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[test]
#[ignore = "measurement, prints numbers: cargo test --release -p miruo --test live_attach -- --ignored measure --nocapture"]
fn measure_syn_flood_and_bulk_throughput() -> Result<()> {
    let _g = LOCK.lock();
    if !ready() {
        return Ok(());
    }
    let secs = 3;
    let rounds = 3;
    let net = TestNet::new(NetConfig::direct())?;
    let _server = net.start_server()?;
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        without.push(syn_flood(&net, secs)? as f64);
        let (c, sent) = count_during(&net.client.ns, &net.client.iface, || syn_flood(&net, secs))?;
        with.push(sent as f64);
        println!(
            "  SYN flood round: {sent} sent with capture; {} records, drop {}, consumer CPU {:.2} s ({:.2} s per million)",
            c.frames,
            stat(&c.stats, "drop"),
            c.cpu,
            c.cpu / (c.frames as f64 / 1e6)
        );
    }
    let (a, b) = (median(without), median(with));
    println!(
        "SYN flood {secs}s, median of {rounds}: hping3 sent {a:.0} without capture, {b:.0} with ({:+.1} %)",
        100.0 * (b / a - 1.0)
    );
    drop(net);

    // Bulk throughput with the kernel's offloads on, as on a real host.
    let net = TestNet::new(NetConfig {
        offloads_off: false,
        ..NetConfig::direct()
    })?;
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        without.push(iperf(&net, secs)?);
        let (c, bps) = count_during(&net.client.ns, &net.client.iface, || iperf(&net, secs))?;
        with.push(bps);
        println!(
            "  iperf3 round: {:.2} Gbit/s with capture; {} records, drop {}, consumer CPU {:.2} s",
            bps / 1e9,
            c.frames,
            stat(&c.stats, "drop"),
            c.cpu
        );
    }
    let (a, b) = (median(without), median(with));
    println!(
        "iperf3 {secs}s, median of {rounds}: {:.2} Gbit/s without, {:.2} Gbit/s with capture ({:+.1} %)",
        a / 1e9,
        b / 1e9,
        100.0 * (b / a - 1.0)
    );
    Ok(())
}

#[test]
#[ignore = "measurement, prints numbers: cargo test --release -p miruo --test live_attach -- --ignored measure --nocapture"]
fn measure_consumer_ceiling() -> Result<()> {
    let _g = LOCK.lock();
    if !ready() {
        return Ok(());
    }
    // The kernel program itself produces records as fast as BPF_PROG_TEST_RUN repeats it (one
    // CPU); a LiveSource drains them on the other with a consumer that only counts.
    let mut src = LiveSource::open_unattached(quiet())?;
    let fd = src.program_fd(miruo_common::PROG_TC_INGRESS)?;
    let mut frame = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    frame.extend_from_slice(&[
        0x45, 0, 0, 52, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
    ]);
    frame.extend_from_slice(&[
        0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x80, 0x10, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    frame.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    let secs = 3.0;
    for pace in [None, Some(1_000_000u64), Some(2_000_000)] {
        let stop = AtomicBool::new(false);
        let before = src.kernel_counters();
        let (n, cpu, el) = std::thread::scope(|s| -> Result<(u64, f64, f64)> {
            let producer = s.spawn(|| -> Result<u64> {
                let t = Instant::now();
                let mut made = 0u64;
                while t.elapsed().as_secs_f64() < secs {
                    // Paced: one batch of 1000 per ms-slot at the target rate.
                    if let Some(rate) = pace {
                        let due = (t.elapsed().as_secs_f64() * rate as f64) as u64;
                        if made >= due {
                            std::thread::yield_now();
                            continue;
                        }
                    }
                    miruo::source::live::testing::test_run_fd(
                        std::os::fd::AsFd::as_fd(&fd),
                        &frame,
                        1000,
                    )?;
                    made += 1000;
                }
                stop.store(true, Ordering::Relaxed);
                Ok(made)
            });
            let t = Instant::now();
            let cpu0 = thread_cpu_secs();
            let mut n = 0u64;
            let mut idle_after_stop = 0;
            while idle_after_stop < 3 {
                match src.next()? {
                    Next::Frame(_) => n += 1,
                    _ if stop.load(Ordering::Relaxed) => idle_after_stop += 1,
                    _ => {}
                }
            }
            producer
                .join()
                .map_err(|_| anyhow::anyhow!("producer panicked"))??;
            Ok((n, thread_cpu_secs() - cpu0, t.elapsed().as_secs_f64()))
        })?;
        let after = src.kernel_counters();
        let made = after[miruo_common::counter::TCP as usize]
            - before[miruo_common::counter::TCP as usize];
        let drop = after[miruo_common::counter::RING_FULL as usize]
            - before[miruo_common::counter::RING_FULL as usize];
        println!(
            "producer {}: {made} records in {el:.1}s ({:.2} M/s), consumer got {n} ({:.2} M/s), ring drops {drop} ({:.2} %), consumer CPU {:.2} s per million",
            pace.map_or("flat out".to_string(), |r| format!(
                "paced at {:.1} M/s",
                r as f64 / 1e6
            )),
            made as f64 / el / 1e6,
            n as f64 / el / 1e6,
            100.0 * drop as f64 / made.max(1) as f64,
            cpu / (n.max(1) as f64 / 1e6)
        );
    }
    Ok(())
}

/// The last value of `label` in miruo's statistics on stderr (`recv     : 12`).
fn stat_line(stderr: &str, label: &str) -> Option<u64> {
    stderr
        .lines()
        .rev()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == label))
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// Issue 4's push-down, end to end: two `miruo -i` on the same veth at the same time, one with
/// `host S and port 9001` (pushed into the kernel), one with the same expression in
/// parentheses (which the push-down does not take: user space only). The pushed-down run's
/// ring carries only what the expression keeps — the rest is counted as `filtered` — and both
/// print the same sessions.
#[test]
fn pushed_down_filter_keeps_excluded_traffic_out_of_the_ring() -> Result<()> {
    let _g = LOCK.lock();
    if !ready() {
        return Ok(());
    }
    let bin = env!("CARGO_BIN_EXE_miruo");
    let net = TestNet::new(NetConfig::direct())?;
    let _server = net.start_server()?;
    let (c, s) = (net.client.clone(), net.server.clone());
    let expr = format!("host {} and port {}", s.ipv4, peer::PORT_ECHO);
    let dir = std::env::temp_dir().join(format!("mrt-{}-pushdown", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut runs = Vec::new();
    for (name, e) in [("kernel", expr.clone()), ("user", format!("({expr})"))] {
        let (out, err) = (
            dir.join(format!("{name}.out")),
            dir.join(format!("{name}.err")),
        );
        let mut cmd = testbed::command_in(&c.ns, bin);
        cmd.args(["-i", &c.iface, "-C", "0", "--all", &e])
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(&err)?);
        let child = testbed::ChildGuard::spawn(&mut cmd)?;
        runs.push((child, out, err));
    }
    for (child, _, err) in &mut runs {
        let end = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&*err)?.contains("capturing on") {
            if Instant::now() > end || child.try_wait()?.is_some() {
                bail!(
                    "miruo -i did not start: {}",
                    std::fs::read_to_string(&*err)?
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let host = IpAddr::V4(s.ipv4);
    // Kept: the IPv4 echo session. Excluded: HTTP (port), IPv6 echo (family), an RST abort.
    net.in_client(|| peer::client_echo(host, peer::PORT_ECHO))?;
    net.in_client(|| peer::client_http(host))?;
    net.in_client(|| peer::client_echo(IpAddr::V6(s.ipv6), peer::PORT_ECHO))?;
    net.in_client(|| peer::client_rst_abort(host))?;
    std::thread::sleep(Duration::from_millis(300));
    let mut texts = Vec::new();
    for (mut child, out, err) in runs {
        let st = child.stop(libc::SIGINT, Duration::from_secs(10))?;
        let (out, err) = (
            std::fs::read_to_string(&out)?,
            std::fs::read_to_string(&err)?,
        );
        assert!(st.success(), "miruo exit {st}: {err}");
        texts.push((out, err));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (kernel, user) = (&texts[0], &texts[1]);
    let get = |err: &str, label: &str| {
        stat_line(err, label).with_context(|| format!("no '{label}' in statistics: {err}"))
    };
    let (k_recv, k_filtered) = (get(&kernel.1, "recv")?, get(&kernel.1, "filtered")?);
    let (u_recv, u_filtered) = (get(&user.1, "recv")?, get(&user.1, "filtered")?);
    assert_eq!(u_filtered, 0, "parentheses keep the filter in user space");
    assert_eq!(
        get(&kernel.1, "drop")? + get(&user.1, "drop")?,
        0,
        "no ring drops"
    );
    // Both saw the same TCP frames; the kernel kept out exactly what it counted.
    assert_eq!(get(&kernel.1, "tcp")?, get(&user.1, "tcp")?);
    assert_eq!(
        k_recv + k_filtered,
        u_recv,
        "kernel: {}\nuser: {}",
        kernel.1,
        user.1
    );
    assert!(
        k_filtered > k_recv,
        "most frames (HTTP, IPv6, the abort) never reach the ring: recv {k_recv}, filtered {k_filtered}"
    );
    // Exactly the echo session's segments: 3 handshake, 2 data + 2 ACKs, 4 close at most.
    assert!((7..=12).contains(&k_recv), "recv {k_recv}");
    // The same output after the banner, times within 1 ms (two programs stamp each frame).
    let (l, r): (Vec<&str>, Vec<&str>) = (
        kernel.0.lines().skip(1).collect(),
        user.0.lines().skip(1).collect(),
    );
    assert!(l.len() >= 5, "one session shown:\n{}", kernel.0);
    assert_eq!(l.len(), r.len(), "kernel:\n{}\nuser:\n{}", kernel.0, user.0);
    for (a, b) in l.iter().zip(&r) {
        let ((ta, va), (tb, vb)) = (split_times(a), split_times(b));
        assert_eq!(ta, tb, "push-down and user-space runs differ:\n{a}\n{b}");
        for (x, y) in va.iter().zip(&vb) {
            assert!(
                (x - y).abs() <= 0.0011,
                "times differ by more than 1 ms:\n{a}\n{b}"
            );
        }
    }
    Ok(())
}
