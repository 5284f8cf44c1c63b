//! `cargo xtask bench`: replay speed and memory, side by side in one run.
//!
//! 1. criterion (`cargo bench -p miruo --bench replay`): packets/s of the whole pipeline on the
//!    corpus's composite capture and on the project's own bulk/churn capture (recorded first if
//!    missing, which needs root).
//! 2. The release binary on the same captures with default limits and with `-L0 -l0`
//!    (unlimited): wall time, CPU time and peak RSS of the process, to show that memory is set
//!    by `-L`/`-l`, not by the file's size.

use crate::util::{build_release_miruo, run_cmd, workspace_root};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Peak RSS (KB) and CPU seconds of the children waited for so far.
fn children_usage() -> (i64, f64) {
    // SAFETY: getrusage only writes into the struct passed.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (u.ru_maxrss, secs(u.ru_utime) + secs(u.ru_stime))
}

/// Runs `miruo -f capture ARGS` once in a child; returns (wall s, cpu s, peak RSS KB, packets).
fn measure(binary: &Path, capture: &Path, args: &[&str]) -> Result<(f64, f64, i64, u64)> {
    // A fresh helper process per measurement, so RUSAGE_CHILDREN's peak is this run's alone.
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args(["bench", "--measure-one"])
        .arg(binary)
        .arg(capture)
        .args(args)
        .output()
        .context("cannot run the measuring helper")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    anyhow::ensure!(
        v.len() == 4,
        "measuring helper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((v[0], v[1], v[2] as i64, v[3] as u64))
}

/// The child side of [`measure`].
fn measure_one(args: &[String]) -> Result<()> {
    let (binary, capture, rest) = (&args[0], &args[1], &args[2..]);
    let start = Instant::now();
    let out = Command::new(binary)
        .arg("-f")
        .arg(capture)
        .args(rest)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let wall = start.elapsed().as_secs_f64();
    let (rss, cpu) = children_usage();
    let err = String::from_utf8_lossy(&out.stderr);
    let recv = err
        .lines()
        .find_map(|l| {
            l.strip_prefix("recv")
                .map(|v| v.trim_start_matches([' ', ':']).trim().to_string())
        })
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    println!("{wall} {cpu} {rss} {recv}");
    Ok(())
}

pub fn run(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("--measure-one") {
        return measure_one(&args[1..]);
    }
    let root = workspace_root();
    let mut captures: Vec<(&str, PathBuf)> = Vec::new();
    let composite = root.join("../shared/corpus/bench__composite-ether-tcp-307k.pcap");
    if composite.exists() {
        captures.push(("composite-307k", composite));
    }
    match crate::testdata::ensure_bench_capture() {
        Ok(p) => captures.push(("bulk-churn", p)),
        Err(e) => eprintln!("bench: without the bulk/churn capture: {e:#}"),
    }

    eprintln!("bench: criterion, in-process replay (packets/s)");
    run_cmd(
        Command::new("cargo")
            .current_dir(&root)
            .args(["bench", "-p", "miruo", "--bench", "replay"]),
    )?;

    let binary = build_release_miruo()?;
    println!("\nwhole process (best of 5 runs; peak RSS of the process):");
    println!(
        "{:<16} {:<10} {:>9} {:>10} {:>11} {:>10} {:>12}",
        "capture", "options", "packets", "wall ms", "cpu ms", "Mpkt/s cpu", "peak RSS KB"
    );
    for (name, path) in &captures {
        for (label, opts) in [("default", &[][..]), ("-L0 -l0", &["-L0", "-l0"][..])] {
            let mut best: Option<(f64, f64, i64, u64)> = None;
            for _ in 0..5 {
                let m = measure(&binary, path, opts)?;
                if best.is_none_or(|b| m.1 < b.1) {
                    best = Some(m);
                }
            }
            let (wall, cpu, rss, packets) = best.expect("five runs");
            println!(
                "{name:<16} {label:<10} {packets:>9} {:>10.1} {:>11.1} {:>10.2} {rss:>12}",
                wall * 1e3,
                cpu * 1e3,
                packets as f64 / cpu.max(1e-9) / 1e6
            );
        }
    }
    // Live capture (issue 3): skips itself with a message when not root or built without eBPF.
    crate::bench_live::run()
}
