//! Every capture of `../shared/corpus` (80 public real-world files, including corrupt and
//! truncated ones) is processed without a panic or a signal, with the frame counts of the
//! corpus index, and a damaged file ends in one error line and exit status 1.

mod common;

use std::collections::HashMap;

#[test]
fn every_corpus_file_is_processed_without_a_crash() {
    let Some(shared) = common::shared_dir("corpus") else {
        return;
    };
    let corpus = shared.join("corpus");
    let index = std::fs::read_to_string(corpus.join("INDEX.tsv")).expect("INDEX.tsv");
    let mut header = index.lines().next().unwrap_or_default().split('\t');
    let col = |name: &str| {
        header
            .clone()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let (packets, syns, read_error) = (col("packets"), col("syns"), col("read_error"));
    header.next();
    let rows: HashMap<String, Vec<String>> = index
        .lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>())
        .map(|r| (r[0].clone(), r))
        .collect();
    let mut checked = 0;
    for (name, row) in &rows {
        let path = corpus.join(name);
        for args in [&["--all"][..], &["--live", "-v3", "-t1", "-m", "http:%:%"]] {
            let out = common::miruo()
                .arg("-f")
                .arg(&path)
                .args(args)
                .output()
                .expect("runs");
            let err = common::stderr(&out);
            let code = out.status.code();
            assert!(code.is_some(), "{name} {args:?}: killed by a signal: {err}");
            let damaged = !row[read_error].is_empty();
            assert_eq!(
                code == Some(1),
                damaged,
                "{name} {args:?}: exit {code:?}, read error {:?}: {err}",
                row[read_error]
            );
            if damaged {
                assert_eq!(
                    err.lines().filter(|l| l.starts_with("miruo: ")).count(),
                    1,
                    "{name}: one error line: {err}"
                );
            } else {
                assert_eq!(
                    err.matches("===== Session Statistics =====").count(),
                    1,
                    "{name}"
                );
            }
            if let (Some(recv), Ok(expected)) =
                (common::stat(&out, "recv"), row[packets].parse::<u64>())
            {
                assert_eq!(
                    recv.parse::<u64>().ok(),
                    Some(expected),
                    "{name}: frames read"
                );
            }
            if let (Some(sessions), Ok(max)) = (
                common::stat(&out, "Total Sessions"),
                row[syns].parse::<u64>(),
            ) {
                let sessions: u64 = sessions.parse().expect("a number");
                assert!(
                    sessions <= max,
                    "{name}: {sessions} sessions from {max} SYNs"
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 80, "only {checked} corpus files");
}
