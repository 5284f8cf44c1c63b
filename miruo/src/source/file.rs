//! Capture files: classic pcap (µs and ns, either byte order) and pcapng (several interfaces
//! with their own link types and `if_tsresol`), from a path or from stdin (`-f -`), through
//! pcap-file. A damaged file yields every frame before the damage, then an error.

use super::{Frame, LinkType, Next, Source, SourceStats};
use anyhow::{Context, Result, anyhow, bail};
use pcap_file::Endianness;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::PcapNgReader;
use std::borrow::Cow;
use std::io::{Cursor, Read};
use std::time::Duration;

type Input = Box<dyn Read + Send>;

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
        let input: Input = if path == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(path).with_context(|| path.to_string())?)
        };
        FileSource::from_reader(path, input)
    }

    /// Reads a capture from any byte stream; `name` is used in error messages.
    pub fn from_reader(path: &str, mut input: Input) -> Result<FileSource> {
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
            let reader =
                PcapReader::new(input).map_err(|e| anyhow!("{path}: bad pcap file header: {e}"))?;
            let header = reader.header();
            // libpcap's checks: only version 2.x exists, and the reserved bits of the
            // link-type field must be zero (the FCS bits above them are allowed).
            if header.version_major != 2 {
                bail!(
                    "{path}: pcap version {}.{} is not supported (only 2.x exists)",
                    header.version_major,
                    header.version_minor
                );
            }
            if u32::from(header.datalink) & LINKTYPE_RESERVED != 0 {
                bail!(
                    "{path}: corrupt pcap header: reserved bits of the link-type field are set ({:#010x})",
                    u32::from(header.datalink)
                );
            }
            return Ok(FileSource {
                link: LinkType(u32::from(header.datalink) & LINKTYPE_MASK),
                snaplen: header.snaplen,
                format: Format::Pcap(reader),
                name,
                frames: 0,
                spill: Vec::new(),
            });
        }
        if magic == PCAPNG_MAGIC {
            let reader = PcapNgReader::new(input)
                .map_err(|e| anyhow!("{path}: bad pcapng section header: {e}"))?;
            let mut source = FileSource {
                link: LinkType(u32::MAX),
                snaplen: 0,
                format: Format::PcapNg(reader),
                name,
                frames: 0,
                spill: Vec::new(),
            };
            source.read_first_interface()?;
            return Ok(source);
        }
        bail!(
            "{path}: not a pcap or pcapng file (unknown magic number {:02x}{:02x}{:02x}{:02x})",
            magic[0],
            magic[1],
            magic[2],
            magic[3]
        )
    }

    /// pcapng: skips blocks until the first interface description; a file without any is
    /// reported as having no packets.
    fn read_first_interface(&mut self) -> Result<()> {
        let Format::PcapNg(reader) = &mut self.format else {
            return Ok(());
        };
        while reader.interfaces().is_empty() {
            match reader.next_block() {
                None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => bail!(
                    "{}: corrupt pcapng before the first interface: {e}",
                    self.name
                ),
            }
        }
        if let Some(idb) = reader.interfaces().first() {
            self.link = LinkType(u32::from(idb.linktype) & LINKTYPE_MASK);
            self.snaplen = idb.snaplen;
        } else {
            self.link = LinkType::ETHERNET;
        }
        Ok(())
    }
}

fn damaged(name: &str, frames: u64, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow!(
        "{name}: capture file damaged after {frames} packets: {what}; everything before it was processed"
    )
}

/// The link type is the low 16 bits of the header field; the others carry the FCS length
/// (libpcap's LT_LINKTYPE).
const LINKTYPE_MASK: u32 = 0xffff;
const LINKTYPE_RESERVED: u32 = 0x03ff_0000;

const PCAPNG_PACKET: u32 = 2;
const PCAPNG_SIMPLE_PACKET: u32 = 3;
const PCAPNG_ENHANCED_PACKET: u32 = 6;

/// The fields of a pcapng packet block (enhanced, simple or the obsolete packet block).
#[derive(Debug, PartialEq, Eq)]
struct PcapNgPacket {
    interface: u32,
    /// Raw time stamp (high, low word); simple packet blocks have none.
    ts: Option<(u32, u32)>,
    wire_len: u32,
    /// The captured bytes within the block body.
    data: std::ops::Range<usize>,
}

impl PcapNgPacket {
    /// `None` for blocks that are not packets, `Some(Err)` for a packet block too short for
    /// what it declares.
    fn parse(kind: u32, body: &[u8], order: Endianness) -> Option<Result<PcapNgPacket, ()>> {
        let word = |at: usize| -> Result<u32, ()> {
            let b: [u8; 4] = body.get(at..at + 4).ok_or(())?.try_into().map_err(|_| ())?;
            Ok(if order.is_little() {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            })
        };
        let packet = |interface: Result<u32, ()>, header: usize| -> Result<PcapNgPacket, ()> {
            let (caplen, wire_len) = (word(header - 8)? as usize, word(header - 4)?);
            let data = header..header.checked_add(caplen).ok_or(())?;
            if data.end > body.len() {
                return Err(());
            }
            Ok(PcapNgPacket {
                interface: interface?,
                ts: Some((word(header - 16)?, word(header - 12)?)),
                wire_len,
                data,
            })
        };
        Some(match kind {
            PCAPNG_ENHANCED_PACKET => packet(word(0), 20),
            PCAPNG_PACKET => {
                let id = word(0).map(|w| {
                    if order.is_little() {
                        w & 0xffff
                    } else {
                        w >> 16
                    }
                });
                packet(id, 20)
            }
            PCAPNG_SIMPLE_PACKET => word(0).map(|wire_len| PcapNgPacket {
                interface: 0,
                ts: None,
                wire_len,
                data: 4..body.len().min(4 + wire_len as usize),
            }),
            _ => return None,
        })
    }
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
    if text.contains("UnexpectedEof")
        || text.contains("unexpected end of file")
        || text.ends_with("failed to fill whole buffer")
    {
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
                    Ok(Next::Frame(Frame {
                        ts_us: micros(ts),
                        link: self.link,
                        wire_len,
                        data,
                    }))
                }
            },
            Format::PcapNg(reader) => {
                // Raw blocks: pcap-file keeps the section and interface state, and the packet
                // blocks are read here, so that a bad option (e.g. a comment that is not
                // UTF-8, which pcap-file refuses) does not cost the packet.
                let (block, state) = match reader.next_raw_block() {
                    None => return Ok(Next::End),
                    Some(Ok(b)) => b,
                    Some(Err(e)) => return Err(damaged(&self.name, self.frames, describe(&e))),
                };
                let Some(packet) =
                    PcapNgPacket::parse(block.type_, &block.body, state.endianness())
                else {
                    return Ok(Next::Metadata);
                };
                let Ok(packet) = packet else {
                    return Err(damaged(
                        &self.name,
                        self.frames,
                        "packet block shorter than its header or captured length",
                    ));
                };
                let ts = match packet.ts {
                    Some((high, low)) => state
                        .decode_timestamp(packet.interface, high, low)
                        .unwrap_or(Duration::ZERO),
                    None => Duration::ZERO,
                };
                let link = state
                    .interfaces()
                    .get(packet.interface as usize)
                    .map_or(LinkType(u32::MAX), |i| {
                        LinkType(u32::from(i.linktype) & LINKTYPE_MASK)
                    });
                let data = match block.body {
                    Cow::Borrowed(body) => &body[packet.data.clone()],
                    Cow::Owned(body) => {
                        self.spill = body;
                        &self.spill[packet.data.clone()]
                    }
                };
                self.frames += 1;
                let wire_len = packet.wire_len.max(data.len() as u32);
                Ok(Next::Frame(Frame {
                    ts_us: micros(ts),
                    link,
                    wire_len,
                    data,
                }))
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
        SourceStats::file(self.frames)
    }
}
