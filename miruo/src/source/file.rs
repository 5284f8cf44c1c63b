//! Capture files: classic pcap (µs and ns, either byte order) and pcapng (several interfaces
//! with their own link types and `if_tsresol`), from a path or from stdin (`-f -`), through
//! pcap-file. A damaged file yields every frame before the damage, then an error.

use super::{Frame, LinkType, Next, Source, SourceStats};
use anyhow::{Context, Result, anyhow, bail};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use std::borrow::Cow;
use std::io::{Cursor, Read};
use std::time::Duration;

type Input = Box<dyn Read>;

enum Format {
    Pcap(PcapReader<Input>),
    PcapNg(PcapNgReader<Input>),
}

pub struct FileSource {
    format: Format,
    /// Path as given, for error messages.
    name: String,
    link: LinkType,
    snaplen: u32,
    /// Frames handed out (the `recv` line of the statistics, F17).
    frames: u64,
    /// Holds a frame's bytes should pcap-file ever hand one out as an owned copy.
    spill: Vec<u8>,
}

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1], // µs, little-endian
    [0xa1, 0xb2, 0xc3, 0xd4], // µs, big-endian
    [0x4d, 0x3c, 0xb2, 0xa1], // ns, little-endian
    [0xa1, 0xb2, 0x3c, 0x4d], // ns, big-endian
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

fn micros(ts: Duration) -> i64 {
    // Seconds fit i64 for any u32/u64 capture time that matters; saturate instead of wrapping.
    i64::try_from(ts.as_secs())
        .unwrap_or(i64::MAX / 1_000_000)
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(ts.subsec_micros()))
}

impl FileSource {
    /// Opens `path` (`-` = stdin) and reads the file header (and, for pcapng, up to the first
    /// interface description, which gives the banner's link type).
    pub fn open(path: &str) -> Result<FileSource> {
        let mut input: Input = if path == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(path).with_context(|| path.to_string())?)
        };
        let mut magic = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match input.read(&mut magic[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).with_context(|| path.to_string()),
            }
        }
        if got < 4 {
            bail!("{path}: not a capture file (empty or shorter than a file header)");
        }
        let input: Input = Box::new(Cursor::new(magic).chain(input));
        let name = path.to_string();
        if PCAP_MAGICS.contains(&magic) {
            let reader = PcapReader::new(input).map_err(|e| anyhow!("{path}: bad pcap file header: {e}"))?;
            let header = reader.header();
            return Ok(FileSource {
                link: LinkType(header.datalink.into()),
                snaplen: header.snaplen,
                format: Format::Pcap(reader),
                name,
                frames: 0,
                spill: Vec::new(),
            });
        }
        if magic == PCAPNG_MAGIC {
            let reader = PcapNgReader::new(input).map_err(|e| anyhow!("{path}: bad pcapng section header: {e}"))?;
            let mut source = FileSource { link: LinkType(u32::MAX), snaplen: 0, format: Format::PcapNg(reader), name, frames: 0, spill: Vec::new() };
            source.read_first_interface()?;
            return Ok(source);
        }
        bail!("{path}: not a pcap or pcapng file (unknown magic number {:02x}{:02x}{:02x}{:02x})", magic[0], magic[1], magic[2], magic[3])
    }

    /// pcapng: skips blocks until the first interface description; a file without any is
    /// reported as having no packets.
    fn read_first_interface(&mut self) -> Result<()> {
        let Format::PcapNg(reader) = &mut self.format else { return Ok(()) };
        while reader.interfaces().is_empty() {
            match reader.next_block() {
                None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => bail!("{}: corrupt pcapng before the first interface: {e}", self.name),
            }
        }
        if let Some(idb) = reader.interfaces().first() {
            self.link = LinkType(idb.linktype.into());
            self.snaplen = idb.snaplen;
        } else {
            self.link = LinkType::ETHERNET;
        }
        Ok(())
    }

}

fn damaged(name: &str, frames: u64, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{name}: capture file damaged after {frames} packets: {what}; everything before it was processed")
}

/// pcap-file lends packet bytes from its read buffer; an owned copy is kept in `spill`.
fn borrow_or_spill<'a>(data: Cow<'a, [u8]>, spill: &'a mut Vec<u8>) -> &'a [u8] {
    match data {
        Cow::Borrowed(d) => d,
        Cow::Owned(v) => {
            *spill = v;
            spill
        }
    }
}

/// An I/O error's cause is the useful part ("failed to fill whole buffer", "Is a directory").
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    if text.contains("UnexpectedEof") || text.contains("unexpected end of file") || text.ends_with("failed to fill whole buffer") {
        text.push_str(" (file truncated?)");
    }
    text
}

impl Source for FileSource {
    fn next(&mut self) -> Result<Next<'_>> {
        match &mut self.format {
            Format::Pcap(reader) => match reader.next_packet() {
                None => Ok(Next::End),
                Some(Err(e)) => Err(damaged(&self.name, self.frames, describe(&e))),
                Some(Ok(p)) => {
                    self.frames += 1;
                    let (ts, wire_len) = (p.timestamp(), p.orig_len());
                    let data = borrow_or_spill(p.into_data(), &mut self.spill);
                    Ok(Next::Frame(Frame { ts_us: micros(ts), link: self.link, wire_len, data }))
                }
            },
            Format::PcapNg(reader) => {
                let (block, state) = match reader.next_block() {
                    None => return Ok(Next::End),
                    Some(Ok(b)) => b,
                    Some(Err(e)) => return Err(damaged(&self.name, self.frames, describe(&e))),
                };
                let link_of = |id: u32| {
                    state.interfaces().get(id as usize).map_or(LinkType(u32::MAX), |i| LinkType(i.linktype.into()))
                };
                let (ts, link, wire_len, data) = match block {
                    Block::EnhancedPacket(p) => (p.timestamp, link_of(p.interface_id), p.original_len, p.data),
                    Block::Packet(p) => (p.timestamp, link_of(u32::from(p.interface_id)), p.original_len, p.data),
                    // Simple packets have no time stamp and belong to the first interface.
                    Block::SimplePacket(p) => (Duration::ZERO, link_of(0), p.original_len, p.data),
                    _ => return Ok(Next::Metadata),
                };
                let data = borrow_or_spill(data, &mut self.spill);
                self.frames += 1;
                let wire_len = wire_len.max(data.len() as u32);
                Ok(Next::Frame(Frame { ts_us: micros(ts), link, wire_len, data }))
            }
        }
    }

    fn link_type(&self) -> LinkType {
        self.link
    }

    fn snaplen(&self) -> u32 {
        self.snaplen
    }

    fn stats(&self) -> SourceStats {
        SourceStats {
            title: "libpcap Statistics",
            lines: vec![("recv  ", self.frames.to_string()), ("drop  ", "0".into()), ("ifdrop", "0".into())],
        }
    }
}
