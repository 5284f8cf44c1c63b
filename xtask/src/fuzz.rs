//! `cargo xtask fuzz [SECONDS] [--target NAME] [--keep-seeds]`: runs every cargo-fuzz target
//! of `fuzz/` (a workspace of its own) for SECONDS each (default 30), one after the other, one
//! libFuzzer process each, and prints executions and coverage per target. A crash, a leak or
//! a time-out fails the command with the reproducer's path and the command that replays it.
//!
//! Set-up, all done here so that a fresh machine needs nothing else: cargo-fuzz is installed
//! from crates.io when missing; the `nightly` toolchain (libFuzzer needs `-Zsanitizer`) is the
//! one the eBPF build already requires — it is used as it is, never updated.
//!
//! Corpora: `fuzz/corpus/TARGET/` is libFuzzer's working corpus (not in git). Before a run it
//! is seeded from the curated `fuzz/seeds/TARGET/` (in git: small inputs the fuzzers found
//! interesting, and every crash found, as regression inputs) and from captures: the project's
//! `testdata/` and the public corpus in `../shared/corpus/` — whole files (their first 16 KB)
//! for the file reader, the frames in them for the decoder and the filter. `--keep-seeds`
//! merges each working corpus into its smallest covering set (libFuzzer `-merge=1`) and copies
//! its smallest inputs (at most 1 KB each, 48 KB per target) that the captures did not give
//! into `fuzz/seeds/TARGET/`, to be committed. `cargo xtask fuzz 0 --keep-seeds` does only
//! that, on the corpora of earlier runs.

use crate::util::{run_cmd, workspace_root};
use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Every target of fuzz/Cargo.toml, in the order they run.
pub const TARGETS: [&str; 6] = [
    "decode",
    "capture_file",
    "tcp_options",
    "http",
    "filter",
    "tracker",
];

/// Link types in the order of the `decode` target's table (its first input byte picks one).
const DECODE_LINKS: [u32; 11] = [1, 113, 276, 0, 108, 101, 12, 14, 228, 229, 147];
/// Link types in the order of the `filter` target's table.
const FILTER_LINKS: [u32; 10] = [1, 113, 276, 0, 108, 101, 228, 229, 14, 147];

/// Largest input libFuzzer generates, per target: capture files need room for a few records;
/// frames fit in a jumbo-less MTU; option lists are 40 bytes but longer ones test the loop.
fn max_len(target: &str) -> usize {
    match target {
        "capture_file" => 16384,
        "tracker" => 8192,
        "tcp_options" => 128,
        _ => 2048,
    }
}

/// Seeds larger than this are not kept by `--keep-seeds` (the committed set stays small).
const KEEP_SEED_MAX: u64 = 1024;
/// Bytes of seeds `--keep-seeds` adds per target at most, smallest inputs first.
const KEEP_SEEDS_PER_TARGET: u64 = 48 * 1024;

/// Filter expressions for the `filter` target's seeds: the forms of pcap-filter(7) miruo's
/// users write, each followed by a frame.
const FILTER_EXPRESSIONS: [&str; 16] = [
    "tcp",
    "port 80",
    "host 198.18.0.1 and port 9001",
    "net 198.18.0.0/15",
    "tcp[13] & 2 != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
    "vlan and port 80",
    "vlan 100 and vlan 200",
    "ip6 and tcp",
    "not port 22 or (src host fd00::1 and dst portrange 1000-2000)",
    "greater 100",
    "len < 60",
    "ether host 02:00:00:00:00:01",
    "ip[6:2] & 0x1fff = 0",
    "ip proto 6 and ip[2:2] > 40",
    "mpls and tcp",
];

/// Results of one target's run, from libFuzzer's output.
#[derive(Debug, Default)]
struct Figures {
    execs: u64,
    cov: u64,
    ft: u64,
    corpus: u64,
    seconds: f64,
}

pub fn run(args: &[String]) -> Result<()> {
    let mut seconds: u64 = 30;
    let mut only: Option<String> = None;
    let mut keep_seeds = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--target" => only = Some(it.next().context("--target needs a name")?.clone()),
            "--keep-seeds" => keep_seeds = true,
            n => {
                seconds = n
                    .parse()
                    .with_context(|| format!("fuzz: '{n}' is not a number of seconds"))?
            }
        }
    }
    let targets: Vec<&str> = match &only {
        Some(t) if TARGETS.contains(&t.as_str()) => {
            vec![TARGETS.iter().find(|x| **x == t).expect("checked")]
        }
        Some(t) => bail!("fuzz: no target '{t}' (targets: {})", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    let root = workspace_root();
    let fuzz = root.join("fuzz");
    ensure_cargo_fuzz()?;

    eprintln!("xtask fuzz: building the targets (nightly, AddressSanitizer, overflow checks)");
    run_cmd(fuzz_cmd(&fuzz).arg("build"))?;

    let mut failures = Vec::new();
    let mut table = Vec::new();
    for target in &targets {
        let corpus = fuzz.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        let seeded = seed(&root, target, &corpus)?;
        eprintln!("xtask fuzz: {target}: {seconds} s ({seeded} seed inputs added)");
        // 0 s: no fuzzing (libFuzzer would take it as "no limit"), e.g. to keep the seeds of
        // earlier runs with --keep-seeds.
        if seconds > 0 {
            match run_target(&fuzz, target, &corpus, seconds) {
                Ok(f) => table.push((target.to_string(), f)),
                Err(e) => {
                    eprintln!("xtask fuzz: {target}: {e:#}");
                    failures.push(format!("{target}: {e:#}"));
                }
            }
        }
        if keep_seeds {
            let kept = keep(&fuzz, target, &corpus)?;
            eprintln!("xtask fuzz: {target}: {kept} inputs in fuzz/seeds/{target}/");
        }
    }

    println!(
        "\n{:<14} {:>8} {:>12} {:>10} {:>7} {:>7} {:>7}",
        "target", "seconds", "executions", "execs/s", "cov", "ft", "corpus"
    );
    for (t, f) in &table {
        println!(
            "{t:<14} {:>8.0} {:>12} {:>10.0} {:>7} {:>7} {:>7}",
            f.seconds,
            f.execs,
            f.execs as f64 / f.seconds.max(1e-9),
            f.cov,
            f.ft,
            f.corpus
        );
    }
    if !failures.is_empty() {
        bail!(
            "fuzzing found {} problem(s):\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// `cargo +nightly fuzz ...` in `fuzz/`. The fuzz targets never capture live, so the eBPF
/// programs are not built for them: `MIRUO_NO_EBPF=1` skips that in miruo's build script,
/// which honours it only without `CI=true` — hence CI is removed from this command's
/// environment (the sanitizer flags cargo-fuzz sets would reach the eBPF build otherwise).
fn fuzz_cmd(fuzz: &Path) -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(fuzz)
        .args(["+nightly", "fuzz"])
        .env("MIRUO_NO_EBPF", "1")
        .env_remove("CI")
        .env("RUSTUP_AUTO_INSTALL", "0");
    c
}

fn ensure_cargo_fuzz() -> Result<()> {
    let ok = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if ok.is_ok_and(|s| s.success()) {
        return Ok(());
    }
    eprintln!("xtask fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)");
    run_cmd(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))
}

/// Runs one target for `seconds`; its output goes to `fuzz/logs/TARGET.log`.
fn run_target(fuzz: &Path, target: &str, corpus: &Path, seconds: u64) -> Result<Figures> {
    let logs = fuzz.join("logs");
    std::fs::create_dir_all(&logs)?;
    let log_path = logs.join(format!("{target}.log"));
    let log = std::fs::File::create(&log_path)?;
    let artifacts = fuzz.join("artifacts").join(target);
    std::fs::create_dir_all(&artifacts)?;
    let mut cmd = fuzz_cmd(fuzz);
    cmd.args(["run", target, "--jobs", "1"])
        .arg(corpus)
        .arg("--");
    cmd.arg(format!("-max_total_time={seconds}"))
        .arg(format!("-max_len={}", max_len(target)))
        // An input that takes this long is a bug (a loop that does not advance), not a slow
        // machine: the slowest targets take milliseconds per input.
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    let dict = fuzz.join("dict").join(format!("{target}.dict"));
    if dict.is_file() {
        cmd.arg(format!("-dict={}", dict.display()));
    }
    let started = Instant::now();
    let status = cmd
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .context("cannot start cargo fuzz")?;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut f = parse_figures(&text);
    f.seconds = started.elapsed().as_secs_f64().min(seconds as f64 + 1.0);
    if !status.success() {
        let reproducer = text
            .lines()
            .find_map(|l| {
                l.split_once("Test unit written to ")
                    .map(|(_, p)| p.trim().to_string())
            })
            .unwrap_or_else(|| "(none written)".into());
        let summary = text
            .lines()
            .find(|l| l.contains("ERROR:") || l.contains("panicked at"))
            .unwrap_or("")
            .trim();
        bail!(
            "{status}: {summary}\n    reproducer: {reproducer}\n    replay: cd fuzz && cargo +nightly fuzz run {target} {reproducer}\n    log: {}",
            log_path.display()
        );
    }
    Ok(f)
}

/// The last `cov:`/`ft:`/`corp:` status line and the final statistics of libFuzzer's output.
fn parse_figures(text: &str) -> Figures {
    let mut f = Figures::default();
    let field = |line: &str, key: &str| -> Option<u64> {
        let rest = line.split(key).nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit())
            .find(|w| !w.is_empty())?
            .parse()
            .ok()
    };
    for line in text.lines() {
        if line.starts_with('#') && line.contains("cov: ") {
            f.cov = field(line, "cov: ").unwrap_or(f.cov);
            f.ft = field(line, "ft: ").unwrap_or(f.ft);
            f.corpus = field(line, "corp: ").unwrap_or(f.corpus);
        }
        if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
            f.execs = v.trim().parse().unwrap_or(0);
        }
    }
    f
}

/// Adds the committed seeds and the capture-derived ones to `corpus`; returns how many files
/// were new. File names are content hashes, so re-seeding adds nothing twice.
fn seed(root: &Path, target: &str, corpus: &Path) -> Result<usize> {
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    let curated = root.join("fuzz/seeds").join(target);
    if let Ok(dir) = std::fs::read_dir(&curated) {
        for e in dir.flatten() {
            inputs.push(std::fs::read(e.path())?);
        }
    }
    let captures = captures(root);
    match target {
        "capture_file" => {
            for c in &captures {
                let bytes = std::fs::read(c)?;
                inputs.push(bytes[..bytes.len().min(max_len(target))].to_vec());
            }
        }
        "decode" => {
            for (link, frame) in frames_of(&captures, 40) {
                if let Some(i) = DECODE_LINKS.iter().position(|l| *l == link) {
                    let mut v = vec![i as u8];
                    v.extend_from_slice(&frame[..frame.len().min(max_len(target) - 1)]);
                    inputs.push(v);
                }
            }
        }
        "filter" => {
            let frames: Vec<(u32, Vec<u8>)> = frames_of(&captures, 2)
                .into_iter()
                .filter(|(l, f)| f.len() <= 255 && FILTER_LINKS.contains(l))
                .collect();
            for (n, expr) in FILTER_EXPRESSIONS.iter().enumerate() {
                let mut v = expr.as_bytes().to_vec();
                v.push(0);
                // Three frames of different captures after each expression.
                for (link, frame) in frames.iter().skip(n * 3).take(3) {
                    let i = FILTER_LINKS
                        .iter()
                        .position(|l| l == link)
                        .expect("filtered above");
                    v.push(i as u8);
                    v.push(frame.len() as u8);
                    v.extend_from_slice(frame);
                }
                inputs.push(v);
            }
        }
        _ => {}
    }
    let mut added = 0;
    for input in inputs {
        let path = corpus.join(format!("seed-{:016x}", hash(&input)));
        if !path.exists() {
            std::fs::write(&path, &input)?;
            added += 1;
        }
    }
    Ok(added)
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// testdata/*.pcap and ../shared/corpus/*.pcap{,ng}, smallest first.
fn captures(root: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in [root.join("testdata"), root.join("../shared/corpus")] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let p = e.path();
                if matches!(
                    p.extension().and_then(|x| x.to_str()),
                    Some("pcap" | "pcapng")
                ) {
                    v.push(p);
                }
            }
        }
    }
    v.sort_by_key(|p| {
        (
            std::fs::metadata(p).map_or(u64::MAX, |m| m.len()),
            p.clone(),
        )
    });
    v
}

/// Up to `per_file` distinct frames of each capture, with their link types.
fn frames_of(captures: &[PathBuf], per_file: usize) -> Vec<(u32, Vec<u8>)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for c in captures {
        let Ok(bytes) = std::fs::read(c) else {
            continue;
        };
        for (link, frame) in capture_frames(&bytes)
            .into_iter()
            .filter(|(_, f)| seen.insert(hash(f)))
            .take(per_file)
        {
            out.push((link, frame.to_vec()));
        }
    }
    out
}

/// The frames of a pcap or pcapng file: a small reader of its own, independent of miruo's
/// (xtask cannot depend on miruo, which uses xtask's test bed). It stops at the first thing it
/// does not understand: the seeds need not be complete.
pub fn capture_frames(b: &[u8]) -> Vec<(u32, &[u8])> {
    let mut out = Vec::new();
    let u32_at = |at: usize, le: bool| -> Option<u32> {
        let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        })
    };
    let Some(magic) = u32_at(0, true) else {
        return out;
    };
    if matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d | 0xd4c3_b2a1 | 0x4d3c_b2a1) {
        let le = matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d);
        let Some(link) = u32_at(20, le) else {
            return out;
        };
        let mut at = 24;
        while let (Some(caplen), true) = (u32_at(at + 8, le), at + 16 <= b.len()) {
            let Some(frame) = b.get(at + 16..at + 16 + caplen as usize) else {
                break;
            };
            out.push((link & 0xffff, frame));
            at += 16 + caplen as usize;
        }
    } else if magic == 0x0a0d_0d0a {
        let mut le = true;
        let mut links: Vec<u32> = Vec::new();
        let mut at = 0;
        while at + 12 <= b.len() {
            if u32_at(at, true) == Some(0x0a0d_0d0a) {
                le = u32_at(at + 8, true) == Some(0x1a2b_3c4d);
                links.clear();
            }
            let (Some(kind), Some(len)) = (u32_at(at, le), u32_at(at + 4, le)) else {
                break;
            };
            let len = len as usize;
            if len < 12 || at + len > b.len() {
                break;
            }
            match kind {
                1 => links.push(u32::from(u16::from_le_bytes(if le {
                    [b[at + 8], b[at + 9]]
                } else {
                    [b[at + 9], b[at + 8]]
                }))),
                6 => {
                    let (Some(iface), Some(caplen)) = (u32_at(at + 8, le), u32_at(at + 20, le))
                    else {
                        break;
                    };
                    if let (Some(link), Some(frame)) = (
                        links.get(iface as usize),
                        b.get(at + 28..(at + 28 + caplen as usize).min(at + len)),
                    ) {
                        out.push((*link, frame));
                    }
                }
                _ => {}
            }
            at += len;
        }
    }
    out
}

/// Merges the working corpus into its minimal covering set and copies its small inputs into
/// `fuzz/seeds/TARGET/`; returns how many files the seeds directory then holds.
fn keep(fuzz: &Path, target: &str, corpus: &Path) -> Result<usize> {
    let merged = fuzz.join("corpus").join(format!("{target}.merged"));
    let _ = std::fs::remove_dir_all(&merged);
    std::fs::create_dir_all(&merged)?;
    let mut cmd = fuzz_cmd(fuzz);
    cmd.args(["run", target])
        .arg(&merged)
        .arg(corpus)
        .arg("--")
        .arg("-merge=1")
        .arg(format!("-max_len={}", max_len(target)));
    let out = cmd
        .output()
        .context("cannot start cargo fuzz for the merge")?;
    if !out.status.success() {
        bail!(
            "merging the {target} corpus failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let seeds = fuzz.join("seeds").join(target);
    std::fs::create_dir_all(&seeds)?;
    // Smallest first, up to the per-target budget; inputs taken from the captures are left
    // out (they are derived again from testdata/ and ../shared/corpus at every run).
    let mut found: Vec<(u64, PathBuf, std::ffi::OsString)> = Vec::new();
    for e in std::fs::read_dir(&merged)?.flatten() {
        let bytes = std::fs::read(e.path())?;
        let derived = corpus.join(format!("seed-{:016x}", hash(&bytes))).exists();
        if !derived && bytes.len() as u64 <= KEEP_SEED_MAX {
            found.push((bytes.len() as u64, e.path(), e.file_name()));
        }
    }
    found.sort();
    let mut budget = KEEP_SEEDS_PER_TARGET;
    for (len, path, name) in found {
        if len > budget {
            break;
        }
        budget -= len;
        std::fs::copy(path, seeds.join(name))?;
    }
    std::fs::remove_dir_all(&merged)?;
    Ok(std::fs::read_dir(&seeds)?.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_frames_of_the_projects_captures() {
        let root = workspace_root();
        let http = std::fs::read(root.join("testdata/http.pcap")).expect("testdata/http.pcap");
        let frames = capture_frames(&http);
        assert!(frames.iter().all(|(link, _)| *link == 1), "Ethernet");
        // The capture starts with an ARP exchange (42 bytes), then the TCP sessions.
        assert_eq!(frames[0].1.len(), 42);
        assert!(
            frames.iter().filter(|(_, f)| f.len() >= 54).count() > 10,
            "{} frames",
            frames.len()
        );
    }

    #[test]
    fn reads_pcapng_blocks() {
        // SHB (little-endian), IDB (Ethernet), one EPB of 4 bytes.
        let mut f = Vec::new();
        f.extend_from_slice(&[
            0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
        ]);
        f.extend_from_slice(&[0xff; 8]);
        f.extend_from_slice(&[28, 0, 0, 0]);
        f.extend_from_slice(&[1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 4, 0, 20, 0, 0, 0]);
        f.extend_from_slice(&[
            6, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0,
        ]);
        f.extend_from_slice(&[9, 8, 7, 6, 36, 0, 0, 0]);
        assert_eq!(capture_frames(&f), vec![(1, &[9u8, 8, 7, 6][..])]);
    }

    #[test]
    fn parses_libfuzzer_figures() {
        let log = "#2\tINITED cov: 10 ft: 12 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                   #1024\tpulse  cov: 120 ft: 340 corp: 37/2kb lim: 14 exec/s: 512 rss: 40Mb\n\
                   stat::number_of_executed_units: 4096\nstat::average_exec_per_sec:     2048\n";
        let f = parse_figures(log);
        assert_eq!((f.execs, f.cov, f.ft, f.corpus), (4096, 120, 340, 37));
    }
}
