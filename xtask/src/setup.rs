//! `cargo xtask setup`: installs what a fresh Debian 12 machine needs to build and test miruo's
//! live capture (see `../shared/docs/ebpf-toolchain.md` for why each piece is pinned).
//!
//! Idempotent: every step first checks whether its result is already there and says so, so a
//! second run only prints `ok` lines. It never updates the `nightly` toolchain — a newer nightly
//! ships an LLVM that bpf-linker 0.13.0 rejects — it only adds `rust-src` to the one installed.

use crate::util::run_cmd;
use anyhow::{Context, Result, bail};
use std::process::Command;

/// Debian packages: LLVM 22 for building bpf-linker, libpcap for the tests' reference filters,
/// and the network tools the test bed and benchmarks drive.
const APT_PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
    "libpcap-dev",
    "tcpdump",
    "iproute2",
    "nftables",
    "ethtool",
    "bpftool",
    "iperf3",
    "hping3",
    "netcat-openbsd",
    "tshark",
    "tcpreplay",
];

/// bpf-linker release that links against LLVM 22 (the LLVM of the machine's nightly).
const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";

pub fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("cargo xtask setup takes no arguments (got '{a}')");
    }
    apt_packages()?;
    rust_src()?;
    bpf_linker()?;
    println!("setup: done — the eBPF toolchain and test tools are in place");
    Ok(())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command run as root: directly when we are root, else through sudo.
fn root_cmd(program: &str) -> Command {
    if is_root() {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.arg(program);
        c
    }
}

fn dpkg_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).contains("install ok installed")
        })
        .unwrap_or(false)
}

/// Whether apt knows an installable version of `pkg` (`apt-cache policy` shows a candidate).
fn apt_candidate(pkg: &str) -> Result<bool> {
    let out = Command::new("apt-cache")
        .args(["policy", pkg])
        .output()
        .context("cannot run apt-cache (is this a Debian system?)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .is_some_and(|c| c.trim() != "(none)"))
}

fn apt_packages() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        println!("setup: apt packages: ok ({} installed)", APT_PACKAGES.len());
        return Ok(());
    }
    println!("setup: apt packages missing: {}", missing.join(" "));
    // A fresh machine has no package lists yet; an old list may lack the security updates
    // that carry LLVM 22. Refresh once when anything is unknown.
    let mut unknown = Vec::new();
    for p in &missing {
        if !apt_candidate(p)? {
            unknown.push(*p);
        }
    }
    if !unknown.is_empty() {
        println!(
            "setup: apt-get update (no candidate for {})",
            unknown.join(" ")
        );
        run_cmd(root_cmd("apt-get").arg("update"))?;
        let still: Vec<&str> = unknown
            .iter()
            .copied()
            .filter(|p| !apt_candidate(p).unwrap_or(false))
            .collect();
        if !still.is_empty() {
            bail!("apt has no installable version of: {}", still.join(" "));
        }
    }
    println!("setup: apt-get install {}", missing.join(" "));
    let mut cmd = root_cmd("apt-get");
    // tshark asks a debconf question about non-root capture; the default answer is fine.
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing);
    run_cmd(&mut cmd)?;
    println!("setup: apt packages: ok");
    Ok(())
}

fn rust_src() -> Result<()> {
    let out = Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .context("cannot run rustup")?;
    if !out.status.success() {
        bail!(
            "no `nightly` Rust toolchain: the eBPF crate needs the machine's nightly with LLVM 22 \
             (rustup toolchain list); this set-up does not install or update nightly on purpose"
        );
    }
    let version = Command::new("rustc")
        .args(["+nightly", "-vV"])
        .output()
        .context("cannot run rustc +nightly")?;
    let version = String::from_utf8_lossy(&version.stdout);
    let llvm = version
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .unwrap_or("?");
    if !llvm.starts_with("22.") {
        println!(
            "setup: warning: nightly uses LLVM {llvm}; bpf-linker {BPF_LINKER_VERSION} is built \
             for LLVM 22 and may reject its bitcode"
        );
    }
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.starts_with("rust-src"))
    {
        println!("setup: rust-src for nightly: ok");
        return Ok(());
    }
    println!("setup: rustup component add rust-src --toolchain nightly");
    run_cmd(Command::new("rustup").args([
        "component",
        "add",
        "rust-src",
        "--toolchain",
        "nightly",
    ]))?;
    println!("setup: rust-src for nightly: ok");
    Ok(())
}

fn bpf_linker_version() -> Option<String> {
    let out = Command::new("bpf-linker").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn bpf_linker() -> Result<()> {
    if let Some(v) = bpf_linker_version() {
        if v.split_whitespace().any(|w| w == BPF_LINKER_VERSION) {
            println!("setup: bpf-linker: ok ({v})");
            return Ok(());
        }
        println!("setup: bpf-linker is '{v}', want {BPF_LINKER_VERSION}: reinstalling");
    }
    println!("setup: cargo install bpf-linker {BPF_LINKER_VERSION} (about a minute)");
    let path = std::env::var("PATH").unwrap_or_default();
    let mut cmd = Command::new("cargo");
    // Without these variables llvm-sys looks for LLVM in /usr and fails to find -lLLVM.
    cmd.env("PATH", format!("{LLVM_PREFIX}/bin:{path}"))
        .env("LLVM_SYS_221_PREFIX", LLVM_PREFIX)
        .env("LLVM_PREFIX", LLVM_PREFIX)
        // The workspace's target dir would be locked by an outer `cargo xtask`; cargo install
        // uses its own temporary one unless told otherwise.
        .env_remove("CARGO_TARGET_DIR")
        .args([
            "install",
            "bpf-linker",
            "--force",
            "--version",
            BPF_LINKER_VERSION,
            "--no-default-features",
            "--features",
            "llvm-22",
        ]);
    run_cmd(&mut cmd)?;
    match bpf_linker_version() {
        Some(v) => println!("setup: bpf-linker: ok ({v})"),
        None => bail!("bpf-linker was installed but is not on PATH: add ~/.cargo/bin to PATH"),
    }
    Ok(())
}
