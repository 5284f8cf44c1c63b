//! The original's reference outputs (`../shared/cases`), compared by the shared conformance
//! tool with the deviations of compat.md applied.

mod common;

#[test]
fn matches_the_original_reference_outputs() {
    let Some(shared) = common::shared_dir("conformance") else {
        return;
    };
    let out = std::process::Command::new(shared.join("tools/conformance"))
        .arg(env!("CARGO_BIN_EXE_miruo"))
        .args(["--diff", "20"])
        .output()
        .expect("python3 runs the conformance tool");
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text.lines().last().unwrap_or_default();
    assert!(
        out.status.success() && summary.contains(" 0 failed"),
        "conformance: {summary}\n{text}"
    );
    let passed: u32 = summary
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 114, "only {passed} cases passed");
}
