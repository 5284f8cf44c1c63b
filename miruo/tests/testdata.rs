//! The project's own captures (`testdata/`, recorded from real traffic between network
//! namespaces) against their expected outputs (`testdata/expected/`), which were made by miruo
//! and checked by hand against the spec once. Statistics are compared without CPU, VSZ and RSS.

mod common;

use std::path::PathBuf;

#[test]
fn own_captures_match_their_expected_outputs() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let list = std::fs::read_to_string(dir.join("expected.list")).expect("testdata/expected.list");
    let mut checked = 0;
    for line in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let (name, capture, args) = (parts[0], parts[1], parts.get(2).copied().unwrap_or(""));
        let out = common::miruo()
            .current_dir(&dir)
            .arg("-f")
            .arg(capture)
            .args(args.split_whitespace())
            .output()
            .expect("miruo runs");
        let expected_out = std::fs::read(dir.join("expected").join(format!("{name}.out")))
            .expect("expected stdout");
        let expected_err =
            std::fs::read_to_string(dir.join("expected").join(format!("{name}.err")))
                .expect("expected stderr");
        assert!(out.status.success(), "{name}: {}", common::stderr(&out));
        assert!(
            out.stdout == expected_out,
            "{name}: stdout differs\n--- expected\n{}\n--- got\n{}",
            String::from_utf8_lossy(&expected_out),
            common::stdout(&out)
        );
        let err: String = common::stderr(&out)
            .lines()
            .filter(|l| !(l.starts_with("CPU") || l.starts_with("VSZ") || l.starts_with("RSS")))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(err, expected_err, "{name}: statistics differ");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} expected outputs");
}
