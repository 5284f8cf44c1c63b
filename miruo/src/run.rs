//! The pipeline driver: source → filter → decode → sessions → report, until the input ends, a
//! signal arrives or stdout is closed; then the end-of-capture report and the statistics.
//!
//! Signals: SIGINT, SIGTERM and SIGHUP end the run with the statistics and exit status 0 (F18);
//! SIGUSR1 prints the statistics block now and goes on. `-s N` prints it every N seconds while
//! capturing live.

use crate::cli::{Input, Settings};
use crate::decode::{self, HeaderErrors};
use crate::filter::Filter;
use crate::report::clock::Clock;
use crate::report::stats::{self, CpuMeter, Snapshot};
use crate::report::text::TextReport;
use crate::session::{Stats, Tracker};
use crate::source::file::FileSource;
use crate::source::stdin::StdinSource;
use crate::source::{Frame, LinkType, Next, Source, SourceStats};
use anyhow::{Result, bail};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a run ended, for the exit status.
#[derive(Debug)]
pub enum Outcome {
    /// Input exhausted, interrupted by a signal, or stdout closed: exit 0.
    Done,
    /// The input broke off (a damaged file); everything before was reported: exit 1.
    InputError(anyhow::Error),
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

/// Everything after the source, for one output: filter, decoder counters, tracker, report.
pub struct Pipeline<W: Write> {
    filter: Option<Filter>,
    pub errors: HeaderErrors,
    pub tracker: Tracker,
    pub report: TextReport<W>,
}

impl<W: Write> Pipeline<W> {
    /// `expression` is compiled for `link`, the source's (first) link type.
    pub fn new(settings: &Settings, link: LinkType, out: W) -> Result<Pipeline<W>> {
        let filter = match settings.expression.as_str() {
            "" => None,
            expr => Some(
                Filter::new(expr, link)
                    .map_err(|e| UsageError(format!("bad filter expression '{expr}': {e}")))?,
            ),
        };
        let report = TextReport::new(
            out,
            settings.style,
            settings.color,
            settings.tracker.fragment,
            Clock::local(),
        );
        Ok(Pipeline {
            filter,
            errors: HeaderErrors::default(),
            tracker: Tracker::new(settings.tracker.clone()),
            report,
        })
    }

    /// One frame through filter, decoder and tracker.
    pub fn frame(&mut self, frame: &Frame<'_>) {
        if self.filter.as_mut().is_some_and(|f| !f.matches(frame)) {
            return;
        }
        match decode::decode(frame) {
            Ok(packet) => self.tracker.packet(&packet, &mut self.report),
            Err(skip) => self.errors.count(skip),
        }
    }

    /// The end of the input: sessions still open that would be shown (F9), then flush.
    pub fn finish(&mut self) {
        self.tracker.finish(&mut self.report);
        self.report.flush();
    }

    /// Writes the statistics block to stderr: the tracker's, the decoder's and the source's
    /// counters.
    fn print_stats(&self, capture_secs: i64, cpu: &mut CpuMeter, source: &SourceStats) {
        let block = stats::render(&Snapshot {
            stats: self.tracker.stats(),
            cfg: self.tracker.config(),
            capture_secs,
            cpu_permille: cpu.sample(),
            source,
            errors: &self.errors,
        });
        // Nothing sensible is left to do if stderr is gone as well.
        let _ = std::io::stderr().write_all(block.as_bytes());
    }

    /// Frames skipped because the expression does not compile for their link type.
    fn unfiltered(&self) -> Option<(u64, &str)> {
        self.filter
            .as_ref()
            .filter(|f| f.uncompilable > 0)
            .map(|f| (f.uncompilable, f.expression()))
    }
}

/// Signal flags: stop (SIGINT, SIGTERM, SIGHUP) and print statistics now (SIGUSR1).
struct Signals {
    stop: Arc<AtomicBool>,
    stats_now: Arc<AtomicBool>,
}

impl Signals {
    fn install() -> Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            signal_hook::flag::register(signal, Arc::clone(&stop))?;
        }
        let stats_now = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGUSR1, Arc::clone(&stats_now))?;
        Ok(Signals { stop, stats_now })
    }
}

fn open_source(settings: &Settings) -> Result<Box<dyn Source>> {
    match &settings.input {
        Input::File(path) if path == "-" => Ok(Box::new(StdinSource::open()?)),
        Input::File(path) => Ok(Box::new(FileSource::open(path)?)),
        Input::Live(devices) => open_live(devices, settings),
    }
}

#[cfg(target_os = "linux")]
fn open_live(devices: &[String], settings: &Settings) -> Result<Box<dyn Source>> {
    use crate::source::live::{LiveOptions, LiveSource};
    // DPI wants the start of the payload; the headers alone are enough otherwise.
    let payload = if settings.tracker.http.is_some() {
        256
    } else {
        0
    };
    // The kernel-evaluable part of the expression (host/net/port terms joined by `and`): what it
    // excludes never reaches the ring; the whole expression still runs in `Pipeline::frame`.
    let filter = crate::filter::pushdown::parse(&settings.expression).unwrap_or_default();
    // A bad expression is a usage error before anything is attached (the frames are Ethernet,
    // or raw IP on tun devices, for which the same expression is compiled again later).
    if !settings.expression.is_empty() {
        Filter::new(&settings.expression, LinkType::ETHERNET).map_err(|e| {
            UsageError(format!(
                "bad filter expression '{}': {e}",
                settings.expression
            ))
        })?;
    }
    let opts = LiveOptions {
        xdp: settings.xdp,
        payload,
        filter,
        ..LiveOptions::default()
    };
    Ok(Box::new(LiveSource::open(devices, opts)?))
}

#[cfg(not(target_os = "linux"))]
fn open_live(devices: &[String], _: &Settings) -> Result<Box<dyn Source>> {
    bail!(
        "live capture (-i {}) needs Linux (eBPF); read a capture file with -f FILE",
        devices.join(",")
    )
}

pub fn run(settings: &Settings) -> Result<Outcome> {
    let mut source = open_source(settings)?;
    let live = matches!(settings.input, Input::Live(_));
    let link = source.link_type();
    let Some((name, description)) = link.name() else {
        bail!(
            "unsupported link type {} in the capture (miruo reads Ethernet, Linux SLL/SLL2, NULL, LOOP and raw IP)",
            link.0
        );
    };
    let stdout = std::io::stdout().lock();
    let out = std::io::BufWriter::with_capacity(64 * 1024, stdout);
    let mut pipeline = Pipeline::new(settings, link, out)?;
    let signals = Signals::install()?;
    pipeline.report.plain_line(&format!(
        "listening on {}, link-type {name} ({description}), capture size {} bytes",
        settings.banner_device,
        source.snaplen()
    ));
    if live {
        pipeline.report.flush();
    }

    let started = Instant::now();
    let mut cpu = CpuMeter::start();
    // spec §7.2: live, `-s N` prints a block right after start-up and then every N seconds.
    let interval = (live && settings.stat_interval > 0)
        .then(|| Duration::from_secs(settings.stat_interval.into()));
    let mut next_stats = interval.map(|_| Instant::now());
    let capture_secs = |st: &Stats| -> i64 {
        if live {
            started.elapsed().as_secs() as i64
        } else {
            st.first_us
                .map_or(0, |first| (st.now_us - first).max(0) / 1_000_000)
        }
    };
    let mut outcome = Outcome::Done;
    loop {
        if signals.stop.load(Ordering::Relaxed) || pipeline.report.failed().is_some() {
            break;
        }
        let due = next_stats.is_some_and(|t| Instant::now() >= t);
        if due || signals.stats_now.swap(false, Ordering::Relaxed) {
            pipeline.report.flush();
            let secs = capture_secs(pipeline.tracker.stats());
            pipeline.print_stats(secs, &mut cpu, &source.stats());
            if let (true, Some(every)) = (due, interval) {
                next_stats = Some(Instant::now() + every);
            }
        }
        match source.next() {
            Ok(Next::Frame(frame)) => pipeline.frame(&frame),
            Ok(Next::Idle { now_us }) => {
                pipeline.tracker.idle(now_us, &mut pipeline.report);
                pipeline.report.flush();
            }
            Ok(Next::Metadata) => {}
            Ok(Next::End) => break,
            // A stop signal may cut a pipe mid-frame; that is the stop, not damage.
            Err(_) if signals.stop.load(Ordering::Relaxed) => break,
            Err(e) => {
                outcome = Outcome::InputError(e);
                break;
            }
        }
    }

    pipeline.finish();
    let secs = capture_secs(pipeline.tracker.stats());
    pipeline.print_stats(secs, &mut cpu, &source.stats());
    if let Some((frames, expression)) = pipeline.unfiltered() {
        eprintln!(
            "miruo: {frames} frames skipped: the filter expression '{expression}' does not apply to their link type"
        );
    }
    Ok(outcome)
}
