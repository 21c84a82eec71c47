//! Issue 29 item 5: a listing comes through the daemon's control socket as it is
//! written, the same bytes as without a daemon, and a daemon that dies midway makes
//! the command fail saying the output is incomplete, never a listing that looks whole.

use std::io::Read as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use disclosured::testing::intake::Mailbox;
use disclosured::testing::policy::Deadlines;
use disclosured::testing::store::NewReport;

use crate::util::*;

/// Reports enough for a `reports list --json` of about 2.5 MB: more than every
/// buffer between the daemon and a reader that stopped reading can hold (the pipe,
/// the socket's, the daemon's frames in flight; well under 1 MB together).
const REPORTS: usize = 3000;

/// Fills the store the way the pipeline does, through the library (mail through
/// GnuPG would take minutes for this many; the intake is not what is tested here).
/// Every report is a month old, so no deadline passes while the test runs, and none
/// has a job the daemon would act on: the listings stay the same.
fn fill(gw: &Gateway, n: usize) {
    let store = open_store(gw);
    let start = Utc::now() - chrono::Duration::days(30);
    for i in 0..n {
        let at = start + chrono::Duration::seconds(i64::try_from(i).unwrap());
        let from = format!("researcher{}@example.net", i % 97);
        let report = NewReport {
            received_at: at,
            from: Mailbox {
                name: Some(format!("Researcher «{}»", i % 97)),
                address: from.clone(),
            },
            reply_to: None,
            subject: Some(format!("Security issue #{i}: SQL injection in export")),
            message_id: Some(format!("<stream{i}@example.net>")),
            content_sha256: format!("{i:064x}"),
            form: disclosured::testing::crypto::open::Form::Inline,
            encrypted: false,
            decrypted_with: None,
            signature: disclosured::testing::crypto::SignatureStatus::None,
            signature_covers_all: false,
            signer_matches_from: false,
            signer_fingerprint: None,
            signer_key_source: None,
            reporter_key: None,
            proven_key: None,
            proof_checked: false,
            unverified_followup_of: None,
            fields: disclosured::testing::extract::Fields {
                title: Some(format!(
                    "SQL injection in the account export, \"quoted\" (#{i})"
                )),
                ..Default::default()
            },
            missing: vec![],
            attachments: vec![],
            body: format!("Report {i}.\n"),
            source_file: None,
            deadlines: Deadlines {
                acknowledge: at + chrono::Duration::days(2),
                initial_assessment: at + chrono::Duration::days(7),
                fix: None,
            },
            hints: vec![],
            suppressed_ack: false,
            unknown_signer: None,
        };
        store.commit_report("VR", report, vec![]).unwrap();
    }
    store.flush().unwrap();
}

fn serve(gw: &Gateway) -> Child {
    let child = gw
        .command()
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !gw.path("state.sock").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no control socket after 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn stop(mut child: Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where two outputs part, for a failure message short enough to read.
fn same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
        panic!(
            "{what}: {} bytes against {}, first difference at byte {at}: {:?} / {:?}",
            got.len(),
            want.len(),
            String::from_utf8_lossy(&got[at.saturating_sub(80)..(at + 80).min(got.len())]),
            String::from_utf8_lossy(&want[at.saturating_sub(80)..(at + 80).min(want.len())]),
        );
    }
}

fn listing(gw: &Gateway, args: &[&str]) -> Vec<u8> {
    let out = gw.cli(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn issue_29_a_large_listing_streams_through_the_daemon_and_a_cut_is_an_error() {
    let gw = Gateway::new();
    fill(&gw, REPORTS);
    // Without a daemon: the command opens the store itself.
    let json = listing(&gw, &["reports", "list", "--json"]);
    let table = listing(&gw, &["reports", "list"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&json).unwrap();
    assert_eq!(rows.len(), REPORTS);
    assert!(json.len() > 2_000_000, "{} bytes", json.len());

    // Through the daemon: the same bytes, in many frames.
    let daemon = serve(&gw);
    same(
        &listing(&gw, &["reports", "list", "--json"]),
        &json,
        "the JSON listing through the daemon",
    );
    same(
        &listing(&gw, &["reports", "list"]),
        &table,
        "the table through the daemon",
    );

    // A reader that takes the first byte and then stops: the daemon is held midway
    // (its output cannot fit in the buffers between), and dies there.
    let mut client = gw
        .command()
        .args(["reports", "list", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = client.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"[");
    let status = std::process::Command::new("kill")
        .args(["-KILL", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let mut stderr = String::new();
    client
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let code = client.wait().unwrap();
    let mut got = first.to_vec();
    got.extend_from_slice(&rest);
    assert!(!code.success(), "a cut listing exited 0; stderr: {stderr}");
    assert!(
        got.len() < json.len() && json.starts_with(&got),
        "{} of {} bytes, a prefix of the listing",
        got.len(),
        json.len()
    );
    assert!(
        stderr.contains("ended midway") && stderr.contains("incomplete"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("after {} bytes of output", got.len())),
        "{stderr}"
    );
    let mut daemon = daemon;
    daemon.wait().unwrap();

    // The daemon started again answers whole listings.
    let daemon = serve(&gw);
    same(
        &listing(&gw, &["reports", "list", "--json"]),
        &json,
        "the JSON listing after a restart",
    );
    stop(daemon);
}
