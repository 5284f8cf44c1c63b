//! The text report on stdout (spec §6): banner, session header, segment, elision and destroy
//! lines in the normal, quiet (`-q`) and live (`--live`) formats, DPI lines, and the colours.
//! Byte-identical with the original's for well-formed input (compat.md "Kept exactly").
//!
//! Output is buffered; a failed write (a closed pipe, F18) is remembered and ends the run.

use super::clock::Clock;
use super::options;
use crate::session::state::Color;
use crate::session::{Dir, End, Endpoint, Report, Segment, Session};
use std::fmt::Write as _;
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
    line: String,
    failed: Option<io::Error>,
}

const DESTROY_WIDTH: usize = 46;

fn endpoint(e: &Endpoint) -> String {
    match e.addr {
        IpAddr::V4(a) => format!("{a}:{}", e.port),
        IpAddr::V6(a) => format!("[{a}]:{}", e.port),
    }
}

fn flags6(flags: u8) -> [u8; 6] {
    let mut f = *b"UAPRSF";
    for (i, bit) in [0x20u8, 0x10, 0x08, 0x04, 0x02, 0x01].into_iter().enumerate() {
        if flags & bit == 0 {
            f[i] = b'-';
        }
    }
    f
}

impl<W: Write> TextReport<W> {
    pub fn new(out: W, style: Style, color: bool, fragment_column: bool, clock: Clock) -> Self {
        TextReport { out, style, color, fragment_column, clock, line: String::with_capacity(256), failed: None }
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
        self.line.push_str(text);
        self.emit(None);
    }

    /// Writes `self.line` with a newline, wrapped in `color` when colours are on.
    fn emit(&mut self, color: Option<Color>) {
        if self.failed.is_some() {
            return;
        }
        let result = match color.filter(|_| self.color) {
            Some(c) => writeln!(self.out, "\x1b[{}m{}\x1b[39m", c.ansi(), self.line),
            None => writeln!(self.out, "{}", self.line),
        };
        if let Err(e) = result {
            self.failed = Some(e);
        }
    }

    fn time(&mut self, ts_us: i64) -> String {
        let t = self.clock.format(ts_us);
        String::from_utf8_lossy(&t).into_owned()
    }

    fn header(&mut self, s: &Session) {
        let ms = s.duration_ms();
        let (client, server) = (endpoint(&s.client), endpoint(&s.server));
        self.line.clear();
        let _ = match self.style {
            Style::Quiet => write!(
                self.line,
                "{:8}.{:03}|{client:>21} == {server:<21}|{}seg({})",
                ms / 1000,
                ms % 1000,
                s.total_segments,
                s.total_bytes
            ),
            _ => write!(
                self.line,
                "{:04} {:13}.{:03} |{client:>21} == {server:<21}| Total {} segments, {} bytes",
                s.id,
                ms / 1000,
                ms % 1000,
                s.total_segments,
                s.total_bytes
            ),
        };
        self.emit(Some(Color::Yellow));
    }

    fn segment(&mut self, s: &Session, seg: &Segment) {
        let time = self.time(seg.ts_us);
        let arrow = match seg.dir {
            Dir::ToServer => '>',
            Dir::ToClient => '<',
        };
        let flags = flags6(seg.flags);
        let flags = std::str::from_utf8(&flags).unwrap_or("------");
        let (cs, ss) = (seg.states[0].name(), seg.states[1].name());
        let frag = match (self.fragment_column, seg.fragment) {
            (false, _) => "",
            (true, true) => "F",
            (true, false) => "-",
        };
        self.line.clear();
        let _ = match self.style {
            Style::Normal => write!(
                self.line,
                "{:04}:{:04} {time} |{cs:>18} {arrow}{flags}{arrow} {ss:<18}| {:08X}/{:08X} {:4} {frag} <",
                s.id, seg.id, seg.seq, seg.ack, seg.wire_len
            ),
            Style::Quiet => write!(
                self.line,
                "{time}|{cs:>18} {arrow}{flags}{arrow} {ss:<18}|{:08X}/{:08X}",
                seg.seq, seg.ack
            ),
            Style::Live => write!(
                self.line,
                "{:04}:{:04} {time} {} {arrow}{flags}{arrow} {} {:<23} {:08X}/{:08X} {:4} {frag} <",
                s.id,
                seg.id,
                endpoint(&s.client),
                endpoint(&s.server),
                format!("{cs}/{ss}"),
                seg.seq,
                seg.ack,
                seg.wire_len
            ),
        };
        if self.style != Style::Quiet {
            options::render(seg.options.as_slice(), &mut self.line);
            self.line.push('>');
        }
        self.emit(seg.color);
        for dpi in &seg.dpi {
            self.line.clear();
            self.line.push_str(dpi);
            self.emit(Some(Color::Green));
        }
    }

    fn elision(&mut self, s: &Session) {
        self.line.clear();
        let _ = match self.style {
            Style::Quiet => write!(self.line, "{:12}|{:46}|", "", ""),
            _ => write!(self.line, "{:04}:**** {:12} |{:46}|", s.id, "", ""),
        };
        self.emit(None);
    }

    fn destroy(&mut self, s: &Session, now_us: i64, message: &str, reason: &str) {
        let time = self.time(now_us);
        let stored = s.segments.len();
        let right = DESTROY_WIDTH.saturating_sub(message.len()) / 2;
        let left = DESTROY_WIDTH.saturating_sub(message.len() + right);
        self.line.clear();
        let _ = match self.style {
            Style::Normal => write!(self.line, "{:04}:{stored:04} {time} |{:left$}{message}{:right$}| {reason}", s.id, "", ""),
            Style::Quiet => write!(self.line, "{time}|{:left$}{message}{:right$}|{reason}", "", ""),
            Style::Live => write!(self.line, "{:04}:{stored:04} {time} {message} ({reason})", s.id),
        };
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
