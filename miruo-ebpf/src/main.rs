//! miruo's kernel programs: a TC classifier (ingress and egress, TCX or clsact) and an XDP
//! program that copy the first bytes of every TCP frame — up to the end of the TCP header, plus
//! `Config::payload` payload bytes for DPI — into the `RECORDS` ring buffer with the kernel
//! time, wire length, interface and direction. Built for `bpfel-unknown-none` only (by
//! `miruo/build.rs`).
//!
//! What this module must never do: change or drop traffic. Every program returns
//! `TC_ACT_UNSPEC` (TCX "next": hand the packet to the next program, then pass) or `XDP_PASS`,
//! whatever it found, including when the ring is full.
//!
//! Parsing: Ethernet, up to three 802.1Q/802.1ad tags, IPv4 (options; fragments), IPv6 with
//! extension headers (hop-by-hop, routing, destination options, fragment, AH, mobility, HIP,
//! shim6), TCP. The frame's first `SNAP_MAX` bytes are first copied into a per-CPU scratch
//! buffer and parsed there, so every read is a bounded offset into a map value (simple for the
//! verifier, and it works on non-linear skbs). Frames that are not TCP are only counted.
//! Notes on what is recorded for the odd cases:
//! - a later IP fragment (offset ≠ 0) of a TCP datagram has no TCP header: it is recorded up to
//!   the end of its IP headers with `FLAG_LATER_FRAGMENT`, so user space sees it exactly as a
//!   tcpdump file would show it (the original drops such packets in user space);
//! - a header chain that does not fit in `SNAP_MAX` bytes or needs more than the unrolled steps
//!   is recorded with `FLAG_UNPARSED` and user space's decoder decides;
//! - a frame cut short inside its headers is not TCP as far as anyone can tell, and passes
//!   uncounted except in `PACKETS`; a TCP header that does not fit the snap length gives a
//!   record with `FLAG_TRUNCATED`;
//! - on TC ingress the kernel has already moved a VLAN tag into skb metadata, so the bytes seen
//!   there are untagged (tcpdump re-inserts the tag; we do not need it).
//!
//! Filter push-down: `Config::rules` (a conjunction of address, port and IP-version tests the
//! loader derived from the filter expression) is evaluated once the TCP header is parsed. A
//! frame that fails it is counted in `counter::FILTERED` and not recorded — and passed, like
//! every frame. User space still runs the whole expression, so the rules only need to be
//! implied by it: when unsure (a later fragment has no ports, an unparsed header chain has no
//! known addresses) a rule passes and user space decides.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    bindings::{
        BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP, TC_ACT_UNSPEC, xdp_action,
    },
    cty::{c_long, c_void},
    helpers::{
        bpf_ktime_get_ns,
        generated::{bpf_skb_load_bytes, bpf_xdp_get_buff_len, bpf_xdp_load_bytes},
    },
    macros::{classifier, map, xdp},
    maps::{PerCpuArray, RingBuf},
    programs::{TcContext, XdpContext},
};
use miruo_common::{
    Config, DIR_EGRESS, DIR_INGRESS, FLAG_LATER_FRAGMENT, FLAG_RAW_IP, FLAG_TRUNCATED,
    FLAG_UNPARSED, MAX_RULES, RING_BYTES_DEFAULT, RULE_ADDR, RULE_DST, RULE_FAMILY, RULE_NONE,
    RULE_PORT, RULE_SRC, Record, RecordHeader, SNAP_MAX, counter,
};

/// Written by the loader before the programs are loaded (`.rodata`): the verifier sees the
/// values as constants.
#[unsafe(no_mangle)]
static CONFIG: Config = Config::DEFAULT;

#[map]
static RECORDS: RingBuf = RingBuf::with_byte_size(RING_BYTES_DEFAULT, 0);

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// The frame's first bytes, parsed in place. Per-CPU: a program runs to completion on one CPU.
#[map]
static SCRATCH: PerCpuArray<[u8; SNAP_MAX]> = PerCpuArray::with_max_entries(1, 0);

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const ETH_P_QINQ_OLD: u16 = 0x9100;
const IPPROTO_TCP: u8 = 6;
/// VLAN tags followed before giving up (QinQ is two; one spare).
const MAX_VLAN_TAGS: usize = 3;
/// IPv6 extension headers followed before giving up (the loop must be bounded and unrollable).
const MAX_IPV6_EXT: usize = 6;

#[classifier]
pub fn miruo_tc_in(ctx: TcContext) -> i32 {
    tc::<false>(&ctx, DIR_INGRESS)
}

#[classifier]
pub fn miruo_tc_eg(ctx: TcContext) -> i32 {
    tc::<false>(&ctx, DIR_EGRESS)
}

/// For devices without a link header (tun, WireGuard, IP tunnels): the frame starts at IP.
#[classifier]
pub fn miruo_tc_in_raw(ctx: TcContext) -> i32 {
    tc::<true>(&ctx, DIR_INGRESS)
}

#[classifier]
pub fn miruo_tc_eg_raw(ctx: TcContext) -> i32 {
    tc::<true>(&ctx, DIR_EGRESS)
}

#[xdp]
pub fn miruo_xdp(ctx: XdpContext) -> u32 {
    let frame = XdpFrame(&ctx);
    // SAFETY: ctx points to the kernel's xdp_md for the duration of the program.
    let ifindex = unsafe { (*ctx.ctx).ingress_ifindex };
    capture::<false, _>(&frame, ifindex, DIR_INGRESS);
    xdp_action::XDP_PASS
}

#[inline(always)]
fn tc<const RAW: bool>(ctx: &TcContext, direction: u8) -> i32 {
    // SAFETY: ctx.skb points to the kernel's __sk_buff for the duration of the program.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    capture::<RAW, _>(&TcFrame(ctx), ifindex, direction);
    // "Next program, else pass": we only observe, and must not pre-empt whatever is attached
    // after us.
    TC_ACT_UNSPEC
}

/// Byte access to the frame under inspection, the same for skbs and XDP buffers.
trait FrameBytes {
    /// Length of the whole frame. 64-bit on purpose: a u32 truncation of the XDP helper's
    /// result lets LLVM pass the untruncated register on, which the verifier then rejects as
    /// possibly negative.
    fn len(&self) -> u64;
    /// Copies `len` bytes from `offset` to `dst`; negative on error.
    fn load(&self, offset: u32, dst: *mut c_void, len: u32) -> c_long;
}

struct TcFrame<'a>(&'a TcContext);

impl FrameBytes for TcFrame<'_> {
    #[inline(always)]
    fn len(&self) -> u64 {
        u64::from(self.0.len())
    }
    #[inline(always)]
    fn load(&self, offset: u32, dst: *mut c_void, len: u32) -> c_long {
        // SAFETY: the helper checks offset/len against the skb; dst has room for len bytes
        // (callers bound len by the destination's size).
        unsafe { bpf_skb_load_bytes(self.0.as_ptr(), offset, dst, len) }
    }
}

struct XdpFrame<'a>(&'a XdpContext);

impl FrameBytes for XdpFrame<'_> {
    #[inline(always)]
    fn len(&self) -> u64 {
        // Includes the fragments of a multi-buffer frame, like skb->len.
        // SAFETY: plain helper call on the program's own context.
        unsafe { bpf_xdp_get_buff_len(self.0.ctx) }
    }
    #[inline(always)]
    fn load(&self, offset: u32, dst: *mut c_void, len: u32) -> c_long {
        // SAFETY: as for TcFrame::load.
        unsafe { bpf_xdp_load_bytes(self.0.ctx, offset, dst, len) }
    }
}

#[inline(always)]
fn count(index: u32) {
    if let Some(p) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, and a program is not preempted by itself on the same CPU.
        unsafe { *p += 1 };
    }
}

/// Where the IP header starts and which version it is: what the filter rules read.
#[derive(Clone, Copy)]
struct Ip {
    l3: usize,
    v6: bool,
}

/// What the parser found.
enum Parsed {
    NotTcp,
    /// A TCP segment; `hdr_end` is the offset after the TCP header (may exceed the frame when
    /// the frame is cut short); `l4` where the TCP header starts.
    Tcp {
        hdr_end: usize,
        ip: Ip,
        l4: usize,
    },
    /// A fragment with a non-zero offset of a TCP datagram: IP headers only.
    LaterFragment {
        hdr_end: usize,
        ip: Ip,
    },
    /// The header chain went on beyond what the parser follows.
    Unparsed,
}

/// Bounded view of the scratch copy: `n` bytes of the frame are valid.
struct Bytes<'a> {
    buf: &'a [u8; SNAP_MAX],
    n: usize,
}

impl Bytes<'_> {
    #[inline(always)]
    fn u8(&self, off: usize) -> Option<u8> {
        if off >= self.n {
            return None;
        }
        self.buf.get(off).copied()
    }
    #[inline(always)]
    fn u16(&self, off: usize) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8(off)?, self.u8(off + 1)?]))
    }
    /// Four bytes as they lie in the frame (the filter rules store addresses the same way).
    #[inline(always)]
    fn word(&self, off: usize) -> Option<u32> {
        Some(u32::from_ne_bytes([
            self.u8(off)?,
            self.u8(off + 1)?,
            self.u8(off + 2)?,
            self.u8(off + 3)?,
        ]))
    }
}

#[inline(always)]
fn capture<const RAW: bool, F: FrameBytes>(frame: &F, ifindex: u32, direction: u8) {
    count(counter::PACKETS);
    let len = frame.len();
    let n = if len > SNAP_MAX as u64 {
        SNAP_MAX as u64
    } else {
        len
    };
    if n == 0 {
        return;
    }
    let Some(scratch) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    if frame.load(0, scratch.cast(), n as u32) < 0 {
        return;
    }
    // SAFETY: the map value lives as long as the program run; only this CPU uses it now.
    let bytes = Bytes {
        buf: unsafe { &*scratch },
        n: n as usize,
    };
    // A frame longer than what we copied may have headers beyond the window: "unparsed", not
    // "not TCP".
    let cut = len > SNAP_MAX as u64;
    let parsed = if RAW {
        parse_ip(&bytes, 0, None, cut)
    } else {
        parse_ethernet(&bytes, cut)
    };
    let (hdr_end, mut flags, at) = match parsed {
        Parsed::NotTcp => return,
        Parsed::Tcp { hdr_end, ip, l4 } => (hdr_end, 0, Some((ip, Some(l4)))),
        Parsed::LaterFragment { hdr_end, ip } => (hdr_end, FLAG_LATER_FRAGMENT, Some((ip, None))),
        Parsed::Unparsed => {
            count(counter::UNPARSED);
            (SNAP_MAX, FLAG_UNPARSED, None)
        }
    };
    count(counter::TCP);
    // An unparsed chain has no known addresses: recorded, user space decides.
    if let Some((ip, l4)) = at
        && !passes_rules(&bytes, ip, l4)
    {
        count(counter::FILTERED);
        return;
    }
    if RAW {
        flags |= FLAG_RAW_IP;
    }

    // Field by field rather than the whole (336-byte) struct, which would not fit the BPF stack
    // next to everything else.
    let snap = cfg_u32(&raw const CONFIG.snaplen);
    let payload = cfg_u32(&raw const CONFIG.payload);
    let wakeup_bytes = cfg_u32(&raw const CONFIG.wakeup_bytes);
    let snaplen = if snap == 0 || snap as usize > SNAP_MAX {
        SNAP_MAX
    } else {
        snap as usize
    };
    let mut cap = hdr_end.saturating_add(payload as usize);
    if cap > snaplen {
        cap = snaplen;
    }
    if cap as u64 > len {
        cap = len as usize;
    }
    if cap < hdr_end && flags & FLAG_UNPARSED == 0 {
        flags |= FLAG_TRUNCATED;
        count(counter::TRUNCATED);
    }
    let header = RecordHeader {
        // SAFETY: plain helper call.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        wire_len: if len > u64::from(u32::MAX) {
            u32::MAX
        } else {
            len as u32
        },
        ifindex,
        cap_len: cap as u16,
        direction,
        flags,
        hdr_end: if hdr_end > u16::MAX as usize {
            0
        } else {
            hdr_end as u16
        },
        _reserved: 0,
    };
    let wakeup = wakeup_bytes as u64;
    // One code path per record class: bpf_ringbuf_reserve needs a constant size.
    if cap <= 96 {
        emit::<96, F>(frame, header, cap, wakeup);
    } else if cap <= 160 {
        emit::<160, F>(frame, header, cap, wakeup);
    } else {
        emit::<SNAP_MAX, F>(frame, header, cap, wakeup);
    }
}

/// Reads a configuration value. Volatile so the compiler does not fold in the defaults the
/// object was built with; the verifier still sees a constant (`.rodata` is frozen), which
/// prunes the code of unused rules.
#[inline(always)]
fn cfg_u32(p: *const u32) -> u32 {
    // SAFETY: p points into CONFIG, a read-only global the loader filled in.
    unsafe { core::ptr::read_volatile(p) }
}

#[inline(always)]
fn cfg_u16(p: *const u16) -> u16 {
    // SAFETY: as for cfg_u32.
    unsafe { core::ptr::read_volatile(p) }
}

#[inline(always)]
fn cfg_u8(p: *const u8) -> u8 {
    // SAFETY: as for cfg_u32.
    unsafe { core::ptr::read_volatile(p) }
}

/// Whether the frame passes every pushed-down filter rule (`Config::rules`, up to the first
/// `RULE_NONE`). `l4`: where the TCP header starts, `None` for a later fragment. Fields that
/// are not in the copied bytes make a rule pass (user space, with the whole expression,
/// decides then).
#[inline(always)]
fn passes_rules(b: &Bytes<'_>, ip: Ip, l4: Option<usize>) -> bool {
    if cfg_u8(&raw const CONFIG.rules[0].kind) == RULE_NONE {
        return true;
    }
    // Addresses as four words each; IPv4 uses the first (the rules' other mask words are 0).
    let mut src = [0u32; 4];
    let mut dst = [0u32; 4];
    let (src_at, dst_at, words) = if ip.v6 {
        (ip.l3 + 8, ip.l3 + 24, 4)
    } else {
        (ip.l3 + 12, ip.l3 + 16, 1)
    };
    for w in 0..4 {
        if w < words {
            let (Some(s), Some(d)) = (b.word(src_at + 4 * w), b.word(dst_at + 4 * w)) else {
                return true;
            };
            src[w] = s;
            dst[w] = d;
        }
    }
    let ports = match l4 {
        Some(l4) => match (b.u16(l4), b.u16(l4 + 2)) {
            (Some(s), Some(d)) => Some((s, d)),
            _ => None,
        },
        None => None,
    };
    let family = if ip.v6 { 6 } else { 4 };
    for i in 0..MAX_RULES {
        let r = &raw const CONFIG.rules[i];
        // SAFETY (all reads below): r points into CONFIG (i < MAX_RULES).
        let kind = cfg_u8(unsafe { &raw const (*r).kind });
        if kind == RULE_NONE {
            break;
        }
        let dir = cfg_u8(unsafe { &raw const (*r).dir });
        let ok = match kind {
            RULE_FAMILY => cfg_u8(unsafe { &raw const (*r).family }) == family,
            RULE_PORT => match ports {
                Some((s, d)) => {
                    let port = cfg_u16(unsafe { &raw const (*r).port });
                    (dir & RULE_SRC != 0 && s == port) || (dir & RULE_DST != 0 && d == port)
                }
                None => true,
            },
            RULE_ADDR => {
                cfg_u8(unsafe { &raw const (*r).family }) == family
                    && ((dir & RULE_SRC != 0 && addr_matches(r, &src))
                        || (dir & RULE_DST != 0 && addr_matches(r, &dst)))
            }
            // Unknown kinds (a newer loader?) pass: never hide what user space would keep.
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

#[inline(always)]
fn addr_matches(r: *const miruo_common::FilterRule, a: &[u32; 4]) -> bool {
    for (w, &word) in a.iter().enumerate() {
        // SAFETY: r points into CONFIG.
        let (want, mask) = unsafe {
            (
                cfg_u32(&raw const (*r).addr[w]),
                cfg_u32(&raw const (*r).mask[w]),
            )
        };
        if word & mask != want {
            return false;
        }
    }
    true
}

#[inline(always)]
fn emit<const N: usize, F: FrameBytes>(frame: &F, header: RecordHeader, cap: usize, wakeup: u64) {
    let Some(mut entry) = RECORDS.reserve::<Record<N>>(0) else {
        count(counter::RING_FULL);
        return;
    };
    let rec = entry.as_mut_ptr();
    // SAFETY: `rec` points to a reserved, writable Record<N> in the ring.
    unsafe { core::ptr::addr_of_mut!((*rec).header).write(header) };
    // Re-checked here so the verifier sees 1..=N for the copy length.
    if cap == 0 || cap > N {
        entry.discard(BPF_RB_NO_WAKEUP as u64);
        return;
    }
    // SAFETY: the data array has N ≥ cap bytes.
    let dst = unsafe { core::ptr::addr_of_mut!((*rec).data) };
    if frame.load(0, dst.cast(), cap as u32) < 0 {
        entry.discard(BPF_RB_NO_WAKEUP as u64);
        return;
    }
    // Batched wake-ups: the consumer also drains on a short timer, so waking it for every
    // record would only cost CPU (measured: 4x less consumer CPU with batching). Wake only the
    // record that crosses the threshold: a forced wake-up costs ~6 µs here (measured with
    // BPF_PROG_TEST_RUN: 172 ns per record without, 6.5 µs with), so forcing one per record
    // while the consumer lags behind would slow the traffic exactly when it is heaviest.
    // `pending` includes this record (reserved, not yet submitted) and its 8-byte ring header.
    let pending = RECORDS.query(BPF_RB_AVAIL_DATA as u64);
    let size = (core::mem::size_of::<Record<N>>() + 8) as u64;
    let flags = if pending >= wakeup && pending - size < wakeup {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    entry.submit(flags as u64);
}

#[inline(always)]
fn parse_ethernet(b: &Bytes<'_>, cut: bool) -> Parsed {
    let short = if cut {
        Parsed::Unparsed
    } else {
        Parsed::NotTcp
    };
    let Some(mut ethertype) = b.u16(12) else {
        return short;
    };
    let mut off = ETH_HLEN;
    for _ in 0..MAX_VLAN_TAGS {
        if !matches!(ethertype, ETH_P_8021Q | ETH_P_8021AD | ETH_P_QINQ_OLD) {
            break;
        }
        let Some(inner) = b.u16(off + 2) else {
            return short;
        };
        ethertype = inner;
        off += 4;
    }
    match ethertype {
        ETH_P_IP => parse_ip(b, off, Some(4), cut),
        ETH_P_IPV6 => parse_ip(b, off, Some(6), cut),
        ETH_P_8021Q | ETH_P_8021AD | ETH_P_QINQ_OLD => Parsed::Unparsed,
        _ => Parsed::NotTcp,
    }
}

/// `version`: what the link header announced; `None` for raw-IP devices (read it from the
/// first nibble).
#[inline(always)]
fn parse_ip(b: &Bytes<'_>, l3: usize, version: Option<u8>, cut: bool) -> Parsed {
    let short = if cut {
        Parsed::Unparsed
    } else {
        Parsed::NotTcp
    };
    let Some(first) = b.u8(l3) else {
        return short;
    };
    let v = first >> 4;
    if version.is_some_and(|want| want != v) {
        return Parsed::NotTcp;
    }
    match v {
        4 => parse_ipv4(b, l3, first, cut),
        6 => parse_ipv6(b, l3, cut),
        _ => Parsed::NotTcp,
    }
}

#[inline(always)]
fn parse_ipv4(b: &Bytes<'_>, l3: usize, first: u8, cut: bool) -> Parsed {
    let short = if cut {
        Parsed::Unparsed
    } else {
        Parsed::NotTcp
    };
    let ihl = ((first & 0x0f) as usize) * 4;
    if ihl < 20 {
        return Parsed::NotTcp;
    }
    let (Some(frag), Some(proto)) = (b.u16(l3 + 6), b.u8(l3 + 9)) else {
        return short;
    };
    if proto != IPPROTO_TCP {
        return Parsed::NotTcp;
    }
    let l4 = l3 + ihl;
    let ip = Ip { l3, v6: false };
    if frag & 0x1fff != 0 {
        return Parsed::LaterFragment { hdr_end: l4, ip };
    }
    tcp_end(b, ip, l4)
}

#[inline(always)]
fn parse_ipv6(b: &Bytes<'_>, l3: usize, cut: bool) -> Parsed {
    let short = if cut {
        Parsed::Unparsed
    } else {
        Parsed::NotTcp
    };
    let Some(mut next) = b.u8(l3 + 6) else {
        return short;
    };
    let mut off = l3 + 40;
    let ip = Ip { l3, v6: true };
    let mut later_fragment = false;
    for _ in 0..MAX_IPV6_EXT {
        let len = match next {
            IPPROTO_TCP => {
                return if later_fragment {
                    Parsed::LaterFragment { hdr_end: off, ip }
                } else {
                    tcp_end(b, ip, off)
                };
            }
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6: length in
            // 8-byte units, not counting the first 8.
            0 | 43 | 60 | 135 | 139 | 140 => {
                let Some(l) = b.u8(off + 1) else {
                    return short;
                };
                (l as usize + 1) * 8
            }
            // Fragment header: fixed 8 bytes.
            44 => {
                let Some(fo) = b.u16(off + 2) else {
                    return short;
                };
                if fo >> 3 != 0 {
                    later_fragment = true;
                }
                8
            }
            // Authentication header: length in 4-byte units, not counting the first 2.
            51 => {
                let Some(l) = b.u8(off + 1) else {
                    return short;
                };
                (l as usize + 2) * 4
            }
            // ESP, no-next-header, or any other upper layer.
            _ => return Parsed::NotTcp,
        };
        let Some(n) = b.u8(off) else {
            return short;
        };
        next = n;
        off += len;
    }
    match next {
        IPPROTO_TCP if later_fragment => Parsed::LaterFragment { hdr_end: off, ip },
        IPPROTO_TCP => tcp_end(b, ip, off),
        _ => Parsed::Unparsed,
    }
}

#[inline(always)]
fn tcp_end(b: &Bytes<'_>, ip: Ip, l4: usize) -> Parsed {
    // Data offset in 32-bit words; a frame cut before it still counts as TCP (truncated),
    // with the minimal header as the end we wanted.
    let doff = b.u8(l4 + 12).map_or(20, |d| ((d >> 4) as usize) * 4);
    Parsed::Tcp {
        hdr_end: l4 + if doff < 20 { 20 } else { doff },
        ip,
        l4,
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// License the kernel reads (miruo is GPL-3.0-or-later); GPL-compatible programs may use every
/// helper.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
