//! `cargo xtask bench`, live part (issue 3): what capturing costs the traffic, side by side in
//! one run against the same traffic — no capture, `miruo -i` (default options, output to
//! /dev/null) and `tcpdump -w /dev/null` on the same veth of the test bed:
//!
//! 1. iperf3 bulk throughput (offloads on, as on a real host; target: at most 5 % lower with
//!    miruo);
//! 2. an hping3 SYN flood: packets/s hping3 gets out, what the capture recorded and dropped
//!    (ring-buffer drops for miruo, kernel drops for tcpdump), and the capturing process's CPU
//!    time (user + system) per million packets;
//! 3. the consumer's ceiling: records/s a `LiveSource` drains without drops while the kernel
//!    program is driven by BPF_PROG_TEST_RUN (the ignored test `measure_consumer_ceiling`;
//!    target ≥ 1 M/s).
//!
//! Each figure is the median of [`ROUNDS`] rounds; a round runs the three set-ups back to back,
//! so slow drifts of the shared machine hit them alike. Needs root (namespaces, eBPF), iperf3,
//! hping3 and tcpdump; [`run`] says what is missing and skips otherwise. The namespaces and
//! processes are the test bed's, removed and stopped by their guards, also on failure.

use crate::testbed::{self, ChildGuard, NetConfig, TestNet};
use crate::util::{build_release_miruo, workspace_root};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds of traffic per measurement.
const SECS: u64 = 3;
/// Rounds per figure (median).
const ROUNDS: usize = 3;

/// What captures the traffic during one measurement.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Nothing,
    Miruo,
    Tcpdump,
}

const TOOLS: [Tool; 3] = [Tool::Nothing, Tool::Miruo, Tool::Tcpdump];

/// What a capture process reported when it was stopped.
#[derive(Clone, Copy, Default)]
struct Captured {
    /// Packets (tcpdump) or records (miruo) it received.
    packets: u64,
    /// Lost before it could read them: ring full (miruo), dropped by kernel (tcpdump).
    drops: u64,
    /// CPU seconds (user + system) of the process while the traffic ran (start-up excluded:
    /// loading and verifying the eBPF programs is not capture work).
    cpu: f64,
}

/// A capture process running in the client's namespace.
struct Running {
    child: ChildGuard,
    tool: Tool,
    /// Where miruo's stderr (its statistics) goes.
    stderr: Option<PathBuf>,
    cpu0: f64,
}

fn start(tool: Tool, miruo: &Path, ns: &str, iface: &str) -> Result<Option<Running>> {
    let (child, stderr) = match tool {
        Tool::Nothing => return Ok(None),
        Tool::Tcpdump => {
            let mut c = testbed::spawn_in(ns, &["tcpdump", "-i", iface, "-n", "-w", "/dev/null"])?;
            c.wait_for_output("listening on", Duration::from_secs(10))?;
            (c, None)
        }
        Tool::Miruo => {
            let err = std::env::temp_dir().join(format!("miruo-bench-{}.err", std::process::id()));
            let mut cmd = testbed::command_in(ns, miruo);
            cmd.args(["-i", iface])
                .stdin(Stdio::null())
                .stdout(std::fs::File::create("/dev/null")?)
                .stderr(std::fs::File::create(&err)?);
            let mut c = ChildGuard::spawn(&mut cmd)?;
            let end = Instant::now() + Duration::from_secs(30);
            while !std::fs::read_to_string(&err)?.contains("capturing on") {
                if Instant::now() > end || c.try_wait()?.is_some() {
                    anyhow::bail!("miruo -i did not start: {}", std::fs::read_to_string(&err)?);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (c, Some(err))
        }
    };
    let cpu0 = process_cpu(child.pid()).unwrap_or(0.0);
    Ok(Some(Running {
        child,
        tool,
        stderr,
        cpu0,
    }))
}

impl Running {
    /// SIGINT, then what the process said about itself.
    fn stop(mut self) -> Result<Captured> {
        let cpu = process_cpu(self.child.pid()).unwrap_or(0.0) - self.cpu0;
        let st = self.child.stop(libc::SIGINT, Duration::from_secs(10))?;
        let text = match &self.stderr {
            Some(p) => {
                let t = std::fs::read_to_string(p)?;
                let _ = std::fs::remove_file(p);
                t
            }
            None => self.child.output(),
        };
        anyhow::ensure!(st.success(), "capture exited with {st}: {text}");
        let (packets, drops) = match self.tool {
            Tool::Miruo => (stat(&text, "recv"), stat(&text, "drop")),
            _ => (
                counted(&text, "packets captured"),
                counted(&text, "packets dropped by kernel"),
            ),
        };
        Ok(Captured {
            packets,
            drops,
            cpu,
        })
    }
}

/// User + system CPU seconds of a process so far (`/proc/PID/stat` fields 14 and 15).
fn process_cpu(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: count fields after its closing parenthesis.
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks / hz.max(1) as f64)
}

/// The last value of `label` in miruo's statistics block (`drop     : 0`).
fn stat(text: &str, label: &str) -> u64 {
    text.lines()
        .rev()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == label))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// tcpdump's closing lines: `123 packets captured`.
fn counted(text: &str, what: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_suffix(what))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// hping3 SYN flood for `secs` from the test bed's client to its server: packets it sent.
pub fn syn_flood(net: &TestNet, secs: u64) -> Result<u64> {
    let dst = net.server.ipv4.to_string();
    let mut h = testbed::spawn_in(
        &net.client.ns,
        &["hping3", "-S", "--flood", "-p", "9010", &dst],
    )?;
    std::thread::sleep(Duration::from_secs(secs));
    h.stop(libc::SIGINT, Duration::from_secs(5))?;
    let out = h.output();
    out.lines()
        .find(|l| l.contains("packets transmitted"))
        .and_then(|l| l.split(" packets transmitted").next())
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("no hping3 statistics in: {out}"))
}

/// iperf3 for `secs` from the test bed's client to its server: received bits/s.
pub fn iperf(net: &TestNet, secs: u64) -> Result<f64> {
    let mut server = testbed::spawn_in(&net.server.ns, &["iperf3", "-s", "-1"])?;
    server
        .wait_for_output("listening", Duration::from_secs(5))
        .ok();
    std::thread::sleep(Duration::from_millis(200));
    let out = testbed::run_in(
        &net.client.ns,
        &[
            "iperf3",
            "-c",
            &net.server.ipv4.to_string(),
            "-t",
            &secs.to_string(),
            "-J",
        ],
    )?;
    server.wait_timeout(Duration::from_secs(5)).ok();
    let at = out
        .find("\"sum_received\"")
        .context("no sum_received in iperf3 output")?;
    let rest = &out[at..];
    let b = rest
        .find("\"bits_per_second\":")
        .context("no bits_per_second")?
        + 18;
    let num: String = rest[b..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        .collect();
    Ok(num.parse()?)
}

/// The median (the upper one for an even count); 0 for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Why the live benchmarks cannot run here, if they cannot.
fn unavailable(miruo: &Path) -> Option<String> {
    if !testbed::is_root() {
        return Some("needs root (network namespaces, eBPF): run it with sudo".into());
    }
    let v = Command::new(miruo).arg("-V").output().ok()?;
    if !String::from_utf8_lossy(&v.stdout).contains("eBPF") {
        return Some("miruo was built without its eBPF programs (cargo xtask setup)".into());
    }
    for tool in ["iperf3", "hping3", "tcpdump", "ip"] {
        if testbed::find_tool(tool).is_none() {
            return Some(format!("{tool} not found (cargo xtask setup)"));
        }
    }
    None
}

/// Medians per tool of one measurement: (traffic figure, what the capture reported).
type Row = Vec<(f64, Captured)>;

fn measure(net: &TestNet, miruo: &Path, traffic: impl Fn(&TestNet) -> Result<f64>) -> Result<Row> {
    let mut per_tool: Vec<Vec<(f64, Captured)>> = vec![Vec::new(); TOOLS.len()];
    for _ in 0..ROUNDS {
        for (i, tool) in TOOLS.iter().enumerate() {
            let cap = start(*tool, miruo, &net.client.ns, &net.client.iface)?;
            let figure = traffic(net);
            // Give the consumer a moment to drain what is still in the ring.
            std::thread::sleep(Duration::from_millis(300));
            let captured = match cap {
                Some(c) => c.stop()?,
                None => Captured::default(),
            };
            per_tool[i].push((figure?, captured));
        }
    }
    Ok(per_tool
        .into_iter()
        .map(|runs| {
            let m = |f: &dyn Fn(&(f64, Captured)) -> f64| median(runs.iter().map(f).collect());
            (
                m(&|r| r.0),
                Captured {
                    packets: m(&|r| r.1.packets as f64) as u64,
                    drops: m(&|r| r.1.drops as f64) as u64,
                    cpu: m(&|r| r.1.cpu),
                },
            )
        })
        .collect())
}

fn pct(with: f64, without: f64) -> String {
    if without > 0.0 {
        format!("{:+.1} %", 100.0 * (with / without - 1.0))
    } else {
        "-".into()
    }
}

/// Runs the ignored `measure_consumer_ceiling` test and returns its result lines.
fn consumer_ceiling(root: &Path) -> Result<Vec<String>> {
    let out = Command::new("cargo")
        .current_dir(root)
        .args([
            "test",
            "--release",
            "--quiet",
            "-p",
            "miruo",
            "--test",
            "live_attach",
            "--",
            "--ignored",
            "--exact",
            "measure_consumer_ceiling",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run the consumer-ceiling measurement")?;
    anyhow::ensure!(out.status.success(), "measure_consumer_ceiling failed");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("producer"))
        .map(str::to_string)
        .collect())
}

/// The live benchmarks; a message and `Ok` when they cannot run here.
pub fn run() -> Result<()> {
    let root = workspace_root();
    let miruo = build_release_miruo()?;
    if let Some(why) = unavailable(&miruo) {
        eprintln!("bench: live capture skipped: {why}");
        return Ok(());
    }
    eprintln!(
        "bench: live capture on a test-bed veth ({SECS} s per run, median of {ROUNDS} rounds; \
         no capture / miruo -i / tcpdump -w /dev/null)"
    );
    // Bulk throughput with the kernel's offloads on, as on a real host.
    let bulk = {
        let net = TestNet::new(NetConfig {
            offloads_off: false,
            ..NetConfig::direct()
        })?;
        measure(&net, &miruo, |n| iperf(n, SECS))?
    };
    let flood = {
        let net = TestNet::new(NetConfig::direct())?;
        let _server = net.start_server()?;
        measure(&net, &miruo, |n| {
            Ok(syn_flood(n, SECS)? as f64 / SECS as f64)
        })?
    };
    eprintln!("bench: consumer ceiling (cargo test --release ... measure_consumer_ceiling)");
    let ceiling = consumer_ceiling(&root)?;

    println!(
        "\nlive capture: {} s per run, median of {ROUNDS} rounds",
        SECS
    );
    println!(
        "{:<34} {:>14} {:>22} {:>22}",
        "", "no capture", "miruo -i", "tcpdump -w /dev/null"
    );
    let gbit = |i: usize| format!("{:.2}", bulk[i].0 / 1e9);
    println!(
        "{:<34} {:>14} {:>22} {:>22}",
        "iperf3 Gbit/s",
        gbit(0),
        format!("{} ({})", gbit(1), pct(bulk[1].0, bulk[0].0)),
        format!("{} ({})", gbit(2), pct(bulk[2].0, bulk[0].0)),
    );
    let per_million = |c: &Captured| {
        if c.packets > 0 {
            format!("{:.2}", c.cpu / (c.packets as f64 / 1e6))
        } else {
            "-".into()
        }
    };
    println!(
        "{:<34} {:>14} {:>22} {:>22}",
        "  captured / dropped",
        "-",
        format!("{} / {}", bulk[1].1.packets, bulk[1].1.drops),
        format!("{} / {}", bulk[2].1.packets, bulk[2].1.drops),
    );
    println!(
        "{:<34} {:>14} {:>22} {:>22}",
        "  capture CPU s per million packets",
        "-",
        per_million(&bulk[1].1),
        per_million(&bulk[2].1),
    );
    let kpps = |i: usize| format!("{:.0}", flood[i].0 / 1e3);
    println!(
        "{:<34} {:>14} {:>22} {:>22}",
        "SYN flood (hping3) kpackets/s",
        kpps(0),
        format!("{} ({})", kpps(1), pct(flood[1].0, flood[0].0)),
        format!("{} ({})", kpps(2), pct(flood[2].0, flood[0].0)),
    );
    println!(
        "{:<34} {:>14} {:>22} {:>22}",
        "  captured / dropped",
        "-",
        format!("{} / {}", flood[1].1.packets, flood[1].1.drops),
        format!("{} / {}", flood[2].1.packets, flood[2].1.drops),
    );
    println!(
        "{:<34} {:>14} {:>22} {:>22}",
        "  capture CPU s per million packets",
        "-",
        per_million(&flood[1].1),
        per_million(&flood[2].1),
    );
    println!(
        "\nconsumer ceiling (kernel program driven by BPF_PROG_TEST_RUN on one CPU, a LiveSource counting records on the other):"
    );
    for l in ceiling {
        println!("  {l}");
    }
    Ok(())
}
