//! `cargo xtask testdata`.

pub fn run(_args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask testdata: not written yet")
}
