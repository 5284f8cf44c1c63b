//! Types shared by the kernel programs (`miruo-ebpf`) and user space (`miruo`): the ring-buffer
//! record and the counters. `no_std`, so the eBPF side can use it; the `user` feature adds what
//! only user space needs.
//!
//! The record is a fixed [`RecordHeader`] followed by the frame's first bytes. The kernel side
//! reserves one of a few fixed record sizes ([`RECORD_DATA_CLASSES`]) because
//! `bpf_ringbuf_reserve` takes only a constant size; the user side never relies on the class,
//! only on `cap_len` and the length of the ring item.
#![no_std]

/// Most frame bytes one record can carry. Bounds every copy the verifier has to check, and the
/// parser only looks at headers inside this window (a header chain longer than this — huge
/// IPv6 extension headers — is recorded as far as it goes and flagged [`FLAG_TRUNCATED`]).
pub const SNAP_MAX: usize = 256;

/// Data sizes of the record classes, smallest first. 96 bytes hold Ethernet + IPv4 + a TCP
/// header with the usual options (timestamps, SACK); 160 hold IPv6 with full TCP options and a
/// VLAN tag; [`SNAP_MAX`] is for DPI payload.
pub const RECORD_DATA_CLASSES: [usize; 3] = [96, 160, SNAP_MAX];

/// Default upper bound on the bytes recorded per frame when the caller does not ask for more.
pub const SNAP_DEFAULT: u32 = SNAP_MAX as u32;

/// Size of [`RecordHeader`] in the ring buffer.
pub const RECORD_HEADER_LEN: usize = core::mem::size_of::<RecordHeader>();

/// Direction of a frame relative to the interface it was seen on.
pub const DIR_INGRESS: u8 = 0;
pub const DIR_EGRESS: u8 = 1;

/// The frame starts with the IP header (tun, WireGuard, IP tunnels: devices without a link
/// header); otherwise it starts with an Ethernet header.
pub const FLAG_RAW_IP: u8 = 1 << 0;
/// The record ends before the end of the TCP header (frame too short, or the headers did not fit
/// in the snap length).
pub const FLAG_TRUNCATED: u8 = 1 << 1;
/// An IP fragment with a non-zero offset: it has no TCP header; recorded up to the end of its IP
/// headers so that user space counts and decodes it as a file replay would.
pub const FLAG_LATER_FRAGMENT: u8 = 1 << 2;
/// The parser gave up before reaching the transport header (too many VLAN tags or IPv6
/// extension headers); recorded so user space decides, as it would for a file.
pub const FLAG_UNPARSED: u8 = 1 << 3;

/// Fixed part of every ring-buffer record. `#[repr(C)]`, 24 bytes, 8-aligned (the ring buffer
/// reserves at 8-byte boundaries).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordHeader {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC in nanoseconds.
    pub ts_ns: u64,
    /// Length of the whole frame (for GSO/GRO super-packets the super-packet's length, as
    /// tcpdump sees it).
    pub wire_len: u32,
    pub ifindex: u32,
    /// Bytes of the frame that follow the header in this record.
    pub cap_len: u16,
    /// [`DIR_INGRESS`] or [`DIR_EGRESS`].
    pub direction: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Offset of the byte after the TCP header (or after the IP headers of a later fragment);
    /// 0 when unknown. Lets user space tell header bytes from payload bytes.
    pub hdr_end: u16,
    pub _reserved: u16,
}

impl RecordHeader {
    /// Reads a header from the start of a ring-buffer item; `None` if the item is too short.
    /// Fields are in native byte order (the kernel wrote them on this machine).
    pub fn from_bytes(b: &[u8]) -> Option<RecordHeader> {
        let b: &[u8; RECORD_HEADER_LEN] = b.get(..RECORD_HEADER_LEN)?.try_into().ok()?;
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[0..8]);
        Some(RecordHeader {
            ts_ns: u64::from_ne_bytes(ts),
            wire_len: u32_at(8),
            ifindex: u32_at(12),
            cap_len: u16_at(16),
            direction: b[18],
            flags: b[19],
            hdr_end: u16_at(20),
            _reserved: u16_at(22),
        })
    }
}

/// One ring-buffer record of data class `N` (one of [`RECORD_DATA_CLASSES`]).
#[repr(C)]
pub struct Record<const N: usize> {
    pub header: RecordHeader,
    pub data: [u8; N],
}

/// Indices of the per-CPU counters (a `PerCpuArray<u64>` named [`COUNTERS_MAP`]).
pub mod counter {
    /// Every frame a program ran on.
    pub const PACKETS: u32 = 0;
    /// TCP frames seen (including later fragments of TCP datagrams and unparsed ones), whether
    /// then recorded, [`FILTERED`] or lost to a full ring.
    pub const TCP: u32 = 1;
    /// Records that end before the end of the TCP header.
    pub const TRUNCATED: u32 = 2;
    /// Records lost because the ring buffer was full.
    pub const RING_FULL: u32 = 3;
    /// Frames whose header chain the parser could not follow to the end.
    pub const UNPARSED: u32 = 4;
    /// TCP frames not recorded because they fail the filter rules pushed into the kernel
    /// ([`crate::Config::rules`]); they were passed on like every other frame.
    pub const FILTERED: u32 = 5;
    /// Number of counters.
    pub const COUNT: u32 = 6;
    /// Labels for the statistics block, by index.
    pub const NAMES: [&str; COUNT as usize] = [
        "packets",
        "tcp",
        "truncated",
        "ring_full",
        "unparsed",
        "filtered",
    ];
}

/// Names of the maps and programs in the object, shared so the loader cannot drift. Program
/// names stay under 16 bytes: the kernel keeps only 15 characters (`bpftool prog` shows those).
pub const RING_MAP: &str = "RECORDS";
pub const COUNTERS_MAP: &str = "COUNTERS";
pub const CONFIG_GLOBAL: &str = "CONFIG";
pub const PROG_TC_INGRESS: &str = "miruo_tc_in";
pub const PROG_TC_EGRESS: &str = "miruo_tc_eg";
pub const PROG_TC_INGRESS_RAW: &str = "miruo_tc_in_raw";
pub const PROG_TC_EGRESS_RAW: &str = "miruo_tc_eg_raw";
pub const PROG_XDP: &str = "miruo_xdp";

/// Default ring-buffer size: holds ~35,000 small records, several milliseconds of a SYN flood.
pub const RING_BYTES_DEFAULT: u32 = 4 << 20;

/// Configuration the loader writes into the programs' `.rodata` before loading (a constant to
/// the verifier, so the bounds below prune code paths).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most frame bytes per record, `1..=SNAP_MAX`.
    pub snaplen: u32,
    /// TCP payload bytes to keep after the TCP header (0: headers only; DPI wants some).
    pub payload: u32,
    /// Wake the consumer only once this many bytes are waiting in the ring; below that it
    /// drains on its own timer. 0 wakes on every record.
    pub wakeup_bytes: u32,
    pub _reserved: u32,
    /// The filter expression's kernel part: a conjunction of up to [`MAX_RULES`] terms, ended
    /// by the first [`FilterRule::NONE`] (all `NONE`: everything is recorded). A TCP frame that
    /// fails one of them is counted in [`counter::FILTERED`] and not recorded. User space still
    /// runs the whole expression, so the rules only have to be implied by it: whatever they
    /// reject, the expression must reject too.
    pub rules: [FilterRule; MAX_RULES],
}

impl Config {
    pub const DEFAULT: Config = Config {
        snaplen: SNAP_DEFAULT,
        payload: 0,
        wakeup_bytes: 64 << 10,
        _reserved: 0,
        rules: [FilterRule::NONE; MAX_RULES],
    };
}

/// Most filter rules the kernel programs evaluate per frame (a bound for the verifier).
pub const MAX_RULES: usize = 8;

/// [`FilterRule::kind`]: unused slot; ends the list.
pub const RULE_NONE: u8 = 0;
/// An address test: `(address & mask) == addr` for the family in `family` (`host` is a full
/// mask, `net` its prefix or mask).
pub const RULE_ADDR: u8 = 1;
/// A TCP port test against `port`. A frame without ports (a later IP fragment, a TCP header
/// beyond the copied bytes) passes it: user space decides.
pub const RULE_PORT: u8 = 2;
/// The frame's IP version is `family` (`ip`, `ip6`).
pub const RULE_FAMILY: u8 = 3;

/// [`FilterRule::dir`] bits: the source side may match, the destination side may match
/// (both bits: either side, tcpdump's default).
pub const RULE_SRC: u8 = 1;
pub const RULE_DST: u8 = 2;

/// One term of the pushed-down conjunction.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterRule {
    /// `RULE_*`.
    pub kind: u8,
    /// `RULE_SRC` | `RULE_DST`.
    pub dir: u8,
    /// 4 or 6 (for `RULE_ADDR` and `RULE_FAMILY`).
    pub family: u8,
    pub _pad: u8,
    /// For `RULE_PORT`, in host byte order.
    pub port: u16,
    pub _pad2: u16,
    /// Address words exactly as they lie in the packet (network byte order, loaded natively),
    /// already masked; IPv4 uses the first word and leaves the others (and their mask) zero,
    /// so the kernel compares four words whatever the family.
    pub addr: [u32; 4],
    pub mask: [u32; 4],
}

impl FilterRule {
    pub const NONE: FilterRule = FilterRule {
        kind: RULE_NONE,
        dir: 0,
        family: 0,
        _pad: 0,
        port: 0,
        _pad2: 0,
        addr: [0; 4],
        mask: [0; 4],
    };
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}

// SAFETY: plain `#[repr(C)]` structs of integers with no padding (checked below), so any bit
// pattern is valid and every byte is initialised.
#[cfg(feature = "user")]
unsafe impl aya::Pod for Config {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for RecordHeader {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for FilterRule {}

const _: () = assert!(core::mem::size_of::<RecordHeader>() == 24);
const _: () = assert!(core::mem::size_of::<FilterRule>() == 40);
const _: () = assert!(core::mem::size_of::<Config>() == 16 + 40 * MAX_RULES);
const _: () = assert!(SNAP_MAX <= u16::MAX as usize);
