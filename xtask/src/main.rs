//! `cargo xtask COMMAND`: the project's developer tasks. Each command lives in its own module;
//! this file only dispatches.

use anyhow::{Result, bail};

const USAGE: &str = "usage: cargo xtask COMMAND [ARGS]

commands:
  setup              install what a fresh Debian 12 machine needs (idempotent)
  run -- ARGS        build miruo in release mode and run it (set-up first when live capture needs it)
  test               run every test (unit, conformance, corpus, live capture as root)
  bench              benchmarks: replay speed and memory, live-capture overhead
  gen-testdata       capture real TCP traffic between network namespaces into testdata/
  fuzz [SECONDS]     run every cargo-fuzz target SECONDS each (default 30; --target NAME, --keep-seeds)
  soak [MINUTES]     churn through miruo (live as root, else --replay) and sample RSS, fds, drops each minute";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    match cmd.as_str() {
        "setup" => xtask::setup::run(rest),
        "run" => xtask::run::run(rest),
        "test" => xtask::test::run(rest),
        "bench" => xtask::bench::run(rest),
        "gen-testdata" => xtask::testdata::run(rest),
        "fuzz" => xtask::fuzz::run(rest),
        "soak" => xtask::soak::run(rest),
        // Hidden: the test bed's servers and clients, for `ip netns exec NS cargo xtask peer ...`.
        "peer" => xtask::testbed::peer::main(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command '{other}'\n{USAGE}"),
    }
}
