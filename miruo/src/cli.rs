//! The command line: what the user typed ([`Args`], parsed by clap) and the configuration the
//! program runs on ([`Settings`]). Defaults, aliases and validation are settled here, so the
//! engine never sees the command line.
//!
//! Kept from the original (spec §2): every option name and letter, attached or separate values,
//! long options with one or two dashes and abbreviated to a unique prefix, and the filter
//! expression being everything from the first non-option word on. Fixed: the aliases the
//! original's usage text promised (F11), numbers outside their range are refused (F10), and a
//! usage error is one line on stderr with exit status 2 (F12).

use crate::dpi::http::HttpDpi;
use crate::report::text::Style;
use crate::session::Config;
use clap::{ArgAction, Parser};
use std::io::IsTerminal;

#[derive(Parser, Debug)]
#[command(
    name = "miruo",
    about = "TCP session monitor: shows the TCP sessions worth a look (retransmissions, slow \
             connections, long gaps, RST aborts, IP fragments), one session at a time.",
    override_usage = "miruo [OPTIONS] [-i DEV | -f FILE] [EXPRESSION...]",
    disable_version_flag = true,
    infer_long_args = true,
    after_help = AFTER_HELP
)]
pub struct Args {
    /// Capture live on DEV through eBPF (repeat for several; `any` = every interface).
    #[arg(short = 'i', long = "interface", value_name = "DEV", action = ArgAction::Append)]
    pub interface: Vec<String>,
    /// Read a capture file (pcap or pcapng, as written by `tcpdump -w`); `-` reads stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,
    /// Show NUM segments before and after every shown segment.
    #[arg(short = 'v', long = "view-data", value_name = "NUM", value_parser = clap::value_parser!(u32))]
    pub view_data: Option<u32>,
    /// Show sessions that last longer than MS milliseconds (0 = off).
    #[arg(short = 'T', long = "long-connect", value_name = "MS", value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
    pub long_connect: Option<u32>,
    /// Show gaps between two segments longer than MS milliseconds (0 = off).
    #[arg(short = 't', long = "long-delay", value_name = "MS", value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
    pub long_delay: Option<u32>,
    /// Report a repeated segment as a retransmission when it is at least MS ms after the
    /// original [default: 1000]; 0 ignores repeats, a negative value reports every repeat.
    #[arg(short = 'r', long = "retransmit", value_name = "MS", allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32))]
    pub retransmit: Option<i32>,
    /// Print the statistics every SEC seconds while capturing live (0 = only at the end).
    #[arg(short = 's', long = "stat-interval", alias = "stat", value_name = "SEC", value_parser = clap::value_parser!(u32))]
    pub stat_interval: Option<u32>,
    /// SYN and SYN/ACK retransmissions: 1 = report (default), 0 = ignore.
    #[arg(short = 'S', long = "syn", value_name = "0|1", value_parser = clap::value_parser!(u8).range(0..=1))]
    pub syn: Option<u8>,
    /// RST: 0 = never flags a session, 1 = aborts flag it (default), 2 = every RST flags it.
    #[arg(short = 'R', long = "rst", value_name = "0|1|2", value_parser = clap::value_parser!(u8).range(0..=2))]
    pub rst: Option<u8>,
    /// IP fragments: 1 = report and show the fragment column (default), 0 = off.
    #[arg(short = 'F', long = "fragment", alias = "flagment", value_name = "0|1", value_parser = clap::value_parser!(u8).range(0..=1))]
    pub fragment: Option<u8>,
    /// Colours: 1 = on, 0 = off [default: on when stdout is a terminal and NO_COLOR is unset].
    #[arg(short = 'C', long = "color", value_name = "0|1", value_parser = clap::value_parser!(u8).range(0..=1))]
    pub color: Option<u8>,
    /// Sessions tracked at once; 0 = unlimited [default: 1024].
    #[arg(short = 'L', long = "limit-session", alias = "session-limit", value_name = "NUM", value_parser = clap::value_parser!(u32))]
    pub limit_session: Option<u32>,
    /// Segments stored over all sessions; 0 = unlimited [default: 65536].
    #[arg(short = 'l', long = "limit-segment", alias = "segment-limit", value_name = "NUM", value_parser = clap::value_parser!(u32))]
    pub limit_segment: Option<u32>,
    /// Deep packet inspection: `tcp` (none, default) or `http[:REQHDRS[:RESHDRS]]` with
    /// comma-separated header names (`%` = all).
    #[arg(short = 'm', long = "dpi-mode", value_name = "MODE", value_parser = parse_dpi_mode)]
    pub dpi_mode: Option<DpiMode>,
    /// Narrow output; twice (-qq) also hides sessions ended by a duplicate SYN.
    #[arg(short = 'q', long = "quiet", alias = "qiute", action = ArgAction::Count)]
    pub quiet: u8,
    /// Show every session when it closes.
    #[arg(long = "all")]
    pub all: bool,
    /// Print every segment as it is seen (implies --all).
    #[arg(long = "live")]
    pub live: bool,
    /// Live capture: take ingress with XDP (native where the driver has it, else generic)
    /// instead of TC.
    #[arg(long = "xdp")]
    pub xdp: bool,
    /// Print the version and the capture back-ends.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// tcpdump filter expression (see pcap-filter(7)), e.g. `host db1 and port 3306`.
    #[arg(value_name = "EXPRESSION", num_args = 0..)]
    pub expression: Vec<String>,
}

const AFTER_HELP: &str = "\
Output: one header line per shown session (ID, connection time, client == server, segments,
bytes), then its shown segments: ID:packet, time, client state >flags> server state (arrows
show the direction), seq/ack, size, F for an IP fragment, TCP options. `****` lines stand for
segments not shown. Colours: yellow handshake, blue final ACK, red RST or unexpected, magenta
or red retransmission, green its original, cyan segments in between. Statistics go to stderr
at the end.

Signals: SIGINT, SIGTERM and SIGHUP end the run (open sessions worth showing, then the
statistics, exit 0); SIGUSR1 prints the statistics now and goes on. A closed stdout also ends
the run. Exit status: 0 done, 1 runtime error (damaged capture, privileges), 2 usage error.

Examples:
  miruo -f capture.pcapng -T3000 port 3306
  miruo -i eth0 -t200
  miruo -i eth0 -s 10 2>statistics.log
  miruo -i eth0 -m http --all host 192.168.0.100 and port 80";

/// `-m` parsed at the command line, so a bad mode is a usage error.
#[derive(Clone, Debug)]
pub struct DpiMode(pub Option<HttpDpi>);

fn parse_dpi_mode(s: &str) -> Result<DpiMode, String> {
    HttpDpi::from_mode(s).map(DpiMode)
}

/// Long option names, for the single-dash rewriting below.
const LONG_NAMES: &[&str] = &[
    "interface",
    "file",
    "view-data",
    "long-connect",
    "long-delay",
    "retransmit",
    "stat-interval",
    "stat",
    "syn",
    "rst",
    "fragment",
    "flagment",
    "color",
    "limit-session",
    "session-limit",
    "limit-segment",
    "segment-limit",
    "dpi-mode",
    "quiet",
    "qiute",
    "all",
    "live",
    "xdp",
    "version",
    "help",
];
const SHORT_WITH_VALUE: &str = "ifvTtrsSRFCLlm";
const SHORT_FLAGS: &str = "hVq";

/// getopt_long_only compatibility (spec §2.1): `-all`, `-live`, `-sy 0` are long options
/// written with one dash. A single-dash word whose name is a prefix of a long option becomes
/// `--word`; a lone short letter stays short; parsing stops at the first non-option word.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = args.into_iter();
    if let Some(program) = args.next() {
        out.push(program);
    }
    let mut value_next = false;
    let mut rest_is_expression = false;
    for arg in args {
        if rest_is_expression || value_next {
            value_next = false;
            out.push(arg);
            continue;
        }
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            // Everything from here on is the filter expression, even words that look like
            // options; `--` tells clap so.
            rest_is_expression = true;
            out.push("--".into());
            if arg != "--" {
                out.push(arg);
            }
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            value_next = !long.contains('=') && takes_value(name);
            out.push(arg);
            continue;
        }
        let body = &arg[1..];
        let name = body.split('=').next().unwrap_or(body);
        let lone_short =
            name.len() == 1 && (SHORT_WITH_VALUE.contains(name) || SHORT_FLAGS.contains(name));
        if !lone_short && LONG_NAMES.iter().any(|l| l.starts_with(name)) {
            value_next = !body.contains('=') && takes_value(name);
            out.push(format!("-{arg}"));
            continue;
        }
        // Short options: the last letter takes the next word when it wants a value and none
        // is attached.
        let first = body.chars().next().unwrap_or('-');
        value_next = SHORT_WITH_VALUE.contains(first) && body.len() == 1;
        out.push(arg);
    }
    out
}

/// Whether a (possibly abbreviated) long option takes a value.
fn takes_value(name: &str) -> bool {
    const FLAGS: &[&str] = &["quiet", "qiute", "all", "live", "xdp", "version", "help"];
    !FLAGS.iter().any(|f| f.starts_with(name))
}

/// Where packets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    File(String),
    Live(Vec<String>),
}

/// The resolved configuration the program runs on.
#[derive(Clone, Debug)]
pub struct Settings {
    pub input: Input,
    /// Devices named with `-i` together with `-f`: shown in the banner only (spec §2.6).
    pub banner_device: String,
    pub tracker: Config,
    pub style: Style,
    pub color: bool,
    pub stat_interval: u32,
    pub expression: String,
    pub xdp: bool,
}

impl Args {
    /// Parses the process arguments; clap prints help, version-less usage errors and exits.
    pub fn from_env() -> Args {
        Args::parse_from(normalize_args(std::env::args()))
    }

    pub fn settings(self) -> Result<Settings, String> {
        let defaults = Config::default();
        let live = self.live;
        let tracker = Config {
            long_connect_ms: self
                .long_connect
                .map_or(defaults.long_connect_ms, i64::from),
            long_delay_ms: self.long_delay.map_or(defaults.long_delay_ms, i64::from),
            retransmit_ms: self.retransmit.map_or(defaults.retransmit_ms, i64::from),
            syn_retransmit: self.syn.map_or(defaults.syn_retransmit, |v| v != 0),
            rst_mode: self.rst.unwrap_or(defaults.rst_mode),
            fragment: self.fragment.map_or(defaults.fragment, |v| v != 0),
            context: self.view_data.unwrap_or(defaults.context),
            all: self.all || live,
            live,
            quiet: self.quiet,
            session_limit: self.limit_session.unwrap_or(defaults.session_limit),
            segment_limit: self.limit_segment.unwrap_or(defaults.segment_limit),
            http: self.dpi_mode.and_then(|m| m.0),
        };
        let style = if live {
            Style::Live
        } else if self.quiet > 0 {
            Style::Quiet
        } else {
            Style::Normal
        };
        let color = match self.color {
            Some(c) => c != 0,
            None => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        let banner_device = self.interface.join(",");
        let input = match (self.file, self.interface.is_empty()) {
            (Some(f), _) => Input::File(f),
            (None, false) => Input::Live(self.interface),
            (None, true) => {
                return Err(
                    "nothing to read: give a capture file with -f FILE (or -f - for stdin), \
                            or an interface with -i DEV for live capture"
                        .into(),
                );
            }
        };
        Ok(Settings {
            input,
            banner_device,
            tracker,
            style,
            color,
            stat_interval: self.stat_interval.unwrap_or(0),
            expression: self.expression.join(" "),
            xdp: self.xdp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize_args(
            std::iter::once("miruo")
                .chain(args.iter().copied())
                .map(String::from),
        )[1..]
            .to_vec()
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(normalize_args(
            std::iter::once("miruo")
                .chain(args.iter().copied())
                .map(String::from),
        ))
    }

    // spec §2.1: long options with one dash, abbreviations, short options with attached values.
    #[test]
    fn single_dash_long_options_become_long() {
        assert_eq!(
            norm(&["-all", "-live", "-sy", "0"]),
            ["--all", "--live", "--sy", "0"]
        );
        assert_eq!(
            norm(&["-s10", "-T5000", "-qq", "-a"]),
            ["-s10", "-T5000", "-qq", "--a"]
        );
        assert_eq!(norm(&["-f", "-", "-r", "-1"]), ["-f", "-", "-r", "-1"]);
        assert_eq!(
            norm(&["-s", "5", "port", "80", "-q"]),
            ["-s", "5", "--", "port", "80", "-q"]
        );
    }

    #[test]
    fn parses_the_originals_command_lines() {
        let a = parse(&["-f", "x.pcap", "-T3000", "--all", "port", "80", "-q"]).expect("valid");
        assert_eq!(a.long_connect, Some(3000));
        assert!(a.all);
        assert_eq!(a.quiet, 0);
        assert_eq!(a.expression, ["port", "80", "-q"]);
        let a = parse(&["-fx.pcap", "-sy", "0", "-st", "1", "-qq", "-r", "-1"]).expect("valid");
        assert_eq!(
            (a.syn, a.stat_interval, a.quiet, a.retransmit),
            (Some(0), Some(1), 2, Some(-1))
        );
        assert_eq!(a.file.as_deref(), Some("x.pcap"));
    }

    // F11: the spellings of the original's usage text are accepted.
    #[test]
    fn usage_text_aliases_are_accepted() {
        let a = parse(&[
            "--session-limit=5",
            "--segment-limit",
            "7",
            "--stat=3",
            "--flagment=0",
            "--qiute",
        ])
        .expect("valid");
        assert_eq!(
            (
                a.limit_session,
                a.limit_segment,
                a.stat_interval,
                a.fragment,
                a.quiet
            ),
            (Some(5), Some(7), Some(3), Some(0), 1)
        );
    }

    // F10, F12: bad values and ambiguous abbreviations are errors.
    #[test]
    fn rejects_bad_values() {
        for bad in [
            &["-T", "abc"][..],
            &["-T", "-5"],
            &["-L", "-1"],
            &["-S", "2"],
            &["-R", "3"],
            &["-T"],
            &["-A"],
            &["--f=x"],
            &["-li", "5"],
            &["--long=5"],
            &["-m", "ftp"],
            &["-v", "99999999999"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
