//! `cargo xtask gen-testdata`: records every [`scenario`](crate::testbed::scenario) of the test bed
//! with tcpdump into `testdata/NAME.pcap`, and the large benchmark capture into
//! `target/testdata/bulk_churn.pcap` ([`ensure_bench_capture`]), which is never committed.
//!
//! Each capture gets a fresh [`TestNet`] (so nft counters start at zero and no earlier session
//! leaks into it): tcpdump is started on the scenario's capture interface, the capture waits
//! until tcpdump says it is listening, runs the scenario, waits 1 s for the last packets, then
//! stops tcpdump by PID with SIGINT. The file is written under a temporary name and renamed
//! only when the capture succeeded.

use crate::testbed::scenario::{self, Scenario};
use crate::testbed::{self, ChildGuard, TestNet};
use crate::util::workspace_root;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Fewest packets the benchmark capture must hold.
pub const BENCH_MIN_PACKETS: u64 = 300_000;

const USAGE: &str = "usage: cargo xtask gen-testdata [--only NAME] [--bench] [--list]

  records real TCP traffic between network namespaces (needs root, tcpdump, nft, ethtool)
  --only NAME   only this scenario (a bench scenario goes to target/testdata/)
  --bench       also the large benchmark capture target/testdata/bulk_churn.pcap
  --list        list the scenarios and exit";

/// What one capture produced.
#[derive(Clone, Debug)]
pub struct CaptureReport {
    pub path: PathBuf,
    /// Records in the file.
    pub packets: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// tcpdump's "packets dropped by kernel" (should be 0).
    pub kernel_drops: u64,
}

/// Entry point of `cargo xtask gen-testdata`.
pub fn run(args: &[String]) -> Result<()> {
    let mut only: Option<String> = None;
    let mut bench = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--only" => only = Some(it.next().context("--only needs a scenario name")?.clone()),
            "--bench" => bench = true,
            "--list" => {
                for s in scenario::all() {
                    println!(
                        "{:<20} {}{}",
                        s.name,
                        s.summary,
                        if s.bench { " [bench]" } else { "" }
                    );
                }
                return Ok(());
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("gen-testdata: unknown argument '{other}'\n{USAGE}"),
        }
    }
    let chosen: Vec<&Scenario> = match &only {
        Some(name) => vec![scenario::find(name).with_context(|| {
            let names: Vec<_> = scenario::all().iter().map(|s| s.name).collect();
            format!(
                "gen-testdata: no scenario '{name}' (known: {})",
                names.join(", ")
            )
        })?],
        None => scenario::all()
            .iter()
            .filter(|s| bench || !s.bench)
            .collect(),
    };
    testbed::require_root("cargo xtask gen-testdata")?;
    testbed::require_tools(&["ip", "tcpdump", "nft", "ethtool"])?;
    let mut failed = 0;
    for s in chosen {
        let out = output_path(s);
        println!("{:<20} capturing -> {}", s.name, out.display());
        match capture(s, &out) {
            Ok(r) => println!(
                "{:<20} {} packets, {} bytes{}",
                s.name,
                r.packets,
                r.bytes,
                if r.kernel_drops > 0 {
                    format!(", {} DROPPED by kernel", r.kernel_drops)
                } else {
                    String::new()
                }
            ),
            Err(e) => {
                failed += 1;
                eprintln!("{:<20} FAILED: {e:#}", s.name);
            }
        }
    }
    if failed > 0 {
        bail!("gen-testdata: {failed} capture(s) failed");
    }
    Ok(())
}

/// `testdata/NAME.pcap`, or `target/testdata/NAME.pcap` for bench scenarios.
pub fn output_path(s: &Scenario) -> PathBuf {
    let dir = if s.bench {
        target_dir().join("testdata")
    } else {
        workspace_root().join("testdata")
    };
    dir.join(format!("{}.pcap", s.name))
}

/// `$CARGO_TARGET_DIR`, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// Path of the benchmark capture (`target/testdata/bulk_churn.pcap`).
pub fn bench_capture_path() -> PathBuf {
    let s = scenario::find("bulk_churn").expect("bulk_churn is a scenario");
    output_path(s)
}

/// Returns the benchmark capture (≥ 300,000 packets of real bulk and churn traffic, snap
/// length 128), recording it first when it is missing or too small. Recording needs root and
/// takes about a minute.
pub fn ensure_bench_capture() -> Result<PathBuf> {
    let path = bench_capture_path();
    if let Ok(n) = count_packets(&path)
        && n >= BENCH_MIN_PACKETS
    {
        return Ok(path);
    }
    if !testbed::is_root() {
        bail!(
            "{} is missing and recording it needs root: run `sudo cargo xtask gen-testdata --only bulk_churn`",
            path.display()
        );
    }
    let s = scenario::find("bulk_churn").expect("bulk_churn is a scenario");
    let r = capture(s, &path)?;
    if r.packets < BENCH_MIN_PACKETS {
        bail!(
            "{}: only {} packets recorded (need {BENCH_MIN_PACKETS})",
            path.display(),
            r.packets
        );
    }
    Ok(path)
}

/// Records one scenario into `out` on a fresh test network.
pub fn capture(s: &Scenario, out: &Path) -> Result<CaptureReport> {
    testbed::require_root("capturing test traffic")?;
    testbed::require_tools(&["ip", "tcpdump", "nft", "ethtool"])?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = out.with_extension("pcap.part");
    let _ = std::fs::remove_file(&tmp);

    let net = TestNet::new(s.net_config())?;
    let server = net.start_server()?;
    let (ns, iface) = s.capture_point(&net);
    let tmp_str = tmp.to_str().context("non-UTF-8 output path")?;
    // -Z root: Debian's tcpdump would otherwise switch to user `tcpdump` before opening the
    // file, which then cannot write into a root-owned work tree.
    let mut argv = vec!["tcpdump", "-n", "-Z", "root", "-i", &iface, "-w", tmp_str];
    let snap;
    if let Some(n) = s.snaplen {
        snap = n.to_string();
        argv.extend(["-s", &snap]);
    }
    if s.bench {
        // A 64 MiB kernel buffer and buffered writes keep up with ~100k packets/s.
        argv.extend(["-B", "65536"]);
    } else {
        // Packet-buffered: nothing is lost in tcpdump's buffer when it is stopped.
        argv.push("-U");
    }
    let mut tcpdump = testbed::spawn_in(&ns, &argv)?;
    tcpdump.wait_for_output("listening on", Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_millis(300));

    let result = s.run(&net);
    std::thread::sleep(Duration::from_secs(1));
    let stopped = stop_tcpdump(&mut tcpdump);
    drop(server);
    drop(net);
    result.with_context(|| format!("scenario {}", s.name))?;
    let kernel_drops = stopped?;

    let packets = count_packets(&tmp)?;
    std::fs::rename(&tmp, out)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), out.display()))?;
    let bytes = std::fs::metadata(out)?.len();
    Ok(CaptureReport {
        path: out.to_path_buf(),
        packets,
        bytes,
        kernel_drops,
    })
}

/// SIGINT by PID, wait for the exit, return "packets dropped by kernel".
fn stop_tcpdump(t: &mut ChildGuard) -> Result<u64> {
    let status = t.stop(libc::SIGINT, Duration::from_secs(20))?;
    let out = t.output();
    if !status.success() {
        bail!("tcpdump exited with {status}: {}", out.trim());
    }
    let drops = out
        .lines()
        .find(|l| l.contains("dropped by kernel"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Ok(drops)
}

/// Number of records in a classic pcap file (any byte order, µs or ns).
pub fn count_packets(path: &Path) -> Result<u64> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if data.len() < 24 {
        bail!("{}: too short for a pcap file", path.display());
    }
    let magic = [data[0], data[1], data[2], data[3]];
    let big_endian = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => false,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => true,
        _ => bail!("{}: not a classic pcap file", path.display()),
    };
    let mut off = 24usize;
    let mut n = 0u64;
    while off + 16 <= data.len() {
        let b = [data[off + 8], data[off + 9], data[off + 10], data[off + 11]];
        let caplen = if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        } as usize;
        off += 16 + caplen;
        if off > data.len() {
            bail!("{}: truncated record {}", path.display(), n + 1);
        }
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::count_packets;

    fn pcap(big_endian: bool, records: &[&[u8]]) -> Vec<u8> {
        let w32 = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut f = w32(0xa1b2_c3d4).to_vec();
        f.extend_from_slice(&if big_endian {
            [0, 2, 0, 4]
        } else {
            [2, 0, 4, 0]
        });
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&w32(65535));
        f.extend_from_slice(&w32(1));
        for r in records {
            f.extend_from_slice(&w32(1));
            f.extend_from_slice(&w32(2));
            f.extend_from_slice(&w32(r.len() as u32));
            f.extend_from_slice(&w32(r.len() as u32));
            f.extend_from_slice(r);
        }
        f
    }

    #[test]
    fn counts_records_in_both_byte_orders_and_rejects_damage() {
        let dir = std::env::temp_dir().join(format!("miruo-xtask-count-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.pcap");
        for be in [false, true] {
            std::fs::write(&p, pcap(be, &[b"abc", b"", b"0123456789"])).unwrap();
            assert_eq!(count_packets(&p).unwrap(), 3);
        }
        let mut cut = pcap(false, &[b"abc", b"0123456789"]);
        cut.truncate(cut.len() - 1);
        std::fs::write(&p, cut).unwrap();
        assert!(
            count_packets(&p)
                .unwrap_err()
                .to_string()
                .contains("truncated record 2")
        );
        std::fs::write(&p, b"not a pcap file at all, no no no").unwrap();
        assert!(count_packets(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
