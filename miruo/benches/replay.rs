//! Replay speed, in process: the whole pipeline after the file (pcap reader → filter → decode →
//! sessions → text report into a sink), with default options, on the corpus's composite capture
//! and on the project's own bulk/churn capture (`cargo xtask bench` records it first). Both in
//! one run, so they are compared side by side. Throughput is in packets (criterion "elements").

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use miruo::cli::{Input, Settings};
use miruo::report::text::Style;
use miruo::run::Pipeline;
use miruo::session::Config;
use miruo::source::file::FileSource;
use miruo::source::{Next, Source};
use std::path::PathBuf;

fn settings(path: &str) -> Settings {
    Settings {
        input: Input::File(path.to_string()),
        banner_device: String::new(),
        tracker: Config::default(),
        style: Style::Normal,
        color: false,
        stat_interval: 0,
        expression: String::new(),
        xdp: false,
    }
}

/// Replays `path` once; returns the packets read.
fn replay(path: &str) -> u64 {
    let mut source = FileSource::open(path).expect("bench capture opens");
    let mut pipeline =
        Pipeline::new(&settings(path), source.link_type(), std::io::sink()).expect("pipeline");
    let mut frames = 0;
    loop {
        match source.next().expect("bench capture reads") {
            Next::Frame(f) => {
                frames += 1;
                pipeline.frame(&f);
            }
            Next::End => break,
            Next::Metadata | Next::Idle { .. } => {}
        }
    }
    pipeline.finish();
    frames
}

fn captures() -> Vec<(&'static str, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut v = Vec::new();
    let composite = root.join("../shared/corpus/bench__composite-ether-tcp-307k.pcap");
    if composite.exists() {
        v.push(("composite-307k", composite));
    } else {
        eprintln!("skipping the composite capture: ../shared is absent");
    }
    let own = std::env::var_os("MIRUO_BENCH_CAPTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/testdata/bulk_churn.pcap"));
    if own.exists() {
        v.push(("bulk-churn", own));
    } else {
        eprintln!(
            "skipping {}: record it with `cargo xtask gen-testdata --bench` (root)",
            own.display()
        );
    }
    v
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay");
    group.sample_size(20);
    for (name, path) in captures() {
        let path = path.to_str().expect("utf-8 path").to_string();
        let packets = replay(&path);
        group.throughput(Throughput::Elements(packets));
        group.bench_function(name, |b| b.iter(|| replay(&path)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
