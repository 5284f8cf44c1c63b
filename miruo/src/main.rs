//! The `miruo` binary: parse the command line, run the pipeline, map the outcome to an exit
//! status (0 done, 1 runtime error, 2 usage error).

use miruo::cli::Args;
use miruo::run::{Outcome, UsageError, run};
use std::process::ExitCode;

/// F16: what `-i` can do in this build.
#[cfg(target_os = "linux")]
fn live_backend() -> &'static str {
    if miruo::source::live::available() {
        "eBPF, TC (TCX or clsact) on ingress and egress, XDP ingress with --xdp (-i)"
    } else {
        "not built in: the eBPF toolchain was missing at build time (run `cargo xtask setup`, rebuild)"
    }
}

#[cfg(not(target_os = "linux"))]
fn live_backend() -> &'static str {
    "none (live capture needs Linux eBPF)"
}

fn main() -> ExitCode {
    let args = Args::from_env();
    if args.version {
        println!("miruo {}", env!("CARGO_PKG_VERSION"));
        println!("capture back-ends:");
        println!("  files: pcap and pcapng, from a path or stdin (-f)");
        println!("  live:  {}", live_backend());
        return ExitCode::SUCCESS;
    }
    let settings = match args.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("miruo: {e}\nFor more information, try '--help'.");
            return ExitCode::from(2);
        }
    };
    match run(&settings) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::InputError(e)) => {
            eprintln!("miruo: {e:#}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("miruo: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
