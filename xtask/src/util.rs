//! Small helpers shared by the xtask commands: running commands with clear errors.

use anyhow::{Context, Result, bail};
use std::process::Command;

/// Runs `cmd`, inheriting stdout/stderr; fails with the command line when it does not succeed.
pub fn run_cmd(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Builds miruo in release mode and returns the binary's path (under `$CARGO_TARGET_DIR` when
/// set, as cargo does).
pub fn build_release_miruo() -> Result<std::path::PathBuf> {
    run_cmd(Command::new("cargo").current_dir(workspace_root()).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "miruo",
    ]))?;
    Ok(crate::testdata::target_dir().join("release/miruo"))
}
