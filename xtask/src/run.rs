//! `cargo xtask run`.

pub fn run(_args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask run: not written yet")
}
