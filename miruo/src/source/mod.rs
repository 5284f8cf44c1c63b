//! Packet sources: where frames come from (a capture file, or the eBPF ring buffer).
//!
//! Every source yields the same [`Frame`]: capture time, link type, wire length and the captured
//! bytes. Everything after the source (decode → filter → sessions → report) is shared, so live
//! output and the replay of the same traffic are the same by construction.

pub mod file;
#[cfg(target_os = "linux")]
pub mod live;
pub mod stdin;

/// Link-layer header type of a frame, as numbered in pcap/pcapng files (LINKTYPE_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP as some old files number it (DLT_RAW on BSD / OpenBSD).
    pub const RAW_12: LinkType = LinkType(12);
    pub const RAW_14: LinkType = LinkType(14);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// libpcap's name and description, as the banner prints them; `None` for link types
    /// miruo cannot decode.
    pub fn name(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            LinkType::NULL => ("NULL", "BSD loopback"),
            LinkType::ETHERNET => ("EN10MB", "Ethernet"),
            LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => ("RAW", "Raw IP"),
            LinkType::LOOP => ("LOOP", "OpenBSD loopback"),
            LinkType::LINUX_SLL => ("LINUX_SLL", "Linux cooked v1"),
            LinkType::IPV4 => ("IPV4", "Raw IPv4"),
            LinkType::IPV6 => ("IPV6", "Raw IPv6"),
            LinkType::LINUX_SLL2 => ("LINUX_SLL2", "Linux cooked v2"),
            _ => return None,
        })
    }
}

/// One captured frame, borrowed from the source's buffer until the next call.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture time in microseconds since the Unix epoch (the original's resolution).
    pub ts_us: i64,
    pub link: LinkType,
    /// Length on the wire; `data` may be shorter (snap length).
    pub wire_len: u32,
    pub data: &'a [u8],
}

/// What a source hands to the pipeline next.
pub enum Next<'a> {
    Frame(Frame<'a>),
    /// Nothing arrived for a while (live sources only): the wall clock, in µs since the epoch,
    /// so that timeouts still fire on an idle link.
    Idle {
        now_us: i64,
    },
    /// No frame this time (a pcapng interface, statistics or name block, or a pipe that has
    /// nothing yet): call again.
    Metadata,
    /// The input is exhausted (end of file, or the capture was stopped).
    End,
}

/// Counters a source reports in the statistics block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Title of the statistics section (`libpcap Statistics`, `eBPF Statistics`, spec F17).
    pub title: &'static str,
    /// `(label, value)` lines of that section, in order (`recv`, `drop`, ...).
    pub lines: Vec<(&'static str, String)>,
}

impl SourceStats {
    /// A capture file's section: the original's libpcap lines, `recv` = frames read (F17).
    pub fn file(frames: u64) -> SourceStats {
        SourceStats {
            title: "libpcap Statistics",
            lines: vec![
                ("recv  ", frames.to_string()),
                ("drop  ", "0".into()),
                ("ifdrop", "0".into()),
            ],
        }
    }
}

/// A packet source. `next` may block (live) but must return `Idle` at least every few
/// milliseconds while nothing arrives, so the caller can handle timeouts and signals.
pub trait Source {
    fn next(&mut self) -> anyhow::Result<Next<'_>>;
    /// Link type for the banner: the first interface's for files with several.
    fn link_type(&self) -> LinkType;
    /// Snap length for the banner.
    fn snaplen(&self) -> u32;
    fn stats(&self) -> SourceStats;
}
