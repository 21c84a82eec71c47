//! Operator tooling: `status`, `doctor`, `backup` and `restore`, with and without a
//! running daemon.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::network::Net;
use crate::util::*;

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stop(mut child: Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("serve did not stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn status_counts_reports_outbox_and_quarantine() {
    let gw = Gateway::new();
    gw.deliver(&plain_report("<s1@example.net>"));
    gw.deliver(&plain_report("<s2@example.net>"));
    gw.deliver(b"From: x@example.net\r\nSubject: garbage\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=b\r\n\r\n--b\r\n\r\nnot openpgp\r\n--b--\r\n");
    gw.run_once();
    let s = gw.json(&["status", "--json"]);
    assert_eq!(s["reports"], 2, "{s:#}");
    assert_eq!(s["by_state"]["acknowledged"], 2, "{s:#}");
    assert_eq!(s["by_severity"]["critical"], 2, "{s:#}");
    assert_eq!(s["overdue"].as_array().unwrap().len(), 0, "{s:#}");
    assert_eq!(s["outbox"]["pending"], 0, "{s:#}");
    assert_eq!(s["outbox"]["failed"], 0, "{s:#}");
    assert_eq!(s["quarantined"], 1, "{s:#}");
    assert_eq!(s["inbox"]["daemon"], false, "{s:#}");
    assert!(s["inbox"]["last_message"].is_string(), "{s:#}");
    let (out, _) = text(&gw.cli(&["status"]));
    assert!(out.contains("Reports:      2"), "{out}");
    assert!(out.contains("no daemon running"), "{out}");
}

#[test]
fn status_lists_overdue_deadlines() {
    let gw = Gateway::new();
    gw.deliver(&plain_report("<late@example.net>"));
    // Deadlines are computed when a report arrives: a one-second assessment window.
    let out = gw
        .command()
        .arg("run-once")
        .env("DISCLOSURED__POLICY__INITIAL_ASSESSMENT", "1s")
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let id = gw.reports()[0]["id"].as_str().unwrap().to_string();
    let mut s = gw.json(&["status", "--json"]);
    wait_for("the assessment deadline to pass", || {
        s = gw.json(&["status", "--json"]);
        !s["overdue"].as_array().unwrap().is_empty()
    });
    let overdue = s["overdue"].as_array().unwrap();
    assert_eq!(overdue.len(), 1, "{s:#}");
    assert_eq!(overdue[0]["id"], id.as_str(), "{s:#}");
    assert_eq!(overdue[0]["deadline"], "initial_assessment", "{s:#}");
    let (out, _) = text(&gw.cli(&["status"]));
    assert!(out.contains("Overdue:      1"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains(&id) && l.contains("initial_assessment")),
        "{out}"
    );
}

#[test]
fn doctor_passes_on_a_good_setup_and_names_a_loose_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let gw = Gateway::new();
    gw.add_maintainer();
    // A setup that has run once: doctor creates nothing (issue 18), serve does.
    gw.run_once();
    let out = gw.cli(&["doctor"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    for check in ["config", "keys", "signing key", "store", "inbox", "outbox"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("ok   ") && l.contains(check)),
            "{check}: {stdout}"
        );
    }
    let secret = std::fs::read_dir(gw.path("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".sec.asc"))
        .unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = gw.cli(&["doctor"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let line = stdout.lines().find(|l| l.starts_with("FAIL")).unwrap();
    assert!(line.contains(secret.to_str().unwrap()), "{line}");
    assert!(line.contains("chmod 600"), "{line}");
}

#[test]
fn doctor_logs_in_to_imap_and_smtp_and_never_shows_the_password() {
    let net = Net::new();
    net.gw.add_maintainer();
    let out = net.gw.cli(&["doctor"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("logged in, folder \"INBOX\" selected"),
        "{stdout}"
    );
    assert!(stdout.contains("SMTP 127.0.0.1"), "{stdout}");
    // A wrong IMAP password is a failure naming the server, not the password.
    let wrong = "not-the-password-7f3a";
    write_private(&net.imap.password_file(), wrong);
    let out = net.gw.cli(&["doctor"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let line = stdout.lines().find(|l| l.starts_with("FAIL")).unwrap();
    assert!(line.contains("imap"), "{line}");
    for secret in [wrong, net.imap.password(), net.smtp.password()] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
}

#[test]
fn backup_and_restore_into_a_new_store_lists_the_same_reports() {
    let gw = Gateway::new();
    gw.deliver(&plain_report("<b1@example.net>"));
    gw.deliver(&plain_report("<b2@example.net>"));
    gw.run_once();
    let before = gw.json(&["reports", "list", "--json"]);
    assert_eq!(before.as_array().unwrap().len(), 2);
    // A relative path is the caller's.
    let out = gw
        .command()
        .current_dir(gw.dir.path())
        .args(["backup", "--to"])
        .arg(gw.public_key_path())
        .arg("state.backup")
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let file = gw.path("state.backup");
    assert!(
        std::fs::read(&file)
            .unwrap()
            .starts_with(b"-----BEGIN PGP MESSAGE-----")
    );
    // Never over an existing store.
    let out = gw.cli(&["restore", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("move it away"), "{:?}", text(&out));
    let new_store = gw.path("restored");
    let restored = |args: &[&str]| {
        gw.command()
            .env("DISCLOSURED__STORE__PATH", &new_store)
            .args(args)
            .output()
            .unwrap()
    };
    let out = restored(&["restore", file.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("2 reports"), "{:?}", text(&out));
    let out = restored(&["reports", "list", "--json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let after: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(before, after);
}

#[test]
fn status_and_backup_go_through_the_running_daemon_and_restore_is_refused() {
    let gw = Gateway::new();
    gw.add_maintainer();
    let child = gw
        .command()
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    gw.deliver(&plain_report("<d1@example.net>"));
    wait_for("the acknowledgement", || {
        !gw.outbox_once_created().is_empty()
    });
    wait_for("the control socket", || gw.path("state.sock").exists());
    let s = gw.json(&["status", "--json"]);
    assert_eq!(s["inbox"]["daemon"], true, "{s:#}");
    assert!(s["inbox"]["last_pass"].is_string(), "{s:#}");
    assert_eq!(s["reports"], 1, "{s:#}");
    let out = gw.cli(&["doctor"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("in use by the running daemon"), "{stdout}");
    let before = gw.json(&["reports", "list", "--json"]);
    let out = gw
        .command()
        .current_dir(gw.dir.path())
        .args(["backup", "--to"])
        .arg(gw.public_key_path())
        .arg("live.backup")
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let file = gw.path("live.backup");
    assert!(file.exists());
    let new_store = gw.path("restored");
    let out = gw
        .command()
        .env("DISCLOSURED__STORE__PATH", &new_store)
        .args(["restore", file.to_str().unwrap()])
        .output()
        .unwrap();
    // A different store path has no daemon: allowed.
    assert!(out.status.success(), "{:?}", text(&out));
    let out = gw.cli(&["restore", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("daemon is running"),
        "{:?}",
        text(&out)
    );
    stop(child);
    let out = gw
        .command()
        .env("DISCLOSURED__STORE__PATH", &new_store)
        .args(["reports", "list", "--json"])
        .output()
        .unwrap();
    let after: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(before, after);
}
