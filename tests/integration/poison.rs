//! Issue 21 (items 2 and 3) and issue 23 (item 4): a message that stops the daemon
//! stops it at most twice, a hang is named while it lasts, and no command waits for
//! ever on a daemon that does not answer.
//!
//! The hang or abort comes from the test builds' fault hook (`X-Test-Fault: hang` or
//! `abort` in a message, `hang-delivery` in a report's text for its acknowledgement,
//! armed by `DISCLOSURED_TEST_FAULTS`); the stall limit is shortened in the
//! configuration; the test stops and restarts `serve` as systemd's watchdog would
//! (SIGABRT, then a new start), and runs `note-stop` with the environment systemd
//! gives its `ExecStopPost=` command.

use std::os::unix::process::ExitStatusExt as _;
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
        let serve = Serve::spawn(gw, log, faults);
        serve.wait_log("disclosured started", Duration::from_secs(30));
        serve
    }

    /// Starts `serve` without waiting for it to be up (it may die before).
    fn spawn(gw: &Gateway, log: &str, faults: bool) -> Serve {
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
        Serve {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    /// Waits for the process to end by itself; its exit status and log.
    fn exited(mut self, limit: Duration) -> (ExitStatus, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            assert!(
                start.elapsed() < limit,
                "serve did not end within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as an operator or the crash test does; the exit status.
    fn kill(mut self) -> ExitStatus {
        self.signal("KILL");
        self.child.wait().unwrap()
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
    fn abort_as_the_watchdog_does(self) -> String {
        self.abort_with_status().1
    }

    fn abort_with_status(mut self) -> (ExitStatus, String) {
        self.signal("ABRT");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "serve survived SIGABRT for 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, self.log())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
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

/// Runs `note-stop` as systemd's `ExecStopPost=` would after `serve` ended with
/// `status`: `$SERVICE_RESULT` as given, `$EXIT_CODE` and `$EXIT_STATUS` from the
/// status (systemd.exec(5)). It must succeed and return within its bound; its log.
fn note_stop(gw: &Gateway, status: ExitStatus, service_result: &str) -> String {
    let (code, value) = match status.signal() {
        Some(sig) => (
            if status.core_dumped() {
                "dumped"
            } else {
                "killed"
            },
            match sig {
                6 => "ABRT",
                9 => "KILL",
                11 => "SEGV",
                15 => "TERM",
                other => panic!("unexpected signal {other}"),
            }
            .to_string(),
        ),
        None => ("exited", status.code().unwrap().to_string()),
    };
    let mut c = gw.command();
    c.arg("note-stop")
        .env("SERVICE_RESULT", service_result)
        .env("EXIT_CODE", code)
        .env("EXIT_STATUS", &value);
    let (done, out, err) = bounded(c, "note-stop", Duration::from_secs(20), gw.dir.path());
    assert!(done.success(), "note-stop failed the unit: {out}{err}");
    err
}

/// systemd's `$SERVICE_RESULT` for a process that ended by a signal by itself.
fn result_of_signal(status: ExitStatus) -> &'static str {
    if status.core_dumped() {
        "core-dump"
    } else {
        "signal"
    }
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
    encrypted_report_with(gpg, gateway_fpr, signer, i, extra, "")
}

/// [`encrypted_report`] with `inside` added to the report's (encrypted) text.
fn encrypted_report_with(
    gpg: &Gpg,
    gateway_fpr: &str,
    signer: &str,
    i: usize,
    extra: &[(&str, &str)],
    inside: &str,
) -> (String, Vec<u8>) {
    let msgid = format!("<poison-{i}@example.net>");
    let inner = entity(
        Some(&format!("Report {i}")),
        &format!(
            "Title: Report {i}\nAffected versions: 1.{i}\n{inside}\nDescription:\nThe parameter is concatenated into the query.\n"
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

/// A gateway, a reporter whose key it has, and GnuPG for both.
fn with_reporter(stall_limit: &str) -> (Gateway, Gpg, String, String) {
    let gw = gateway(stall_limit);
    let gpg = Gpg::new();
    gpg.import(&gw.public_key_path());
    let gateway_fpr = gw.signing_fingerprint();
    let signer = gpg.gen_key("Rita Reporter <rita@example.net>");
    std::fs::write(gw.path("keys/reporters/rita.asc"), gpg.export(&signer)).unwrap();
    (gw, gpg, gateway_fpr, signer)
}

/// Issue 21 item 2, deaths the watchdog does not see: a message that aborts the
/// daemon (as a stack overflow or a failed allocation would) is counted by
/// `note-stop` with systemd's environment, and quarantined after the second crash;
/// the 20 other messages, in hand at the first crash, are answered.
#[test]
fn a_message_that_aborts_the_daemon_twice_is_quarantined_and_twenty_others_are_answered() {
    let (gw, gpg, gateway_fpr, signer) = with_reporter("2m");
    let (poison_id, poison) =
        encrypted_report(&gpg, &gateway_fpr, &signer, 0, &[("X-Test-Fault", "abort")]);
    let poison_file = gw.deliver(&poison);
    let mut others = std::collections::BTreeSet::new();
    for i in 1..=20 {
        let (id, raw) = encrypted_report(&gpg, &gateway_fpr, &signer, i, &[]);
        gw.deliver(&raw);
        others.insert(id);
    }

    // First start: the batch with the poison message in it aborts the daemon.
    let (status, log) = Serve::spawn(&gw, "serve-1.log", true).exited(Duration::from_secs(60));
    assert_eq!(status.signal(), Some(6), "serve did not abort:\n{log}");
    let noted = note_stop(&gw, status, result_of_signal(status));
    assert!(
        noted.contains(&poison_file) && noted.contains("killed by SIGABRT"),
        "note-stop names the message in hand and how the daemon died:\n{noted}"
    );
    assert!(!noted.contains("second time"), "{noted}");
    let out = gw.cli(&["status"]);
    let human = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        human.contains(&format!(
            "Stopped once: message {poison_file} was in hand when the daemon crashed: "
        )) && human.contains("killed by SIGABRT"),
        "{human}"
    );

    // Second start: what was in hand goes alone; the poison message aborts it again.
    let (status, log) = Serve::spawn(&gw, "serve-2.log", true).exited(Duration::from_secs(120));
    assert_eq!(
        status.signal(),
        Some(6),
        "serve did not abort again:\n{log}"
    );
    let noted = note_stop(&gw, status, result_of_signal(status));
    let second: Vec<&str> = noted
        .lines()
        .filter(|l| l.contains("second time"))
        .collect();
    assert_eq!(
        second.len(),
        1,
        "only the poison message is set aside:\n{noted}"
    );
    assert!(second[0].contains(&poison_file), "{noted}");

    // Third start: it is quarantined unread; every other message is answered.
    let serve = Serve::start(&gw, "serve-3.log", true);
    wait_until(
        "the poison message to be quarantined",
        Duration::from_secs(60),
        || {
            gw.path(&format!("inbox/.Quarantine/new/{poison_file}"))
                .exists()
        },
        || serve.log(),
    );
    wait_until(
        "the 20 other reports to be answered",
        Duration::from_secs(180),
        || others.is_subset(&answered(&gw)),
        || serve.log(),
    );
    assert!(!answered(&gw).contains(&poison_id));
    // Messages whose reports the first crash left durable come back as duplicates
    // ("skipped"); one message only is quarantined.
    let q: Vec<serde_json::Value> = gw
        .quarantine()
        .into_iter()
        .filter(|e| e["kind"] == "quarantined")
        .collect();
    assert_eq!(q.len(), 1, "{q:?}");
    let reason = q[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "stopped the daemon twice: in hand when the daemon crashed: killed by SIGABRT"
        ),
        "{reason}"
    );
    assert_eq!(gw.reports().len(), 20);
    drop(serve);

    // After an upgrade (the hook disarmed), `quarantine retry` makes it a report.
    let serve = Serve::start(&gw, "serve-4.log", false);
    let seq = q[0]["id"].to_string();
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
}

/// A SIGKILL (an operator's, the crash test's) while a message is in hand records
/// nothing, even with `note-stop` run after it: the message is answered normally at
/// the next start.
#[test]
fn a_sigkill_records_nothing_and_the_message_in_hand_is_answered_afterwards() {
    let (gw, gpg, gateway_fpr, signer) = with_reporter("2m");
    // It hangs (well within the stall limit: the watchdog sees no stall) so that it
    // is surely in hand when the kill comes.
    let (id, raw) = encrypted_report(&gpg, &gateway_fpr, &signer, 0, &[("X-Test-Fault", "hang")]);
    gw.deliver(&raw);
    for round in 1..=2 {
        let serve = Serve::start(&gw, &format!("serve-{round}.log"), true);
        serve.wait_log(
            "test fault hook: this thread hangs now",
            Duration::from_secs(60),
        );
        let status = serve.kill();
        assert_eq!(status.signal(), Some(9));
        let noted = note_stop(&gw, status, "signal");
        assert!(
            noted.contains("the daemon did not crash: nothing to record"),
            "{noted}"
        );
        let v = gw.json(&["status", "--json"]);
        assert_eq!(v["stopped_once"], serde_json::json!([]), "{v}");
    }
    let serve = Serve::start(&gw, "serve-3.log", false);
    wait_until(
        "the message to be answered",
        Duration::from_secs(60),
        || answered(&gw).contains(&id),
        || serve.log(),
    );
    assert!(gw.quarantine().is_empty());
}

/// `outbox list --json`.
fn outbox_jobs(gw: &Gateway) -> Vec<serde_json::Value> {
    gw.json(&["outbox", "list", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

/// Issue 21 item 2, the delivery queue: the acknowledgement whose delivery hangs the
/// daemon is named while it hangs, tried alone after a restart, and parked with its
/// reason after the second stop (one stop each time, though `note-stop` runs after
/// the watchdog's kill too); the 20 other acknowledgements go; `outbox retry` sends
/// it after an upgrade.
#[test]
fn a_delivery_that_hangs_the_daemon_twice_is_parked_and_the_queue_flows() {
    let (gw, gpg, gateway_fpr, signer) = with_reporter("2s");
    let (poison_id, poison) = encrypted_report_with(
        &gpg,
        &gateway_fpr,
        &signer,
        0,
        &[],
        "X-Test-Fault: hang-delivery\n",
    );
    gw.deliver(&poison);
    let mut others = std::collections::BTreeSet::new();
    for i in 1..=20 {
        let (id, raw) = encrypted_report(&gpg, &gateway_fpr, &signer, i, &[]);
        gw.deliver(&raw);
        others.insert(id);
    }
    let poison_job = |gw: &Gateway| -> serde_json::Value {
        let jobs = outbox_jobs(gw);
        let reports = gw.reports();
        let report = reports
            .iter()
            .find(|r| r["message_id"] == poison_id.trim_matches(|c| c == '<' || c == '>'))
            .unwrap_or_else(|| panic!("{reports:?}"));
        jobs.iter()
            .find(|j| j["kind"] == "acknowledgement" && j["report"] == report["id"])
            .unwrap_or_else(|| panic!("{jobs:?}"))["id"]
            .clone()
    };

    for round in 1..=2 {
        let serve = Serve::start(&gw, &format!("serve-{round}.log"), true);
        wait_until(
            "status to name the hung delivery",
            Duration::from_secs(120),
            || stalled(&gw).iter().any(|s| s["kind"] == "job"),
            || serve.log(),
        );
        let named = stalled(&gw);
        assert_eq!(named.len(), 1, "only the poison job is stalled: {named:?}");
        let job = named[0]["name"].as_str().unwrap().to_string();
        if round == 1 {
            let (failed, doctor, _) = bounded(
                {
                    let mut c = gw.command();
                    c.arg("doctor");
                    c
                },
                "doctor",
                Duration::from_secs(30),
                gw.dir.path(),
            );
            assert!(!failed.success(), "{doctor}");
            assert!(
                doctor.lines().any(|l| l.starts_with("FAIL in hand")
                    && l.contains(&format!("job {job} in hand for"))),
                "doctor names the hung job:\n{doctor}"
            );
        }
        if round == 2 {
            // Tried alone, after the others: they are all answered by now.
            wait_until(
                "the 20 other reports to be answered",
                Duration::from_secs(120),
                || others.is_subset(&answered(&gw)),
                || serve.log(),
            );
        }
        serve.wait_log("stall recorded in the store", Duration::from_secs(10));
        let (status, log) = serve.abort_with_status();
        assert!(
            log.contains(&format!("name={job}")),
            "the log names the job:\n{log}"
        );
        let noted = note_stop(&gw, status, "watchdog");
        assert!(noted.contains(&format!("name={job}")), "{noted}");
        assert_eq!(
            noted.contains("second time"),
            round == 2,
            "one stop per death:\n{noted}"
        );
    }

    // Third start: parked, visible in `outbox list` and `status`; nothing hangs.
    let serve = Serve::start(&gw, "serve-3.log", true);
    let job = poison_job(&gw);
    wait_until(
        "the job to be parked",
        Duration::from_secs(60),
        || {
            outbox_jobs(&gw)
                .iter()
                .any(|j| j["id"] == job && j["state"] == "failed")
        },
        || serve.log(),
    );
    let jobs = outbox_jobs(&gw);
    let parked = jobs.iter().find(|j| j["id"] == job).unwrap();
    assert!(
        parked["last_error"]
            .as_str()
            .unwrap()
            .starts_with("stopped the daemon twice: in hand past the stall limit"),
        "{parked}"
    );
    let v = gw.json(&["status", "--json"]);
    assert_eq!(v["outbox"]["failed"], 1, "{v}");
    assert!(stalled(&gw).is_empty());
    assert!(others.is_subset(&answered(&gw)));
    assert!(!answered(&gw).contains(&poison_id));
    drop(serve);

    // After an upgrade, `outbox retry` sends it.
    let serve = Serve::start(&gw, "serve-4.log", false);
    let out = gw.cli(&["outbox", "retry", &job.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "the parked acknowledgement to be sent",
        Duration::from_secs(30),
        || answered(&gw).contains(&poison_id),
        || serve.log(),
    );
}

/// The audit's sendmail finding: a sendmail that never returns is killed at
/// `outbox.timeout` (with what it started), the delivery is a temporary failure that
/// says so, `run-once` returns, and the message goes once sendmail works again.
#[test]
fn a_sendmail_that_never_returns_is_killed_at_the_deadline_and_retried() {
    use std::os::unix::fs::PermissionsExt as _;
    let gw = gateway("2m");
    let sendmail = gw.path("sendmail");
    let write_sendmail = |body: &str| {
        std::fs::write(&sendmail, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&sendmail, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    write_sendmail("sleep 600");
    let config = std::fs::read_to_string(&gw.config).unwrap();
    let file_outbox = format!(
        "[outbox]\nkind = \"file\"\npath = \"{}\"\n",
        gw.path("outbox").display()
    );
    assert!(config.contains(&file_outbox), "{config}");
    std::fs::write(
        &gw.config,
        config.replace(
            &file_outbox,
            &format!(
                "[outbox]\nkind = \"sendmail\"\ncommand = \"{}\"\ntimeout = \"1s\"\n",
                sendmail.display()
            ),
        ),
    )
    .unwrap();
    gw.deliver(&plain_report("<sendmail-deadline@example.net>"));

    let mut c = gw.command();
    c.arg("run-once");
    let started = Instant::now();
    let (status, _, err) = bounded(c, "run-once", Duration::from_secs(60), gw.dir.path());
    assert!(status.success(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
    let jobs = outbox_jobs(&gw);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["state"], "pending", "{jobs:?}");
    assert_eq!(jobs[0]["tries"], 1, "{jobs:?}");
    let error = jobs[0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("did not finish within 1 s (outbox.timeout); killed"),
        "{error}"
    );

    // sendmail works again: the same message goes at the next round.
    let sent = gw.path("sent.eml");
    write_sendmail(&format!("cat > {}", sent.display()));
    let out = gw.cli(&["outbox", "retry", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = gw.command();
    c.arg("run-once");
    let (status, _, err) = bounded(c, "run-once", Duration::from_secs(60), gw.dir.path());
    assert!(status.success(), "{err}");
    let mail = std::fs::read(&sent).unwrap();
    assert_eq!(
        header(&mail, "In-Reply-To").as_deref(),
        Some("<sendmail-deadline@example.net>")
    );
    assert_eq!(outbox_jobs(&gw).len(), 0, "nothing left pending");
}

/// The delivery queue, a death the watchdog does not see: the acknowledgement whose
/// delivery aborts the daemon is parked after the second crash (`note-stop` with
/// systemd's environment each time); the other acknowledgements, in hand with it at
/// the first crash, go.
#[test]
fn a_delivery_that_aborts_the_daemon_twice_is_parked_and_the_others_go() {
    let (gw, gpg, gateway_fpr, signer) = with_reporter("2m");
    let (poison_id, poison) = encrypted_report_with(
        &gpg,
        &gateway_fpr,
        &signer,
        0,
        &[],
        "X-Test-Fault: abort-delivery\n",
    );
    gw.deliver(&poison);
    let mut others = std::collections::BTreeSet::new();
    for i in 1..=20 {
        let (id, raw) = encrypted_report(&gpg, &gateway_fpr, &signer, i, &[]);
        gw.deliver(&raw);
        others.insert(id);
    }
    for round in 1..=2 {
        let (status, log) =
            Serve::spawn(&gw, &format!("serve-{round}.log"), true).exited(Duration::from_secs(120));
        assert_eq!(status.signal(), Some(6), "serve did not abort:\n{log}");
        assert!(
            log.contains("the process aborts now (delivering a job)"),
            "{log}"
        );
        let noted = note_stop(&gw, status, result_of_signal(status));
        assert!(noted.contains("kind=\"job\""), "{noted}");
        let second: Vec<&str> = noted
            .lines()
            .filter(|l| l.contains("second time"))
            .collect();
        assert_eq!(second.len(), usize::from(round == 2), "{noted}");
    }
    let serve = Serve::start(&gw, "serve-3.log", true);
    wait_until(
        "the 20 other reports to be answered",
        Duration::from_secs(120),
        || others.is_subset(&answered(&gw)),
        || serve.log(),
    );
    wait_until(
        "the job to be parked",
        Duration::from_secs(60),
        || {
            outbox_jobs(&gw).iter().any(|j| {
                j["state"] == "failed"
                    && j["last_error"]
                        .as_str()
                        .is_some_and(|e| e.starts_with("stopped the daemon twice: in hand when the daemon crashed: killed by SIGABRT"))
            })
        },
        || serve.log(),
    );
    assert!(!answered(&gw).contains(&poison_id));
    let v = gw.json(&["status", "--json"]);
    assert_eq!(v["outbox"]["failed"], 1, "{v}");
}

/// Writes wait while a backup copies the store. A backup longer than the stall limit
/// must not make the message waiting for it a stall: nothing is named or recorded
/// against it (a recorded stall would count as a stop at the next start), and it is
/// answered once the backup ends.
#[test]
fn a_backup_longer_than_the_stall_limit_is_not_a_stall() {
    let gw = gateway("2s");
    let admin = Gpg::new();
    admin.gen_key("Admin <admin@example.org>");
    let admin_key = gw.path("admin.asc");
    std::fs::write(&admin_key, admin.export("admin@example.org")).unwrap();
    let log = gw.path("serve-backup.log");
    let mut serve = gw
        .command()
        .arg("serve")
        .current_dir(gw.dir.path())
        .env("DISCLOSURED_TEST_SLOW_BACKUP", "6")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let wait = |what: &str, limit: Duration, f: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !f() {
            assert!(
                start.elapsed() < limit,
                "no {what} within {limit:?}: {}",
                read_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait("start", Duration::from_secs(30), &|| {
        read_log().contains("disclosured started")
    });
    let file = gw.path("slow.backup");
    let backup = {
        let mut cmd = gw.command();
        cmd.args(["backup", "--to"])
            .arg(&admin_key)
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        std::thread::spawn(move || cmd.output().unwrap())
    };
    wait("the backup", Duration::from_secs(30), &|| {
        read_log().contains("this backup takes longer")
    });
    gw.deliver(&plain_report("<during-backup@example.net>"));
    let start = Instant::now();
    while !backup.is_finished() {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "the backup did not end"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = backup.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait("the acknowledgement", Duration::from_secs(30), &|| {
        !gw.outbox_once_created().is_empty()
    });
    let status = gw.json(&["status", "--json"]);
    assert_eq!(status["stalled"], serde_json::json!([]), "{status}");
    assert_eq!(status["stopped_once"], serde_json::json!([]), "{status}");
    let text = read_log();
    assert!(
        !text.contains("longer than the stall limit") && !text.contains("stall recorded"),
        "the wait for the backup was taken for a stall: {text}"
    );
    let _ = serve.kill();
    let _ = serve.wait();
}
