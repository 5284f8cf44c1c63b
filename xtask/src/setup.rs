//! `cargo xtask setup`.

pub fn run(_args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask setup: not written yet")
}
