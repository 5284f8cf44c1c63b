//! Live capture through eBPF: the [`LiveSource`] loads miruo's kernel programs, attaches them to
//! the chosen interfaces (TC ingress and egress through TCX; XDP for ingress with `--xdp`),
//! and turns the ring-buffer records into [`Frame`]s for the same pipeline that replays files.
//!
//! What it owns: the kernel objects' lifetime (TCX and XDP hooks are fd links, so nothing stays
//! attached after the process ends, even by SIGKILL; only the netlink clsact fallback for
//! kernels without TCX can outlive a SIGKILL, and it is announced), following `-i any` as
//! interfaces come and go (re-listed every second), the kernel-clock → wall-clock conversion, and draining the ring. What it must not do:
//! block the ring. Each call drains everything the ring holds into an internal buffer in one
//! go, then hands frames out one by one; the kernel side wakes us only when enough bytes are
//! pending, so between wake-ups we poll on a short timer and report [`Next::Idle`] with the wall
//! clock when nothing came.
//!
//! Submodules: `object` (the embedded programs, privileges, loading), `attach` (interfaces and
//! hooks), `clock` (time conversion), `testing` (BPF_PROG_TEST_RUN for the parser tests).

mod attach;
mod clock;
mod object;
pub mod testing;

pub use object::{available, check_prerequisites, missing_capabilities};

use super::{Frame, LinkType, Next, Source, SourceStats};
use crate::filter::pushdown::{Dir, Term, Test};
use anyhow::{Context, Result, bail};
use attach::{Attached, DeviceKind};
use aya::maps::{MapData, RingBuf};
use miruo_common::{
    Config, FLAG_RAW_IP, FilterRule, MAX_RULES, RECORD_HEADER_LEN, RULE_ADDR, RULE_DST,
    RULE_FAMILY, RULE_PORT, RULE_SRC, RecordHeader, SNAP_MAX, counter,
};
use object::{Counters, Programs};
use std::cell::Cell;
use std::collections::HashSet;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// How long one call waits for records before answering [`Next::Idle`].
const POLL_MS: i32 = 2;
/// How often `-i any` looks for new interfaces.
const RESCAN: Duration = Duration::from_secs(1);
/// Most records moved out of the ring per drain: bounds the buffer and the latency of one call.
const MAX_BATCH: usize = 1 << 16;

/// How to capture.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// XDP instead of TC for ingress (native mode where the driver has it, else generic).
    pub xdp: bool,
    /// Most frame bytes per record; clamped to `1..=miruo_common::SNAP_MAX` (256). The banner's
    /// "capture size" should show [`Source::snaplen`], the clamped value.
    pub snaplen: u32,
    /// TCP payload bytes to keep after the TCP header (0 = headers only; `-m http` wants some).
    pub payload: u32,
    /// Ring-buffer size in bytes: a power of two, at least one page (default 8 MiB, about
    /// 70,000 header-only records).
    pub ring_bytes: u32,
    /// The kernel wakes the consumer once this many bytes are pending (batching).
    pub wakeup_bytes: u32,
    /// Print one line per interface on stderr saying how it was attached, and notes.
    pub announce: bool,
    /// Attach TC through netlink clsact even where TCX exists: the path kernels before 6.6
    /// take, for tests. Such filters survive a SIGKILL.
    #[doc(hidden)]
    pub tc_netlink: bool,
    /// The filter expression's terms to evaluate in the kernel as well
    /// ([`crate::filter::pushdown::parse`]): TCP frames failing them are not recorded (counted
    /// as `filtered`). Only the first `miruo_common::MAX_RULES` (8) are pushed; the caller still
    /// runs the whole expression on what arrives.
    pub filter: Vec<Term>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            xdp: false,
            snaplen: SNAP_MAX as u32,
            payload: 0,
            ring_bytes: 8 << 20,
            wakeup_bytes: Config::DEFAULT.wakeup_bytes,
            announce: true,
            tc_netlink: false,
            filter: Vec::new(),
        }
    }
}

/// A live capture on one or more interfaces (or `any`) of the current network namespace.
pub struct LiveSource {
    programs: Programs,
    ring: RingBuf<MapData>,
    counters: Counters,
    epoll: OwnedFd,
    clock: clock::WallClock,
    /// Drained record bytes and `(start, len)` of each record in it.
    batch: Vec<u8>,
    spans: Vec<(usize, usize)>,
    next_span: usize,
    attached: Vec<Attached>,
    /// `-i any`: follow interfaces; the ifindexes already seen (attached or refused).
    follow: Option<HashSet<u32>>,
    last_scan: Instant,
    opts: LiveOptions,
    link: LinkType,
    snaplen: u32,
    recv: u64,
    malformed: u64,
    /// `(when, recv)` at the previous `stats()`, for the events/s rate.
    last_stats: Cell<(Instant, u64)>,
}

impl LiveSource {
    /// Loads the programs and attaches them to `devices` (`any` = every interface, followed).
    /// Errors are one line and say what to do (privileges, unknown interface, missing
    /// toolchain at build time).
    pub fn open(devices: &[String], opts: LiveOptions) -> Result<LiveSource> {
        if devices.is_empty() {
            bail!("no interface given");
        }
        check_prerequisites()?;
        let any = devices.iter().any(|d| d == "any");
        let names: Vec<String> = if any {
            attach::list_interfaces()?
                .into_iter()
                .map(|(_, n)| n)
                .collect()
        } else {
            for d in devices {
                if attach::ifindex(d).is_none() {
                    bail!("no such interface: {d} (in this network namespace)");
                }
            }
            let mut seen = HashSet::new();
            devices
                .iter()
                .filter(|d| seen.insert(d.as_str()))
                .cloned()
                .collect()
        };
        LiveSource::build(&names, any, opts)
    }

    /// Loads the programs and attaches them to `names` (`any`: skip what cannot be attached,
    /// and follow interfaces from now on).
    fn build(names: &[String], any: bool, opts: LiveOptions) -> Result<LiveSource> {
        let snaplen = opts.snaplen.clamp(1, SNAP_MAX as u32);
        let config = Config {
            snaplen,
            payload: opts.payload,
            wakeup_bytes: opts.wakeup_bytes,
            _reserved: 0,
            rules: kernel_rules(&opts.filter),
        };
        let mut programs = Programs::load(&config, opts.ring_bytes, opts.xdp)?;
        let ring = programs.take_ring()?;
        let counters = programs.take_counters()?;

        let mut attached = Vec::new();
        let mut seen = HashSet::new();
        for name in names {
            match attach::attach(&mut programs, name, hook_options(&opts)) {
                Ok(a) => {
                    announce(&opts, &a);
                    seen.insert(a.ifindex);
                    attached.push(a);
                }
                // With `any`, an interface we cannot hook is skipped, not fatal.
                Err(e) if any => {
                    if let Some(i) = attach::ifindex(name) {
                        seen.insert(i);
                    }
                    if opts.announce {
                        eprintln!("miruo: not capturing on {name}: {e:#}");
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if attached.is_empty() && !any && !names.is_empty() {
            bail!("no interface could be attached");
        }
        let link = if any {
            LinkType::ETHERNET
        } else {
            attached
                .first()
                .map_or(LinkType::ETHERNET, |a| a.kind.link_type())
        };
        let epoll = epoll_for(ring.as_raw_fd())?;
        let now = Instant::now();
        Ok(LiveSource {
            programs,
            ring,
            counters,
            epoll,
            clock: clock::WallClock::new(),
            batch: Vec::new(),
            spans: Vec::new(),
            next_span: 0,
            attached,
            follow: any.then_some(seen),
            last_scan: now,
            opts,
            link,
            snaplen,
            recv: 0,
            malformed: 0,
            last_stats: Cell::new((now, 0)),
        })
    }

    /// A source whose programs are loaded but attached nowhere: for benchmarks and tests that
    /// feed the programs with `testing::test_run_fd` while this source drains the ring.
    #[doc(hidden)]
    pub fn open_unattached(opts: LiveOptions) -> Result<LiveSource> {
        LiveSource::build(&[], false, opts)
    }

    /// The loaded program `name` (`miruo_common::PROG_*`), for `testing::test_run_fd`.
    #[doc(hidden)]
    pub fn program_fd(&self, name: &str) -> Result<aya::programs::ProgramFd> {
        Ok(self.programs.program(name)?.fd()?.try_clone()?)
    }

    /// Names of the interfaces currently hooked.
    pub fn interfaces(&self) -> Vec<String> {
        self.attached.iter().map(|a| a.name.clone()).collect()
    }

    /// Number of hooks (links) currently held, over all interfaces.
    pub fn hook_count(&self) -> usize {
        self.attached.iter().map(Attached::hook_count).sum()
    }

    /// Kernel counters summed over CPUs, indexed by `miruo_common::counter`.
    pub fn kernel_counters(&self) -> [u64; counter::COUNT as usize] {
        self.counters.read()
    }

    /// Moves everything the ring holds (up to [`MAX_BATCH`] records) into `batch`.
    fn drain(&mut self) {
        self.batch.clear();
        self.spans.clear();
        self.next_span = 0;
        while self.spans.len() < MAX_BATCH {
            let Some(item) = self.ring.next() else { break };
            let start = self.batch.len();
            self.batch.extend_from_slice(&item);
            self.spans.push((start, item.len()));
        }
    }

    /// Index of the next well-formed record in `batch`, with its header.
    fn next_record(&mut self) -> Option<(RecordHeader, usize, usize)> {
        while let Some(&(start, len)) = self.spans.get(self.next_span) {
            self.next_span += 1;
            let item = &self.batch[start..start + len];
            match RecordHeader::from_bytes(item) {
                Some(h) if RECORD_HEADER_LEN + usize::from(h.cap_len) <= len => {
                    let data = start + RECORD_HEADER_LEN;
                    return Some((h, data, data + usize::from(h.cap_len)));
                }
                // Cannot happen with our own programs; counted rather than trusted.
                _ => self.malformed += 1,
            }
        }
        None
    }

    /// Periodic work between batches: clock re-sampling, following `-i any`.
    fn maintain(&mut self) {
        self.clock.refresh();
        if self.follow.is_some() && self.last_scan.elapsed() >= RESCAN {
            self.last_scan = Instant::now();
            self.rescan();
        }
    }

    /// `-i any`: attach to interfaces that appeared, forget those that went away.
    fn rescan(&mut self) {
        let Ok(now) = attach::list_interfaces() else {
            return;
        };
        let present: HashSet<u32> = now.iter().map(|(i, _)| *i).collect();
        // A vanished device took its hooks with it; dropping ours only closes the fds.
        self.attached.retain(|a| present.contains(&a.ifindex));
        let Some(seen) = self.follow.as_mut() else {
            return;
        };
        seen.retain(|i| present.contains(i));
        for (index, name) in now {
            if !seen.insert(index) {
                continue;
            }
            match attach::attach(&mut self.programs, &name, hook_options(&self.opts)) {
                Ok(a) => {
                    announce(&self.opts, &a);
                    self.attached.push(a);
                }
                Err(e) => {
                    if self.opts.announce {
                        eprintln!("miruo: not capturing on {name}: {e:#}");
                    }
                }
            }
        }
    }

    fn wait(&self) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: valid epoll fd and one-element buffer. EINTR (a signal) simply ends the wait
        // early, which is what the caller wants: it gets Idle and can look at its flags.
        unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), &mut ev, 1, POLL_MS) };
    }
}

/// The kernel's form of the pushed-down terms (the first [`MAX_RULES`]: a prefix of a
/// conjunction is implied by it, so the kernel never drops what the whole expression keeps).
pub fn kernel_rules(terms: &[Term]) -> [FilterRule; MAX_RULES] {
    let mut rules = [FilterRule::NONE; MAX_RULES];
    for (rule, term) in rules.iter_mut().zip(terms) {
        rule.dir = match term.dir {
            Dir::Src => RULE_SRC,
            Dir::Dst => RULE_DST,
            Dir::Either => RULE_SRC | RULE_DST,
        };
        match term.test {
            Test::Port(p) => {
                rule.kind = RULE_PORT;
                rule.port = p;
            }
            Test::Ipv6(v6) => {
                rule.kind = RULE_FAMILY;
                rule.family = if v6 { 6 } else { 4 };
            }
            Test::Addr { net, mask } => {
                rule.kind = RULE_ADDR;
                rule.family = if net.is_ipv6() { 6 } else { 4 };
                rule.mask = words(mask);
                // Masked again: the kernel compares `frame & mask` with it.
                for (a, (n, m)) in rule
                    .addr
                    .iter_mut()
                    .zip(words(net).into_iter().zip(rule.mask))
                {
                    *a = n & m;
                }
            }
        }
    }
    rules
}

/// An address as the kernel loads it from the frame: 4-byte words in packet byte order; IPv4
/// fills the first.
fn words(a: IpAddr) -> [u32; 4] {
    let mut out = [0u32; 4];
    let octets: Vec<u8> = match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    for (w, chunk) in out.iter_mut().zip(octets.chunks_exact(4)) {
        *w = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    out
}

fn hook_options(opts: &LiveOptions) -> attach::HookOptions {
    attach::HookOptions {
        xdp: opts.xdp,
        tc_netlink: opts.tc_netlink,
    }
}

fn announce(opts: &LiveOptions, a: &Attached) {
    if !opts.announce {
        return;
    }
    let kind = match a.kind {
        DeviceKind::RawIp => ", raw IP",
        DeviceKind::Loopback => ", loopback: ingress only",
        _ => "",
    };
    eprintln!("miruo: capturing on {}{kind}: {}", a.name, a.how);
    if a.persistent {
        eprintln!(
            "miruo: note: {} uses the netlink clsact fallback (no TCX in this kernel): if miruo \
             is killed with SIGKILL its filters stay until `tc qdisc del dev {} clsact`",
            a.name, a.name
        );
    }
}

fn epoll_for(fd: i32) -> Result<OwnedFd> {
    // SAFETY: epoll_create1 with a constant flag.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(std::io::Error::last_os_error()).context("epoll_create1");
    }
    // SAFETY: ep is a fresh fd we own.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 0,
    };
    // SAFETY: both fds are valid; ev outlives the call.
    if unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        return Err(std::io::Error::last_os_error()).context("epoll_ctl(ring buffer)");
    }
    Ok(ep)
}

impl Source for LiveSource {
    fn next(&mut self) -> Result<Next<'_>> {
        if self.next_span >= self.spans.len() {
            self.maintain();
            self.drain();
            if self.spans.is_empty() {
                self.wait();
                self.drain();
            }
        }
        let Some((h, from, to)) = self.next_record() else {
            return Ok(Next::Idle {
                now_us: clock::wall_now_us(),
            });
        };
        self.recv += 1;
        let link = if h.flags & FLAG_RAW_IP != 0 {
            LinkType::RAW
        } else {
            LinkType::ETHERNET
        };
        Ok(Next::Frame(Frame {
            ts_us: self.clock.to_wall_us(h.ts_ns),
            link,
            wire_len: h.wire_len,
            data: &self.batch[from..to],
        }))
    }

    fn link_type(&self) -> LinkType {
        self.link
    }

    fn snaplen(&self) -> u32 {
        self.snaplen
    }

    fn stats(&self) -> SourceStats {
        let k = self.counters.read();
        let (then, recv_then) = self.last_stats.get();
        let now = Instant::now();
        let secs = now.duration_since(then).as_secs_f64();
        let rate = if secs > 0.0 {
            (self.recv - recv_then) as f64 / secs
        } else {
            0.0
        };
        self.last_stats.set((now, self.recv));
        let mut lines = vec![
            ("recv     ", self.recv.to_string()),
            ("drop     ", k[counter::RING_FULL as usize].to_string()),
            ("packets  ", k[counter::PACKETS as usize].to_string()),
            ("tcp      ", k[counter::TCP as usize].to_string()),
            ("truncated", k[counter::TRUNCATED as usize].to_string()),
            ("unparsed ", k[counter::UNPARSED as usize].to_string()),
            ("filtered ", k[counter::FILTERED as usize].to_string()),
            ("events/s ", format!("{rate:.0}")),
        ];
        if self.malformed > 0 {
            lines.push(("malformed", self.malformed.to_string()));
        }
        SourceStats {
            title: "eBPF Statistics",
            lines,
        }
    }
}
