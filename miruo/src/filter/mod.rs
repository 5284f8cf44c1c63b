//! The filter expression (the words after the options): tcpdump's language compiled by
//! libpcap itself (`pcap_compile` on a dead handle of the frame's link type) and run on each
//! frame as captured (`pcap_offline_filter`), so a file and a live capture are filtered alike
//! and `miruo EXPR` keeps exactly the frames `tcpdump EXPR` keeps.
//!
//! A pcapng file can mix link types, so there is one compiled program per link type, compiled
//! when the first frame of that type arrives.
//!
//! [`pushdown`] recognises the part of the language that live capture can also evaluate in the
//! kernel (host/net/port terms joined by `and`), so excluded traffic never reaches the ring.

pub mod pushdown;

use crate::source::{Frame, LinkType};
use pcap::{BpfProgram, Capture, Linktype};
use std::os::raw::{c_int, c_void};

pub struct Filter {
    expression: String,
    /// Programs by link type; `None` where the expression does not compile for that link type
    /// (e.g. `vlan` on raw IP): such frames never match.
    programs: Vec<(LinkType, Option<BpfProgram>)>,
    /// Frames of link types the expression could not be compiled for.
    pub uncompilable: u64,
}

/// libpcap's DLT for a file's LINKTYPE: the same number except for raw IP.
fn dlt(link: LinkType) -> i32 {
    match link {
        LinkType::RAW | LinkType::RAW_14 => 12,
        other => other.0 as i32,
    }
}

fn compile(expression: &str, link: LinkType) -> Result<BpfProgram, String> {
    let dead = Capture::dead(Linktype(dlt(link))).map_err(|e| e.to_string())?;
    // Optimised like tcpdump's default; netmask 0 as the original (so `ip broadcast` fails).
    dead.compile(expression, true).map_err(|e| match e {
        pcap::Error::PcapError(msg) => msg,
        other => other.to_string(),
    })
}

#[repr(C)]
struct PktHeader {
    ts: libc::timeval,
    caplen: u32,
    len: u32,
}

unsafe extern "C" {
    fn pcap_offline_filter(
        program: *const c_void,
        header: *const PktHeader,
        packet: *const u8,
    ) -> c_int;
}

impl Filter {
    /// Compiles `expression` for the capture's link type; the error is libpcap's message.
    pub fn new(expression: &str, link: LinkType) -> Result<Filter, String> {
        let program = compile(expression, link)?;
        Ok(Filter {
            expression: expression.to_string(),
            programs: vec![(link, Some(program))],
            uncompilable: 0,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// Whether the frame passes the expression.
    pub fn matches(&mut self, frame: &Frame<'_>) -> bool {
        let at = match self.programs.iter().position(|(l, _)| *l == frame.link) {
            Some(at) => at,
            None => {
                self.programs
                    .push((frame.link, compile(&self.expression, frame.link).ok()));
                self.programs.len() - 1
            }
        };
        let Some(program) = &self.programs[at].1 else {
            self.uncompilable += 1;
            return false;
        };
        let header = PktHeader {
            ts: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            caplen: frame.data.len() as u32,
            // The wire length, so `len`/`greater` see what tcpdump sees on truncated frames.
            len: frame.wire_len.max(frame.data.len() as u32),
        };
        // SAFETY: BpfProgram is a #[repr(transparent)] wrapper of libpcap's `struct
        // bpf_program`; the header and the packet pointer describe `frame.data` exactly, and
        // pcap_offline_filter reads at most `caplen` bytes.
        unsafe {
            pcap_offline_filter(
                program as *const BpfProgram as *const c_void,
                &header,
                frame.data.as_ptr(),
            ) > 0
        }
    }
}
