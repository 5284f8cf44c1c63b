//! `cargo xtask run -- ARGS`: set up what is missing, build miruo in release mode and run it
//! with ARGS — under sudo for live capture (`-i`) when not root. Without `-i` or `-f` it
//! replays a capture of the project's own (`testdata/`).

use crate::util::{build_release_miruo, workspace_root};
use anyhow::Result;
use std::process::Command;

/// The capture replayed when neither an interface nor a file is given.
pub const DEFAULT_CAPTURE: &str = "testdata/http.pcap";

fn wants(args: &[String], short: &str, long: &str) -> bool {
    args.iter()
        .any(|a| a.starts_with(short) || a.starts_with(long) || a.starts_with(&long[1..]))
}

pub fn run(args: &[String]) -> Result<()> {
    let args: Vec<String> = args.iter().skip_while(|a| *a == "--").cloned().collect();
    let live = wants(&args, "-i", "--interface");
    let root = workspace_root();
    // Even a replay needs libpcap (the filter compiler) to build; the set-up checks each piece
    // and only installs what is missing, so a prepared machine pays a second at most.
    crate::setup::run(&[])?;
    let binary = build_release_miruo()?;
    let mut argv = args.clone();
    if !live && !wants(&args, "-f", "--file") {
        argv.splice(
            0..0,
            [
                "-f".to_string(),
                root.join(DEFAULT_CAPTURE).display().to_string(),
            ],
        );
    }
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    let mut cmd = if live && !root_user {
        let mut c = Command::new("sudo");
        c.arg(&binary);
        c
    } else {
        Command::new(&binary)
    };
    let status = cmd.args(&argv).status()?;
    std::process::exit(status.code().unwrap_or(1));
}
