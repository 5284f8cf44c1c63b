//! The command line's errors (F10, F12) and the run's exit statuses: one line on stderr that
//! says what is wrong, exit 2 for usage errors and 1 for runtime errors.

mod common;

use common::{run, stderr, stdout};

fn error_line(args: &[&str], code: i32, contains: &str) {
    let out = run(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(
        err.contains(contains),
        "{args:?}: {err:?} lacks {contains:?}"
    );
    assert!(stdout(&out).is_empty(), "{args:?}: nothing on stdout");
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    error_line(&["-T", "abc", "-f", "x.pcap"], 2, "'abc'");
    error_line(&["-T"], 2, "long-connect");
    error_line(&["-L", "-1", "-f", "x"], 2, "-1");
    error_line(&["-S", "7", "-f", "x"], 2, "7");
    error_line(&["-m", "ftp", "-f", "x"], 2, "ftp");
    error_line(&["-y"], 2, "-y");
    error_line(&["--long=5"], 2, "--long");
    error_line(&[], 2, "-f FILE");
}

#[test]
fn runtime_errors_exit_1() {
    error_line(
        &["-f", "/nonexistent.pcap"],
        1,
        "/nonexistent.pcap: No such file or directory",
    );
    error_line(&["-f", "/etc/passwd"], 1, "not a pcap or pcapng file");
}

#[test]
fn a_bad_filter_is_quoted_f12() {
    let dir = tempdir();
    let path = dir.join("empty.pcap");
    write_pcap(&path, &[]);
    let p = path.to_str().expect("utf-8 path");
    error_line(
        &["-f", p, "port", "99999"],
        2,
        "'port 99999': illegal port number 99999 > 65535",
    );
}

#[test]
fn help_and_version_go_to_stdout() {
    for flag in ["--help", "-h", "-V", "--version"] {
        let out = run(&[flag]);
        assert!(out.status.success(), "{flag}");
        assert!(stdout(&out).contains("miruo"), "{flag}");
    }
}

#[test]
fn a_truncated_file_reports_what_came_before_then_fails() {
    let dir = tempdir();
    let path = dir.join("cut.pcap");
    // Two frames; the second cut in the middle.
    let syn = syn_frame();
    write_pcap(&path, &[&syn, &syn]);
    let len = std::fs::metadata(&path).expect("written").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_len(len - 10).expect("truncate");
    let out = run(&["-f", path.to_str().expect("utf-8"), "--live"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "banner, the first SYN, its end-of-capture line: {text}"
    );
    assert!(
        lines[1].starts_with("0001:0000 ") && lines[2].contains("end of capture (still open)"),
        "{text}"
    );
    let err = stderr(&out);
    assert!(err.contains("Total Sessions  : 1"), "{err}");
    assert!(err.contains("damaged after 1 packets"), "{err}");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "miruo-cli-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A SYN from 198.18.0.1:40000 to 198.18.0.2:80 (Ethernet).
fn syn_frame() -> Vec<u8> {
    let mut f = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
        .tcp(40000, 80, 1, 64240)
        .syn()
        .write(&mut f, &[])
        .expect("build");
    f
}

fn write_pcap(path: &std::path::Path, frames: &[&[u8]]) {
    let mut b = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
    ];
    for (i, f) in frames.iter().enumerate() {
        for v in [1_700_000_000 + i as u32, 0, f.len() as u32, f.len() as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(f);
    }
    std::fs::write(path, b).expect("write pcap");
}
