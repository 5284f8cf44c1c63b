//! `cargo xtask test [--no-setup] [--fuzz SECONDS]`: everything a fresh machine needs, then
//! every test — unit, property, conformance with the original's outputs, the corpus, the test
//! bed and the live eBPF tests (as root) — clippy with warnings as errors, and every fuzz target
//! for a short bounded time (30 s each by default; `--fuzz 0` skips them). Ends with one
//! summary line over all test binaries (`N passed, N failed, N skipped`), since cargo prints one
//! per binary.

use crate::util::{run_cmd, workspace_root};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Sums of cargo's per-binary `test result:` lines.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Totals {
    /// Adds a line like `test result: ok. 47 passed; 0 failed; 3 ignored; 0 measured; ...`.
    fn add(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (
                words.next().and_then(|n| n.parse::<u64>().ok()),
                words.next(),
            ) else {
                continue;
            };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let root = workspace_root();
    let skip_setup = args.iter().any(|a| a == "--no-setup");
    let fuzz_seconds = match args.iter().position(|a| a == "--fuzz") {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse::<u64>().ok())
            .context("--fuzz needs a number of seconds")?,
        None => 30,
    };
    if !skip_setup {
        crate::setup::run(&[])?;
    }
    // The workspace's default members: miruo-ebpf only builds for the BPF target, through
    // miruo's build script.
    eprintln!("xtask test: cargo fmt --check");
    run_cmd(
        Command::new("cargo")
            .current_dir(&root)
            .args(["fmt", "--all", "--check"]),
    )?;
    eprintln!("xtask test: cargo clippy (warnings are errors)");
    run_cmd(Command::new("cargo").current_dir(&root).args([
        "clippy",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    eprintln!("xtask test: cargo test");
    // Two test threads per binary: the live tests build network namespaces and load eBPF
    // programs, and the machines have two cores.
    let mut child = Command::new("cargo")
        .current_dir(&root)
        .args(["test", "--", "--test-threads=2"])
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo test")?;
    let mut totals = Totals::default();
    let stdout = child.stdout.take().context("cargo test's stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        totals.add(&line);
    }
    let status = child.wait()?;
    // The fuzzers after the tests (a crash fails the run with its reproducer), then the summary
    // as the last line.
    let fuzzed = if status.success() && fuzz_seconds > 0 {
        eprintln!("xtask test: every fuzz target for {fuzz_seconds} s");
        crate::fuzz::run(&[fuzz_seconds.to_string()])
    } else {
        Ok(())
    };
    println!(
        "xtask: {} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.ignored
    );
    if !status.success() {
        bail!("cargo test failed ({status})");
    }
    fuzzed
}

#[cfg(test)]
mod tests {
    use super::Totals;

    #[test]
    fn sums_cargo_result_lines() {
        let mut t = Totals::default();
        t.add("test result: ok. 47 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.13s");
        t.add("test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1s");
        t.add("running 3 tests");
        assert_eq!(
            t,
            Totals {
                passed: 49,
                failed: 1,
                ignored: 3
            }
        );
    }
}
