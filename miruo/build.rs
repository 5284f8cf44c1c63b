//! Builds the kernel programs (`miruo-ebpf`) with aya-build and tells the crate whether it has
//! them (`cfg(miruo_ebpf)`; the object is then at `$OUT_DIR/miruo`).
//!
//! The eBPF toolchain (the `nightly` toolchain with `rust-src`, and `bpf-linker`) is optional
//! for a developer: without it the build succeeds with a warning and `miruo -i` answers with an
//! error naming `cargo xtask setup`, so file replay can be worked on anywhere. With `CI=true`
//! a missing toolchain fails the build, so CI never ships a binary without live capture.

use std::path::Path;
use std::process::Command;

fn main() -> anyhow::Result<()> {
    println!("cargo::rustc-check-cfg=cfg(miruo_ebpf)");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rerun-if-env-changed=MIRUO_NO_EBPF");
    println!("cargo:rerun-if-env-changed=PATH");

    // Live capture exists on Linux only; nothing to build elsewhere.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return Ok(());
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if std::env::var("MIRUO_NO_EBPF").is_ok_and(|v| v == "1") && !ci {
        println!("cargo:warning=MIRUO_NO_EBPF=1: building without live capture");
        return Ok(());
    }
    if let Some(missing) = missing_toolchain() {
        let msg = format!(
            "eBPF toolchain incomplete ({missing}): miruo is built without live capture (-i); \
             run `cargo xtask setup` and rebuild"
        );
        if ci {
            anyhow::bail!("{msg} (CI=true: live capture is required)");
        }
        println!("cargo:warning={msg}");
        // A path that never exists: cargo then re-runs this script on every build, so
        // installing the toolchain later takes effect without touching anything.
        println!(
            "cargo:rerun-if-changed={}/toolchain-missing",
            std::env::var("OUT_DIR")?
        );
        return Ok(());
    }

    let metadata = cargo_metadata::MetadataCommand::new().no_deps().exec()?;
    let ebpf = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == "miruo-ebpf")
        .ok_or_else(|| anyhow::anyhow!("miruo-ebpf is not in the workspace"))?;
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow::anyhow!("miruo-ebpf's manifest has no directory"))?;
    // aya-build watches the eBPF crate; the shared types are compiled into it too.
    let common = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == "miruo-common");
    if let Some(dir) = common.and_then(|p| p.manifest_path.parent()) {
        println!("cargo:rerun-if-changed={dir}");
    }
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "miruo-ebpf",
            root_dir: root_dir.as_str(),
            ..Default::default()
        }],
        aya_build::Toolchain::Nightly,
    )?;
    if !Path::new(&std::env::var("OUT_DIR")?)
        .join("miruo")
        .is_file()
    {
        anyhow::bail!("aya-build finished but produced no eBPF object named `miruo`");
    }
    println!("cargo:rustc-cfg=miruo_ebpf");
    Ok(())
}

/// What of the eBPF toolchain is missing, if anything. Checked without installing anything
/// (`rustup run` would otherwise try to fetch a missing toolchain).
fn missing_toolchain() -> Option<String> {
    let sysroot = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--print", "sysroot"])
        .env("RUSTUP_AUTO_INSTALL", "0")
        .output();
    let sysroot = match sysroot {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => return Some("no `nightly` Rust toolchain".into()),
    };
    if !Path::new(&sysroot)
        .join("lib/rustlib/src/rust/library/core/Cargo.toml")
        .is_file()
    {
        return Some("no rust-src for nightly".into());
    }
    match Command::new("bpf-linker").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("no bpf-linker on PATH".into()),
    }
}
