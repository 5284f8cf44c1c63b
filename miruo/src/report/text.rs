//! The text report on stdout (spec §6): banner, session header, segment, elision and destroy
//! lines in the normal, quiet (`-q`) and live (`--live`) formats, DPI lines, and the colours.
//! Byte-identical with the original's for well-formed input (compat.md "Kept exactly").
//!
//! Output is buffered; a failed write (a closed pipe, F18) is remembered and ends the run.

use super::bytes::{push_dec, push_dec0, push_hex8, push_left, push_right, push_spaces};
use super::clock::Clock;
use super::options;
use crate::session::state::Color;
use crate::session::{Dir, End, Endpoint, Report, Segment, Session};
use std::io::{self, Write};
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Normal,
    Quiet,
    Live,
}

pub struct TextReport<W: Write> {
    out: W,
    style: Style,
    color: bool,
    /// `-F`: print the fragment column.
    fragment_column: bool,
    clock: Clock,
    /// The line being built. Lines are assembled by hand rather than with `write!`: the report
    /// of a busy capture is most of miruo's work, and `core::fmt` padding costs several times
    /// more per line.
    line: Vec<u8>,
    failed: Option<io::Error>,
}

const DESTROY_WIDTH: usize = 46;

/// `addr:port`, or `[addr]:port` for IPv6.
fn push_endpoint(buf: &mut Vec<u8>, e: &Endpoint) {
    match e.addr {
        IpAddr::V4(a) => {
            for (i, octet) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                push_dec(buf, u64::from(octet), 0);
            }
        }
        IpAddr::V6(a) => {
            buf.push(b'[');
            // Rare enough that the standard formatter is fine.
            let _ = write!(buf, "{a}");
            buf.push(b']');
        }
    }
    buf.push(b':');
    push_dec(buf, u64::from(e.port), 0);
}

/// The six flag letters `UAPRSF`, `-` where clear.
fn flags6(flags: u8) -> [u8; 6] {
    let mut f = *b"UAPRSF";
    for (i, bit) in [0x20u8, 0x10, 0x08, 0x04, 0x02, 0x01]
        .into_iter()
        .enumerate()
    {
        if flags & bit == 0 {
            f[i] = b'-';
        }
    }
    f
}

impl<W: Write> TextReport<W> {
    pub fn new(out: W, style: Style, color: bool, fragment_column: bool, clock: Clock) -> Self {
        TextReport {
            out,
            style,
            color,
            fragment_column,
            clock,
            line: Vec::with_capacity(256),
            failed: None,
        }
    }

    /// The first write error, if output failed (e.g. the reader of a pipe went away).
    pub fn failed(&self) -> Option<&io::Error> {
        self.failed.as_ref()
    }

    pub fn flush(&mut self) {
        if self.failed.is_none()
            && let Err(e) = self.out.flush()
        {
            self.failed = Some(e);
        }
    }

    /// Writes a line that is not part of a session (the banner).
    pub fn plain_line(&mut self, text: &str) {
        self.line.clear();
        self.line.extend_from_slice(text.as_bytes());
        self.emit(None);
    }

    /// Writes `self.line` with a newline, wrapped in `color` when colours are on.
    fn emit(&mut self, color: Option<Color>) {
        if self.failed.is_some() {
            return;
        }
        let result = match color.filter(|_| self.color) {
            Some(c) => self
                .out
                .write_all(&[0x1b, b'[', b'0' + c.ansi() / 10, b'0' + c.ansi() % 10, b'm'])
                .and_then(|()| self.out.write_all(&self.line))
                .and_then(|()| self.out.write_all(b"\x1b[39m\n")),
            None => {
                self.line.push(b'\n');
                self.out.write_all(&self.line)
            }
        };
        if let Err(e) = result {
            self.failed = Some(e);
        }
    }

    fn push_time(&mut self, ts_us: i64) {
        let t = self.clock.format(ts_us);
        self.line.extend_from_slice(&t);
    }

    /// `SSSS` (normal) or nothing (quiet), then the connection time and the two endpoints.
    fn header(&mut self, s: &Session) {
        let ms = s.duration_ms().max(0) as u64;
        let mut client = Vec::with_capacity(48);
        push_endpoint(&mut client, &s.client);
        let mut server = Vec::with_capacity(48);
        push_endpoint(&mut server, &s.server);
        let b = &mut self.line;
        b.clear();
        if self.style == Style::Quiet {
            push_dec(b, ms / 1000, 8);
        } else {
            push_dec0(b, s.id, 4);
            b.push(b' ');
            push_dec(b, ms / 1000, 13);
        }
        b.push(b'.');
        push_dec0(b, ms % 1000, 3);
        b.extend_from_slice(if self.style == Style::Quiet {
            b"|"
        } else {
            b" |"
        });
        push_right(b, &client, 21);
        b.extend_from_slice(b" == ");
        push_left(b, &server, 21);
        b.push(b'|');
        if self.style == Style::Quiet {
            push_dec(b, s.total_segments, 0);
            b.extend_from_slice(b"seg(");
            push_dec(b, s.total_bytes, 0);
            b.push(b')');
        } else {
            b.extend_from_slice(b" Total ");
            push_dec(b, s.total_segments, 0);
            b.extend_from_slice(b" segments, ");
            push_dec(b, s.total_bytes, 0);
            b.extend_from_slice(b" bytes");
        }
        self.emit(Some(Color::Yellow));
    }

    fn segment(&mut self, s: &Session, seg: &Segment) {
        let arrow = match seg.dir {
            Dir::ToServer => b'>',
            Dir::ToClient => b'<',
        };
        let (cs, ss) = (
            seg.states[0].name().as_bytes(),
            seg.states[1].name().as_bytes(),
        );
        self.line.clear();
        if self.style != Style::Quiet {
            push_dec0(&mut self.line, s.id, 4);
            self.line.push(b':');
            push_dec0(&mut self.line, seg.id, 4);
            self.line.push(b' ');
        }
        self.push_time(seg.ts_us);
        let b = &mut self.line;
        if self.style == Style::Live {
            b.push(b' ');
            push_endpoint(b, &s.client);
            b.push(b' ');
        } else {
            b.extend_from_slice(if self.style == Style::Quiet {
                b"|"
            } else {
                b" |"
            });
            push_right(b, cs, 18);
            b.push(b' ');
        }
        b.push(arrow);
        b.extend_from_slice(&flags6(seg.flags));
        b.push(arrow);
        b.push(b' ');
        if self.style == Style::Live {
            push_endpoint(b, &s.server);
            b.push(b' ');
            let start = b.len();
            b.extend_from_slice(cs);
            b.push(b'/');
            b.extend_from_slice(ss);
            let used = b.len() - start;
            push_spaces(b, 23usize.saturating_sub(used));
            b.push(b' ');
        } else {
            push_left(b, ss, 18);
            b.extend_from_slice(if self.style == Style::Quiet {
                b"|"
            } else {
                b"| "
            });
        }
        push_hex8(b, seg.seq);
        b.push(b'/');
        push_hex8(b, seg.ack);
        if self.style != Style::Quiet {
            b.push(b' ');
            push_dec(b, u64::from(seg.wire_len), 4);
            b.push(b' ');
            if self.fragment_column {
                b.push(if seg.fragment { b'F' } else { b'-' });
            }
            b.extend_from_slice(b" <");
            options::render(seg.options.as_slice(), b);
            b.push(b'>');
        }
        self.emit(seg.color);
        for dpi in &seg.dpi {
            self.line.clear();
            self.line.extend_from_slice(dpi.as_bytes());
            self.emit(Some(Color::Green));
        }
    }

    fn elision(&mut self, s: &Session) {
        let b = &mut self.line;
        b.clear();
        if self.style != Style::Quiet {
            push_dec0(b, s.id, 4);
            b.extend_from_slice(b":**** ");
        }
        push_spaces(b, 12);
        b.extend_from_slice(if self.style == Style::Quiet {
            b"|"
        } else {
            b" |"
        });
        push_spaces(b, 46);
        b.push(b'|');
        self.emit(None);
    }

    fn destroy(&mut self, s: &Session, now_us: i64, message: &str, reason: &str) {
        let stored = s.segments.len() as u64;
        let right = DESTROY_WIDTH.saturating_sub(message.len()) / 2;
        let left = DESTROY_WIDTH.saturating_sub(message.len() + right);
        self.line.clear();
        if self.style != Style::Quiet {
            push_dec0(&mut self.line, s.id, 4);
            self.line.push(b':');
            push_dec0(&mut self.line, stored, 4);
            self.line.push(b' ');
        }
        self.push_time(now_us);
        let b = &mut self.line;
        match self.style {
            Style::Live => {
                b.push(b' ');
                b.extend_from_slice(message.as_bytes());
                b.extend_from_slice(b" (");
                b.extend_from_slice(reason.as_bytes());
                b.push(b')');
            }
            _ => {
                b.extend_from_slice(if self.style == Style::Quiet {
                    b"|"
                } else {
                    b" |"
                });
                push_spaces(b, left);
                b.extend_from_slice(message.as_bytes());
                push_spaces(b, right);
                b.extend_from_slice(if self.style == Style::Quiet {
                    b"|"
                } else {
                    b"| "
                });
                b.extend_from_slice(reason.as_bytes());
            }
        }
        self.emit(Some(Color::Red));
    }
}

impl<W: Write> Report for TextReport<W> {
    fn session_end(&mut self, s: &Session, end: End) {
        if self.style != Style::Live {
            self.header(s);
            let mut shown_before = false;
            for seg in &s.segments {
                if seg.mark {
                    self.segment(s, seg);
                    shown_before = true;
                } else if shown_before {
                    self.elision(s);
                    shown_before = false;
                }
            }
        }
        if let (Some((message, reason)), Some(now)) = (end.destroy_text(), end.now_us()) {
            self.destroy(s, now, message, reason);
        }
    }

    fn live_segment(&mut self, s: &Session, seg: &Segment) {
        self.segment(s, seg);
    }
}
