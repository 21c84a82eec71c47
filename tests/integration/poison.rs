//! Issue 21 (items 2 and 3) and issue 23 (item 4): a message that stops the daemon
//! stops it at most twice, a hang is named while it lasts, and no command waits for
//! ever on a daemon that does not answer.
//!
//! The hang comes from the test builds' fault hook (`X-Test-Fault: hang`, armed by
//! `DISCLOSURED_TEST_FAULTS`); the stall limit is shortened in the configuration; the
//! test stops and restarts `serve` as systemd's watchdog would (SIGABRT, then a new
//! start).

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::pipeline::{entity, pgp_mime_encrypted};
use crate::util::*;

/// A running `serve`: continued (if stopped) and killed when dropped, so that a failed
/// assertion leaves nothing behind.
struct Serve {
    child: Child,
    log: std::path::PathBuf,
}

impl Serve {
    fn start(gw: &Gateway, log: &str, faults: bool) -> Serve {
        let log = gw.path(log);
        let mut cmd = gw.command();
        cmd.arg("serve")
            // A core dump, if the system writes one, lands in the temporary directory.
            .current_dir(gw.dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if faults {
            cmd.env("DISCLOSURED_TEST_FAULTS", "1");
        } else {
            cmd.env_remove("DISCLOSURED_TEST_FAULTS");
        }
        let serve = Serve {
            child: cmd.spawn().unwrap(),
            log,
        };
        serve.wait_log("disclosured started", Duration::from_secs(30));
        serve
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_log(&self, what: &str, limit: Duration) {
        let start = Instant::now();
        while !self.log().contains(what) {
            assert!(
                start.elapsed() < limit,
                "serve did not log {what:?} within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// What systemd's watchdog does to a daemon that stopped pinging: SIGABRT, and
    /// the process is gone.
    fn abort_as_the_watchdog_does(mut self) -> String {
        self.signal("ABRT");
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "serve survived SIGABRT for 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.log()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command that must end within `limit`; its exit status, stdout and stderr.
/// A command still running then is killed and the test fails, naming it.
fn bounded(
    mut cmd: Command,
    what: &str,
    limit: Duration,
    dir: &Path,
) -> (ExitStatus, String, String) {
    let (out_path, err_path) = (dir.join("bounded.out"), dir.join("bounded.err"));
    let mut child = cmd
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` did not return within {limit:?}: it waits for ever");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        std::fs::read_to_string(out_path).unwrap(),
        std::fs::read_to_string(err_path).unwrap(),
    )
}

/// A gateway whose stall limit is short, with the rate limits lifted (many reports
/// answered in a row).
fn gateway(stall_limit: &str) -> Gateway {
    let gw = Gateway::new();
    let config = std::fs::read_to_string(&gw.config).unwrap().replace(
        "poll_interval = \"100ms\"\n",
        &format!("poll_interval = \"100ms\"\nstall_limit = \"{stall_limit}\"\n"),
    );
    assert!(config.contains("stall_limit"));
    std::fs::write(
        &gw.config,
        config + "[rate_limits]\nper_sender = 1000\nper_domain = 1000\nglobal = 1000\n",
    )
    .unwrap();
    gw
}

/// A report encrypted by GnuPG to the gateway and signed by the reporter, PGP/MIME;
/// `extra` headers go on the outside.
fn encrypted_report(
    gpg: &Gpg,
    gateway_fpr: &str,
    signer: &str,
    i: usize,
    extra: &[(&str, &str)],
) -> (String, Vec<u8>) {
    let msgid = format!("<poison-{i}@example.net>");
    let inner = entity(
        Some(&format!("Report {i}")),
        &format!(
            "Title: Report {i}\nAffected versions: 1.{i}\n\nDescription:\nThe parameter is concatenated into the query.\n"
        ),
        &[],
    );
    let armored = gpg.encrypt(gateway_fpr, Some(signer), &inner);
    let mut headers = vec![
        ("From", "Rita Reporter <rita@example.net>"),
        ("To", GATEWAY),
        ("Subject", "..."),
        ("Message-ID", msgid.as_str()),
        ("Date", "Mon, 23 Nov 2026 10:00:00 +0000"),
        ("MIME-Version", "1.0"),
    ];
    headers.extend_from_slice(extra);
    let raw = pgp_mime_encrypted(&headers, &armored);
    (msgid.clone(), raw)
}

/// The Message-IDs the outbox's mail answers (In-Reply-To).
fn answered(gw: &Gateway) -> std::collections::BTreeSet<String> {
    gw.outbox()
        .iter()
        .filter_map(|m| header(m, "In-Reply-To"))
        .collect()
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool, log: impl Fn() -> String) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `status --json`'s list of what the daemon has had in hand past the stall limit.
fn stalled(gw: &Gateway) -> Vec<serde_json::Value> {
    let (status, out, err) = bounded(
        {
            let mut c = gw.command();
            c.args(["status", "--json"]);
            c
        },
        "status --json",
        Duration::from_secs(20),
        gw.dir.path(),
    );
    assert!(status.success(), "status --json failed: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["stalled"].as_array().unwrap().clone()
}

/// Done-when figure of issue 21: the message that hangs the daemon is named while it
/// hangs (log, `status`, `doctor`), is quarantined after the second stop, and the 20
/// other messages are answered; after an upgrade (here: the hook disarmed) `quarantine
/// retry` makes it a report.
#[test]
fn a_message_that_hangs_the_daemon_twice_is_quarantined_and_twenty_others_are_answered() {
    let gw = gateway("2s");
    let gpg = Gpg::new();
    gpg.import(&gw.public_key_path());
    let gateway_fpr = gw.signing_fingerprint();
    let signer = gpg.gen_key("Rita Reporter <rita@example.net>");
    std::fs::write(gw.path("keys/reporters/rita.asc"), gpg.export(&signer)).unwrap();

    // The poison message first, so that it is in the first batch with the others.
    let (poison_id, poison) =
        encrypted_report(&gpg, &gateway_fpr, &signer, 0, &[("X-Test-Fault", "hang")]);
    let poison_file = gw.deliver(&poison);
    let mut others = std::collections::BTreeSet::new();
    for i in 1..=20 {
        let (id, raw) = encrypted_report(&gpg, &gateway_fpr, &signer, i, &[]);
        gw.deliver(&raw);
        others.insert(id);
    }

    // First start: the poison message hangs its thread; the watchdog names it.
    let serve = Serve::start(&gw, "serve-1.log", true);
    wait_until(
        "status to name the hung message",
        Duration::from_secs(30),
        || {
            stalled(&gw)
                .iter()
                .any(|s| s["name"] == poison_file.as_str())
        },
        || serve.log(),
    );
    let named = stalled(&gw);
    assert_eq!(
        named.len(),
        1,
        "only the poison message is stalled: {named:?}"
    );
    assert_eq!(named[0]["kind"], "message");
    assert!(named[0]["seconds"].as_u64().unwrap() >= 2, "{named:?}");
    let human = gw.cli(&["status"]);
    let human = String::from_utf8_lossy(&human.stdout).into_owned();
    assert!(
        human.contains(&format!("STALLED:      message {poison_file} in hand for")),
        "{human}"
    );
    let (doctor_status, doctor, _) = bounded(
        {
            let mut c = gw.command();
            c.arg("doctor");
            c
        },
        "doctor",
        Duration::from_secs(30),
        gw.dir.path(),
    );
    assert!(!doctor_status.success(), "{doctor}");
    let line = doctor
        .lines()
        .find(|l| l.starts_with("FAIL in hand"))
        .unwrap_or_else(|| panic!("no FAIL line for the hang:\n{doctor}"));
    assert!(line.contains(&poison_file), "{line}");
    serve.wait_log("stall recorded in the store", Duration::from_secs(10));
    let log = serve.abort_as_the_watchdog_does();
    assert!(
        log.contains(&poison_file),
        "the log names the message:\n{log}"
    );

    // Second start: the others are decided first and answered; the poison message,
    // tried alone after them, hangs again.
    let serve = Serve::start(&gw, "serve-2.log", true);
    assert!(
        serve
            .log()
            .contains("was in hand past the stall limit when the daemon stopped"),
        "{}",
        serve.log()
    );
    wait_until(
        "the 20 other reports to be answered",
        Duration::from_secs(60),
        || others.is_subset(&answered(&gw)),
        || serve.log(),
    );
    wait_until(
        "status to name the hung message again",
        Duration::from_secs(30),
        || {
            stalled(&gw)
                .iter()
                .any(|s| s["name"] == poison_file.as_str())
        },
        || serve.log(),
    );
    assert!(!answered(&gw).contains(&poison_id));
    serve.wait_log("stall recorded in the store", Duration::from_secs(10));
    serve.abort_as_the_watchdog_does();

    // Third start: it is quarantined without being decided, and nothing hangs.
    let serve = Serve::start(&gw, "serve-3.log", true);
    wait_until(
        "the poison message to be quarantined",
        Duration::from_secs(30),
        || {
            gw.path(&format!("inbox/.Quarantine/new/{poison_file}"))
                .exists()
        },
        || serve.log(),
    );
    assert!(stalled(&gw).is_empty());
    let q = gw.quarantine();
    let entry = q
        .iter()
        .find(|e| e["kind"] == "quarantined")
        .unwrap_or_else(|| panic!("{q:?}"));
    assert!(
        entry["reason"]
            .as_str()
            .unwrap()
            .starts_with("stopped the daemon twice"),
        "{entry}"
    );
    let reports = gw.reports();
    assert_eq!(reports.len(), 20, "{reports:?}");
    // Every answer is the gateway's, signed; GnuPG checks one of them.
    let ack = gw
        .outbox()
        .into_iter()
        .find(|m| header(m, "In-Reply-To").as_deref() == Some("<poison-1@example.net>"))
        .unwrap();
    let (status, plain, ok) = gpg.decrypt(&armored_block(&ack));
    assert!(ok, "{status}");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(&gateway_fpr)),
        "{status}"
    );
    assert!(String::from_utf8_lossy(&plain).contains("Report 1"));
    drop(serve);

    // After an upgrade (a build without the fault), `quarantine retry` hands it back
    // and it becomes a report like any other.
    let serve = Serve::start(&gw, "serve-4.log", false);
    let seq = entry["id"].to_string();
    let out = gw.cli(&["quarantine", "retry", seq.trim_matches('"')]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "the retried message to be answered",
        Duration::from_secs(30),
        || answered(&gw).contains(&poison_id),
        || serve.log(),
    );
    assert_eq!(gw.reports().len(), 21);
}

/// Issue 23 item 4: a daemon that does not answer (SIGSTOP) makes every client give
/// up within its bound, naming the daemon's pid and where to look; `status --json`
/// still prints JSON; `doctor` prints its lines and marks the daemon FAIL.
#[test]
fn commands_give_up_on_a_stopped_daemon_and_say_where_to_look() {
    let gw = gateway("2m");
    let serve = Serve::start(&gw, "serve.log", false);
    let pid = serve.child.id().to_string();
    wait_until(
        "the control socket",
        Duration::from_secs(10),
        || gw.path("state.sock").exists(),
        || serve.log(),
    );
    serve.signal("STOP");

    // status --json without any override: its own bound (10 s).
    let started = Instant::now();
    let (status, out, err) = bounded(
        {
            let mut c = gw.command();
            c.args(["status", "--json"])
                .env_remove("DISCLOSURED_CONTROL_TIMEOUT");
            c
        },
        "status --json",
        Duration::from_secs(25),
        gw.dir.path(),
    );
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "gave up too early"
    );
    assert!(!status.success());
    let v: serde_json::Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("status --json printed no JSON ({e}): {out:?}"));
    assert_eq!(v["daemon"]["answering"], false, "{v}");
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    assert!(err.contains("journalctl -u disclosured"), "{err}");

    // The store commands, with the bound shortened for the test.
    for args in [
        &["reports", "list"][..],
        &["quarantine", "list"],
        &["outbox", "list"],
        &["status"],
    ] {
        let mut c = gw.command();
        c.args(args).env("DISCLOSURED_CONTROL_TIMEOUT", "2");
        let (status, _, err) = bounded(c, &args.join(" "), Duration::from_secs(15), gw.dir.path());
        assert!(!status.success(), "{args:?}");
        assert!(
            err.contains(&format!("the daemon (pid {pid}) does not answer")),
            "{args:?}: {err}"
        );
        assert!(err.contains("journalctl -u disclosured"), "{args:?}: {err}");
    }

    // doctor: every line printed, the daemon FAIL, exit 1.
    let mut c = gw.command();
    c.arg("doctor").env("DISCLOSURED_CONTROL_TIMEOUT", "2");
    let (status, out, _) = bounded(c, "doctor", Duration::from_secs(30), gw.dir.path());
    assert_eq!(status.code(), Some(1), "{out}");
    let fail = out
        .lines()
        .find(|l| l.starts_with("FAIL daemon"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(fail.contains(&format!("pid {pid}")), "{fail}");
    assert!(out.lines().any(|l| l.starts_with("ok   keys")), "{out}");
    assert!(
        out.lines().any(|l| l.contains("outbox")),
        "lines after the daemon's: {out}"
    );

    // Continued, it answers again.
    serve.signal("CONT");
    let v = gw.json(&["status", "--json"]);
    assert_eq!(v["inbox"]["daemon"], true, "{v}");
}
