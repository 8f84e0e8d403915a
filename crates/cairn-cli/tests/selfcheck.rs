//! Runs the real `cairn` binary's self-check, as a newcomer would.

use std::process::Command;

fn cairn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .output()
        .expect("the cairn binary runs")
}

#[test]
fn selfcheck_passes_and_reports_json() {
    for redundancy in ["ec:4+2", "rep:2x3", "auto"] {
        let out = cairn(&[
            "selfcheck",
            "--size",
            "300KiB",
            "--segment-size",
            "64KiB",
            "--redundancy",
            redundancy,
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("one JSON object");
        assert_eq!(report["bytes"], 300 * 1024);
        assert_eq!(report["segments"], 5);
        assert!(report["encode_mb_per_s"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn selfcheck_human_output_names_each_step() {
    let out = cairn(&["selfcheck", "--size", "1", "--segment-size", "4KiB"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for step in [
        "✓ keys",
        "✓ passphrase",
        "✓ paths",
        "✓ data",
        "✓ metadata",
        "all checks passed",
    ] {
        assert!(text.contains(step), "missing {step} in:\n{text}");
    }
}

#[test]
fn bad_options_fail_with_one_clear_sentence() {
    let out = cairn(&["selfcheck", "--redundancy", "ec:1+1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("k must be at least 2"), "{err}");

    let out = cairn(&["selfcheck", "--size", "lots"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a size"));

    let out = cairn(&["selfcheck", "--size", "1", "--segment-size", "1KiB"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("segment size"));
}
