//! The pipeline driver: source → decode → filter → sessions → report, until the input ends, a
//! signal arrives or stdout is closed; then the end-of-capture report and the statistics.

use crate::cli::{Input, Settings};
use crate::decode::{self, HeaderErrors};
use crate::filter::Filter;
use crate::report::clock::Clock;
use crate::report::stats::{self, CpuMeter, Snapshot};
use crate::report::text::TextReport;
use crate::session::Tracker;
use crate::source::file::FileSource;
use crate::source::{Next, Source};
use anyhow::{Result, bail};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How a run ended, for the exit status.
#[derive(Debug)]
pub enum Outcome {
    /// Input exhausted, interrupted by a signal, or stdout closed: exit 0.
    Done,
    /// The input broke off (a damaged file); everything before was reported: exit 1.
    InputError(anyhow::Error),
}

/// Signals that end the run with the statistics (SIGINT, SIGTERM, SIGHUP: F18).
fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    Ok(stop)
}

/// A problem with what the user asked for (exit status 2), as opposed to one met while running.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub fn run(settings: &Settings) -> Result<Outcome> {
    let mut source: Box<dyn Source> = match &settings.input {
        Input::File(path) => Box::new(FileSource::open(path)?),
        Input::Live(devices) => bail!(
            "live capture (-i {}) is not supported by this build yet; read a capture with -f FILE",
            devices.join(",")
        ),
    };
    let link = source.link_type();
    let Some((name, description)) = link.name() else {
        bail!("unsupported link type {} in the capture (miruo reads Ethernet, Linux SLL/SLL2, NULL, LOOP and raw IP)", link.0);
    };
    let mut filter = match settings.expression.as_str() {
        "" => None,
        expr => Some(
            Filter::new(expr, link).map_err(|e| UsageError(format!("bad filter expression '{expr}': {e}")))?,
        ),
    };
    let stop = stop_flag()?;

    let stdout = std::io::stdout().lock();
    let mut report = TextReport::new(
        std::io::BufWriter::with_capacity(64 * 1024, stdout),
        settings.style,
        settings.color,
        settings.tracker.fragment,
        Clock::local(),
    );
    report.plain_line(&format!(
        "listening on {}, link-type {name} ({description}), capture size {} bytes",
        settings.banner_device,
        source.snaplen()
    ));
    let mut tracker = Tracker::new(settings.tracker.clone());
    let mut errors = HeaderErrors::default();
    let mut cpu = CpuMeter::start();
    let mut outcome = Outcome::Done;

    loop {
        if stop.load(Ordering::Relaxed) || report.failed().is_some() {
            break;
        }
        match source.next() {
            Ok(Next::Frame(frame)) => {
                if filter.as_mut().is_some_and(|f| !f.matches(&frame)) {
                    continue;
                }
                match decode::decode(&frame) {
                    Ok(packet) => tracker.packet(&packet, &mut report),
                    Err(skip) => errors.count(skip),
                }
            }
            Ok(Next::Idle { now_us }) => {
                tracker.idle(now_us, &mut report);
                report.flush();
            }
            Ok(Next::Metadata) => {}
            Ok(Next::End) => break,
            Err(e) => {
                outcome = Outcome::InputError(e);
                break;
            }
        }
    }

    tracker.finish(&mut report);
    report.flush();
    let st = tracker.stats();
    let capture_secs = st.first_us.map_or(0, |first| (st.now_us - first).max(0) / 1_000_000);
    let block = stats::render(&Snapshot {
        stats: st,
        cfg: tracker.config(),
        capture_secs,
        cpu_permille: cpu.sample(),
        source: &source.stats(),
        errors: &errors,
    });
    // Nothing sensible is left to do if stderr is gone as well.
    let _ = std::io::stderr().write_all(block.as_bytes());
    if let Some(f) = filter.as_ref().filter(|f| f.uncompilable > 0) {
        eprintln!(
            "miruo: {} frames skipped: the filter expression '{}' does not apply to their link type",
            f.uncompilable,
            f.expression()
        );
    }
    Ok(outcome)
}
