//! Issue 23, item 14: what the program says of itself. `--version` names the commit,
//! `--help` reads like a manual, exit statuses are what the manual says, and the
//! repository's SECURITY.md keeps the clocks `disclosured policy` states.

use crate::util::*;

fn run(gw: &Gateway, args: &[&str]) -> (i32, String, String) {
    let out = gw.cli(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_names_the_commit_and_help_reads_like_a_manual() {
    let gw = Gateway::without_key();
    let (code, out, _) = run(&gw, &["--version"]);
    assert_eq!(code, 0);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    if head.status.success() {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
        // The binary was built from this checkout (a later commit rebuilds it).
        assert!(out.contains(&format!("commit {head}")), "{out} vs {head}");
    } else {
        assert!(out.contains("commit unknown"), "{out}");
    }
    let (code, help, _) = run(&gw, &["--help"]);
    assert_eq!(code, 0);
    for section in ["EXAMPLES:", "FILES:", "ENVIRONMENT:", "EXIT STATUS:"] {
        assert!(help.contains(section), "{section} missing: {help}");
    }
    let (_, set_help, _) = run(&gw, &["reports", "set", "--help"]);
    assert!(set_help.contains("notify.reporter_on"), "{set_help}");
}

#[test]
fn exit_statuses_are_the_manuals() {
    let gw = Gateway::new();
    // 2: bad options.
    let (code, _, _) = run(&gw, &["reports", "list", "--no-such-option"]);
    assert_eq!(code, 2);
    // 1: a change refused.
    gw.deliver(&plain_report("<exit@example.net>"));
    gw.run_once();
    let id = gw.reports()[0]["id"].as_str().unwrap().to_string();
    let (code, _, err) = run(&gw, &["reports", "set", &id, "--status", "disclosed"]);
    assert_eq!(code, 1, "{err}");
    // 2: a configuration that does not validate.
    let bad = gw.path("bad.toml");
    std::fs::write(&bad, "[policy]\nacknowledge = \"soon\"\n").unwrap();
    let (code, _, err) = run(&gw, &["--config", bad.to_str().unwrap(), "check-config"]);
    assert_eq!(code, 2, "{err}");
    // 1 or 2 for a setup that reaches nobody (no maintainers); 0 once it has one.
    let (code, _, err) = run(&gw, &["check-config"]);
    assert_ne!(code, 0, "no maintainers: {err}");
    gw.add_maintainer();
    let (code, _, err) = run(&gw, &["check-config"]);
    assert_eq!(code, 0, "{err}");
}

/// The durations of the "What happens next" section, in order.
fn clocks(text: &str) -> Vec<String> {
    let section = text
        .split("## What happens next")
        .nth(1)
        .expect("a What happens next section");
    let section = section.split("\n## ").next().unwrap();
    let words: Vec<&str> = section
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',' || c == '.')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| ["day", "days", "hour", "hours"].contains(&w[1]) && w[0].parse::<u32>().is_ok())
        .map(|w| format!("{} {}", w[0], w[1]))
        .collect()
}

#[test]
fn the_policy_names_the_gateway_key_and_security_md_keeps_its_clocks() {
    let gw = Gateway::new();
    let (code, policy, err) = run(&gw, &["policy"]);
    assert_eq!(code, 0, "{err}");
    assert!(policy.contains(&gw.signing_fingerprint()), "{policy}");
    assert!(policy.contains(GATEWAY), "{policy}");
    let security = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("SECURITY.md"),
    )
    .unwrap();
    let want = clocks(&policy);
    assert_eq!(want.len(), 6, "{want:?}");
    assert_eq!(
        clocks(&security),
        want,
        "SECURITY.md is out of step with `disclosured policy`"
    );
}
