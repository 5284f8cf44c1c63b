//! `cargo xtask test`: everything a fresh machine needs, then every test — unit, property,
//! conformance with the original's outputs, the corpus, the test bed and the live eBPF tests
//! (as root) — and clippy with warnings as errors.

use crate::util::{run_cmd, workspace_root};
use anyhow::Result;
use std::process::Command;

pub fn run(args: &[String]) -> Result<()> {
    let root = workspace_root();
    let skip_setup = args.iter().any(|a| a == "--no-setup");
    if !skip_setup {
        crate::setup::run(&[])?;
    }
    // The workspace's default members: miruo-ebpf only builds for the BPF target, through
    // miruo's build script.
    eprintln!("xtask test: cargo clippy (warnings are errors)");
    run_cmd(Command::new("cargo").current_dir(&root).args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    eprintln!("xtask test: cargo test");
    // Tests that spawn network namespaces and load eBPF programs share the machine: one at a
    // time per test binary keeps them from fighting over interfaces and CPU.
    run_cmd(Command::new("cargo").current_dir(&root).args(["test", "--", "--test-threads=2"]))?;
    Ok(())
}
