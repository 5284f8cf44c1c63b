//! The filter keeps exactly the frames tcpdump keeps: for every expression below and every
//! capture (several link types, VLAN/QinQ, IPv6, the project's own captures), the frames
//! `miruo::filter::Filter` passes are those `tcpdump -r FILE -w - EXPR` writes, in order.

mod common;

use miruo::filter::Filter;
use miruo::source::file::FileSource;
use miruo::source::{Next, Source};
use std::path::{Path, PathBuf};
use std::process::Command;

const EXPRESSIONS: &[&str] = &[
    "tcp",
    "ip",
    "ip6",
    "not tcp",
    "!tcp",
    "host 10.77.0.2",
    "src host 10.77.0.1",
    "dst host 10.77.0.2",
    "host fd77::1",
    "host 198.18.0.1 or host fd00:6d72::2",
    "net 10.77.0.0/24",
    "net 10.0.0.0 mask 255.0.0.0",
    "src net 192.168.0.0/16",
    "net fd00::/8",
    "port 80",
    "port 8080",
    "src port 8080",
    "dst port 9001",
    "tcp port 3306",
    "portrange 8000-9010",
    "tcp dst portrange 1-1024",
    "port 80 or port 443",
    "(port 8080 or port 9001) and host 10.77.0.2",
    "tcp and not port 22",
    "tcp[13] & 2 != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
    "tcp[13] = 18",
    "tcp[0:2] > 1024",
    "ip[8] < 64",
    "ip[6:2] & 0x3fff != 0",
    "ip proto 6",
    "greater 100",
    "less 80",
    "len > 1000",
    "vlan",
    "vlan and tcp",
    "vlan 100",
    "ether proto 0x0800",
    "ip6 and tcp",
];

fn captures(shared: &Path) -> Vec<PathBuf> {
    let cases = shared.join("cases");
    let corpus = shared.join("corpus");
    let mut v: Vec<PathBuf> = [
        "normal_http.pcap",
        "http_dpi.pcap",
        "ip_fragment.pcap",
        "ipv6.pcap",
        "linktype_sll.pcap",
        "linktype_raw.pcap",
        "linktype_null.pcap",
        "linktype_vlan.pcap",
        "linktype_any_default.pcap",
    ]
    .iter()
    .map(|n| cases.join(n))
    .collect();
    v.extend(
        [
            "zeek__vlan-qinqinq.pcap",
            "suricata__decode-sll2-02.pcap",
            "zeek__ipv6-http-atomic-frag.pcap",
            "mercury__mysql.pcap",
            "tcpdump__tcp-handshake-nano.pcap",
            "chrissanders__http_ip4and6.pcapng",
        ]
        .iter()
        .map(|n| corpus.join(n)),
    );
    let testdata = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    if let Ok(dir) = std::fs::read_dir(&testdata) {
        let mut own: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
            .collect();
        own.sort();
        v.extend(own);
    }
    v
}

/// The frames of a capture file, as (wire length, bytes).
fn frames(path: &Path) -> Vec<(u32, Vec<u8>)> {
    let mut source = FileSource::open(path.to_str().expect("utf-8 path")).expect("capture opens");
    let mut out = Vec::new();
    loop {
        match source.next().expect("capture reads") {
            Next::Frame(f) => out.push((f.wire_len, f.data.to_vec())),
            Next::End => break,
            Next::Metadata | Next::Idle { .. } => {}
        }
    }
    out
}

#[test]
fn filter_keeps_what_tcpdump_keeps() {
    let Some(shared) = common::shared_dir("filter_differential") else {
        return;
    };
    if Command::new("tcpdump").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tcpdump is missing (cargo xtask setup installs it)"
        );
        eprintln!(
            "filter_differential: skipped, tcpdump is not installed (run `cargo xtask setup`)"
        );
        return;
    }
    let tmp = std::env::temp_dir().join(format!("miruo-filter-{}.pcap", std::process::id()));
    let mut compared = 0;
    for capture in captures(&shared) {
        let mut source = FileSource::open(capture.to_str().expect("utf-8")).expect("opens");
        let link = source.link_type();
        let mut all = Vec::new();
        loop {
            match source.next().expect("reads") {
                Next::Frame(f) => all.push((f.ts_us, f.link, f.wire_len, f.data.to_vec())),
                Next::End => break,
                Next::Metadata | Next::Idle { .. } => {}
            }
        }
        for expr in EXPRESSIONS {
            let tcpdump = Command::new("tcpdump")
                .args(["-r"])
                .arg(&capture)
                .args(["-w"])
                .arg(&tmp)
                .arg(expr)
                .output()
                .expect("tcpdump runs");
            let ours = Filter::new(expr, link);
            let Ok(mut filter) = ours else {
                assert!(
                    !tcpdump.status.success(),
                    "{}: miruo refused '{expr}' ({:?}), tcpdump accepted it",
                    capture.display(),
                    ours.err()
                );
                continue;
            };
            assert!(
                tcpdump.status.success(),
                "{}: tcpdump refused '{expr}': {}",
                capture.display(),
                String::from_utf8_lossy(&tcpdump.stderr)
            );
            let kept: Vec<(u32, Vec<u8>)> = all
                .iter()
                .filter(|(ts_us, link, wire_len, data)| {
                    filter.matches(&miruo::source::Frame {
                        ts_us: *ts_us,
                        link: *link,
                        wire_len: *wire_len,
                        data,
                    })
                })
                .map(|(_, _, w, d)| (*w, d.clone()))
                .collect();
            let expected = frames(&tmp);
            assert_eq!(
                kept.len(),
                expected.len(),
                "{}: '{expr}' kept {} frames, tcpdump {}",
                capture.display(),
                kept.len(),
                expected.len()
            );
            assert!(
                kept == expected,
                "{}: '{expr}' kept other frames than tcpdump",
                capture.display()
            );
            compared += 1;
        }
    }
    let _ = std::fs::remove_file(&tmp);
    assert!(
        compared >= 30 * 10,
        "only {compared} (capture, expression) pairs compared"
    );
}
