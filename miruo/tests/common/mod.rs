//! Helpers shared by the integration tests: where `../shared` is, and running the binary.

#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;
use std::process::{Command, Output};

/// The shared test material (`../shared` beside the repository). `None` — after saying so —
/// where it is absent; a failure instead under `CI=true`, where it must be there.
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    if dir.join("cases").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: ../shared is missing (it must exist in CI)"
    );
    eprintln!("{test}: skipped, ../shared (cases and corpus) is not beside the repository");
    None
}

pub fn miruo() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_miruo"));
    cmd.env("TZ", "UTC").env_remove("NO_COLOR");
    cmd
}

pub fn run(args: &[&str]) -> Output {
    miruo().args(args).output().expect("the miruo binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A field of the (last) statistics block on stderr.
pub fn stat(o: &Output, field: &str) -> Option<String> {
    stderr(o).lines().rev().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.trim() == field)
            .map(|(_, v)| v.trim().to_string())
    })
}
