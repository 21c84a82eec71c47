//! `serve`: first start generates a key, a dropped-in report is stored and answered,
//! and SIGINT/SIGTERM stop it cleanly.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::pipeline::REPORT;
use crate::util::*;

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &std::process::Child, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn serve_generates_a_key_answers_a_report_and_stops_on_signal() {
    for sig in ["INT", "TERM"] {
        let gw = Gateway::without_key();
        let mut child = gw
            .command()
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // First start: a key is generated, its secret file is 0600.
        wait_for("the generated key", Duration::from_secs(30), || {
            std::fs::read_dir(gw.path("keys"))
                .map(|d| {
                    d.filter_map(Result::ok)
                        .any(|e| e.path().to_string_lossy().ends_with(".pub.asc"))
                })
                .unwrap_or(false)
        });
        let mut headers = vec![
            ("From", "Alice <alice@example.net>"),
            ("Subject", "Report"),
            ("Message-ID", "<serve@example.net>"),
        ];
        headers.push(("Content-Type", "text/plain"));
        gw.deliver(&message(&headers, REPORT));
        wait_for("the acknowledgement", Duration::from_secs(30), || {
            !gw.outbox_once_created().is_empty()
        });
        if sig == "TERM" {
            command_line_works_beside_the_daemon(&gw);
        }
        signal(&child, sig);
        let out = wait_with_timeout(&mut child, Duration::from_secs(10));
        assert!(out.0.success(), "serve exited with {:?}: {}", out.0, out.2);
        assert!(out.1.contains("Generated a new gateway key"), "{}", out.1);
        assert!(out.1.contains(".pub.asc"), "{}", out.1);
        assert!(out.2.contains("message handled"), "{}", out.2);
        assert!(out.2.contains("stopped"), "{}", out.2);
        // The log never carries the report's text.
        assert!(
            !out.2.contains("concatenated into the SQL query"),
            "{}",
            out.2
        );
        // After it stopped, the store opens and holds the acknowledged report.
        let reports = gw.reports();
        assert_eq!(reports.len(), 1);
        let want = if sig == "TERM" {
            "triaged"
        } else {
            "acknowledged"
        };
        assert_eq!(reports[0]["status"], want);
    }
}

fn wait_with_timeout(
    child: &mut std::process::Child,
    limit: Duration,
) -> (std::process::ExitStatus, String, String) {
    use std::io::Read;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            let mut err = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status, out, err);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("serve did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// As [`wait_with_timeout`], for a child whose stderr goes to a file (returned empty).
fn wait_with_timeout_log(
    child: &mut std::process::Child,
    limit: Duration,
) -> (std::process::ExitStatus, String, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, String::new(), String::new());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("serve did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// While `serve` holds the store, the command line goes through its control socket:
/// listing, changing and answering a report all work, and the daemon sends the reply.
fn command_line_works_beside_the_daemon(gw: &Gateway) {
    use std::os::unix::fs::PermissionsExt;
    let socket = gw.path("state.sock");
    wait_for("the control socket", Duration::from_secs(10), || {
        socket.exists()
    });
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "control socket mode {mode:o}");
    let reports = gw.reports();
    assert_eq!(reports.len(), 1);
    let id = reports[0]["id"].as_str().unwrap().to_string();
    let out = gw.cli(&[
        "reports",
        "set",
        &id,
        "--status",
        "triaged",
        "--note",
        "via socket",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = gw.json(&["reports", "show", &id, "--json"]);
    assert_eq!(shown["status"], "triaged");
    let out = gw.cli(&["reports", "set", &id, "--status", "disclosed"]);
    assert_eq!(out.status.code(), Some(1), "a refused change exits 1");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot go from triaged"));
    let msg = gw.path("reply.txt");
    std::fs::write(&msg, "We are on it.\n").unwrap();
    let out = gw.cli(&["reports", "reply", &id, "--file", msg.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the reply", Duration::from_secs(30), || {
        gw.outbox_once_created().len() >= 2
    });
}

/// Under systemd (`Type=notify`, `WatchdogSec=`): READY=1 once started, WATCHDOG=1
/// pings at half the interval while the inbox loop makes progress, a STATUS= line,
/// and STOPPING=1 on SIGTERM. A datagram socket stands in for systemd's.
#[test]
fn serve_speaks_the_systemd_notify_protocol_and_feeds_the_watchdog() {
    let gw = Gateway::new();
    let sock_path = gw.path("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = gw
        .command()
        .arg("serve")
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "1000000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    // READY, then at least three pings (every 0.5 s).
    while seen
        .iter()
        .filter(|m: &&String| m.contains("WATCHDOG=1"))
        .count()
        < 3
    {
        assert!(start.elapsed() < Duration::from_secs(20), "{seen:?}");
        let n = sock.recv(&mut buf).unwrap();
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let ready = seen.iter().position(|m| m.contains("READY=1")).unwrap();
    let first_ping = seen.iter().position(|m| m.contains("WATCHDOG=1")).unwrap();
    assert!(ready < first_ping, "{seen:?}");
    assert!(
        seen.iter()
            .any(|m| m.contains("STATUS=watching the inbox; 0 messages handled")),
        "{seen:?}"
    );
    signal(&child, "TERM");
    let mut stopping = false;
    while let Ok(n) = sock.recv(&mut buf) {
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "no STOPPING=1");
    let out = wait_with_timeout(&mut child, Duration::from_secs(10));
    assert!(out.0.success(), "{}", out.2);
    assert!(out.2.contains("systemd watchdog enabled"), "{}", out.2);
}

/// SIGHUP: a valid new configuration is applied (here a new report ID prefix), an
/// invalid one is refused with a log line and the daemon carries on unchanged, and
/// `store.path` is never moved under a running daemon.
#[test]
fn sighup_reloads_a_valid_configuration_and_refuses_a_bad_one() {
    let gw = Gateway::new();
    // The log goes to a file, so the test can wait for each reload's log line.
    let log_path = gw.path("serve.log");
    let mut child = gw
        .command()
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let report = |n: u32| {
        message(
            &[
                ("From", "Alice <alice@example.net>"),
                ("Subject", "Report"),
                ("Message-ID", &format!("<hup{n}@example.net>")),
            ],
            REPORT,
        )
    };
    gw.deliver(&report(1));
    wait_for("the first report", Duration::from_secs(30), || {
        gw.outbox_once_created().len() == 1
    });
    let original = std::fs::read_to_string(&gw.config).unwrap();

    // A broken file: refused, nothing changes.
    std::fs::write(&gw.config, format!("{original}\n[frobnicate]\nx = 1\n")).unwrap();
    signal(&child, "HUP");
    wait_for("the refusal", Duration::from_secs(30), || {
        log().contains("new configuration refused")
    });
    gw.deliver(&report(2));
    wait_for("the second report", Duration::from_secs(30), || {
        gw.outbox_once_created().len() == 2
    });

    // A valid change, plus a store move that must be refused.
    let changed = original
        .replace("report_id_prefix = \"VR\"", "report_id_prefix = \"SEC\"")
        .replace("/state\"", "/elsewhere\"");
    assert_ne!(changed, original);
    std::fs::write(&gw.config, &changed).unwrap();
    signal(&child, "HUP");
    wait_for("the reload", Duration::from_secs(30), || {
        log().contains("configuration reloaded")
    });
    gw.deliver(&report(3));
    wait_for("the third report", Duration::from_secs(30), || {
        gw.outbox_once_created().len() == 3
    });

    signal(&child, "TERM");
    let mut out = wait_with_timeout_log(&mut child, Duration::from_secs(30));
    out.2 = log();
    assert!(out.0.success(), "{}", out.2);
    assert!(out.2.contains("new configuration refused"), "{}", out.2);
    assert!(out.2.contains("frobnicate"), "{}", out.2);
    assert!(
        out.2.contains("store.path cannot change while running"),
        "{}",
        out.2
    );
    assert!(out.2.contains("configuration reloaded"), "{}", out.2);
    assert!(!gw.path("elsewhere").exists());
    // The store is still where it was, with all three reports; the third has the new
    // prefix. (The CLI reads the store through the config, so restore its path.)
    std::fs::write(
        &gw.config,
        original.replace("report_id_prefix = \"VR\"", "report_id_prefix = \"SEC\""),
    )
    .unwrap();
    let ids: Vec<String> = gw
        .reports()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(
        ids.iter().filter(|i| i.starts_with("VR-")).count(),
        2,
        "{ids:?}"
    );
    assert_eq!(
        ids.iter().filter(|i| i.starts_with("SEC-")).count(),
        1,
        "{ids:?}"
    );
}
