//! The statistics block on stderr (spec §7.1), with the source's own section (F17) and the
//! header-error counters. Also the process figures it shows (CPU since the previous block,
//! VSZ and RSS).

use crate::decode::HeaderErrors;
use crate::session::{Config, Stats};
use crate::source::SourceStats;
use std::fmt::Write as _;
use std::time::Instant;

/// CPU use between two statistics blocks.
pub struct CpuMeter {
    wall: Instant,
    cpu_us: u64,
}

fn process_cpu_us() -> u64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    let us = |t: libc::timeval| (t.tv_sec as u64) * 1_000_000 + t.tv_usec as u64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

impl CpuMeter {
    pub fn start() -> CpuMeter {
        CpuMeter {
            wall: Instant::now(),
            cpu_us: process_cpu_us(),
        }
    }

    /// Per mille of one core used since the previous sample, capped at 1000.
    pub fn sample(&mut self) -> u64 {
        let (wall, cpu) = (Instant::now(), process_cpu_us());
        let wall_us = wall.duration_since(self.wall).as_micros() as u64;
        let used = cpu.saturating_sub(self.cpu_us);
        self.wall = wall;
        self.cpu_us = cpu;
        (used * 1000).checked_div(wall_us).unwrap_or(0).min(1000)
    }
}

/// VSZ and RSS in KB from /proc/self/statm, where it exists.
fn memory_kb() -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm.split_whitespace().map(|f| f.parse::<u64>().ok());
    let (pages, resident) = (fields.next()??, fields.next()??);
    // SAFETY: sysconf has no preconditions.
    let page_kb = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64) / 1024;
    Some((pages * page_kb, resident * page_kb))
}

/// Everything the block shows.
pub struct Snapshot<'a> {
    pub stats: &'a Stats,
    pub cfg: &'a Config,
    /// Seconds of capture shown as `Capture Time`.
    pub capture_secs: i64,
    pub cpu_permille: u64,
    pub source: &'a SourceStats,
    pub errors: &'a HeaderErrors,
}

pub fn render(s: &Snapshot<'_>) -> String {
    let st = s.stats;
    let secs = s.capture_secs.max(0);
    let mut o = String::with_capacity(1024);
    let _ = write!(
        o,
        "\n===== Session Statistics =====\n\
         Capture Time    : {:02}:{:02}:{:02}\n\
         Total Sessions  : {}\n\
         \x20 Lookup        : {}\n\
         \x20   LongConnect : {}\n\
         \x20   LongDelay   : {}\n\
         \x20   Retransmit  : {}\n\
         \x20   Timeout     : {}\n\
         \x20   Error       : {}\n\
         \x20   RST         : {}\n\
         \x20   fragment    : {}\n\
         ------------------------------\n\
         LongConnectTime : {} [ms]\n\
         LongDelayTime   : {} [ms]\n\
         RetransmitTime  : {} [ms]\n\
         ------------------------------\n\
         ActiveSession   : {}\n\
         ActiveSessionMax: {}\n\
         ActiveSessionLim: {}\n\
         ActiveSegment   : {}\n\
         ActiveSegmentMax: {}\n\
         ActiveSegmentLim: {}\n\
         DropSession     : {}\n\
         DropSegment     : {}\n\
         ------------------------------\n\
         CPU   : {}.{}%\n",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        st.total_sessions,
        st.lookup,
        st.long_connect,
        st.long_delay,
        st.retransmit,
        st.timeout,
        st.error,
        st.rst,
        st.fragment,
        s.cfg.long_connect_ms,
        s.cfg.long_delay_ms,
        s.cfg.retransmit_ms,
        st.active_sessions,
        st.max_sessions,
        s.cfg.session_limit,
        st.active_segments,
        st.max_segments,
        s.cfg.segment_limit,
        st.drop_session,
        st.drop_segment,
        s.cpu_permille / 10,
        s.cpu_permille % 10,
    );
    if let Some((vsz, rss)) = memory_kb() {
        let _ = write!(o, "VSZ   : {vsz}KB\nRSS   : {rss}KB\n");
    }
    let _ = writeln!(o, "===== {} =====", s.source.title);
    for (label, value) in &s.source.lines {
        let _ = writeln!(o, "{label}: {value}");
    }
    let e = s.errors;
    let _ = write!(
        o,
        "===== Header Error Count =====\nL2    : {}\nIP    : {}\nTCP   : {}\n==============================\n",
        e.l2, e.ip, e.tcp
    );
    o
}
