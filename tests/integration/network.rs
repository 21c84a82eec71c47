//! The network paths against real servers: Dovecot for IMAP (IDLE, polling, restarts,
//! moves), aiosmtpd for SMTP with STARTTLS and AUTH (retries, permanent failures).

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::pipeline::REPORT;
use crate::servers::{Dovecot, SmtpMode, SmtpServer};
use crate::util::*;

/// A gateway reading from Dovecot and sending through the SMTP server.
pub struct Net {
    pub gw: Gateway,
    pub imap: Dovecot,
    pub smtp: SmtpServer,
}

impl Net {
    pub fn new() -> Net {
        Net::with_imap(Dovecot::start())
    }

    fn with_imap(imap: Dovecot) -> Net {
        let smtp = SmtpServer::start();
        let gw = Gateway::new();
        let mut text = std::fs::read_to_string(&gw.config).unwrap();
        // Replace the Maildir inbox and file outbox of the base configuration.
        let start = text.find("[inbox]").unwrap();
        let end = text.find("[store]").unwrap();
        text.replace_range(
            start..end,
            &format!(
                r#"[inbox]
kind = "imap"
host = "127.0.0.1"
port = {imap_port}
tls = "implicit"
username = "{imap_user}"
password_file = "{imap_pw}"
ca_file = "{imap_ca}"
folder = "INBOX"
processed_folder = "Processed"
quarantine_folder = "Quarantine"
poll_interval = "200ms"

[outbox]
kind = "smtp"
host = "127.0.0.1"
port = {smtp_port}
tls = "starttls"
username = "{smtp_user}"
password_file = "{smtp_pw}"
ca_file = "{smtp_ca}"
timeout = "10s"
retry_schedule = ["1s"]
retry_jitter = 0.0
expire_after = "1h"
"#,
                imap_port = imap.imaps_port(),
                imap_user = imap.user(),
                imap_pw = imap.password_file().display(),
                imap_ca = imap.ca_file().display(),
                smtp_port = smtp.port(),
                smtp_user = smtp.user(),
                smtp_pw = smtp.password_file().display(),
                smtp_ca = smtp.ca_file().display(),
            ),
        );
        std::fs::write(&gw.config, text).unwrap();
        Net { gw, imap, smtp }
    }

    fn report(&self, msgid: &str) -> Vec<u8> {
        plain_report(msgid)
    }

    fn serve(&self) -> Child {
        self.gw
            .command()
            .arg("serve")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn acks(&self) -> usize {
        self.smtp.messages().len()
    }

    /// Waits until `serve` has finished a look at the inbox (IMAP connected, a pass
    /// done, waiting in IDLE or polling). Asked through the control socket, and only
    /// once it exists: before that, the command would open the store itself, beside
    /// the starting daemon.
    fn wait_until_watching(&self) {
        wait_for("the daemon's first pass", Duration::from_secs(60), || {
            if !self.gw.path("state.sock").exists() {
                return false;
            }
            let out = self.gw.cli(&["status", "--json"]);
            out.status.success()
                && serde_json::from_slice::<serde_json::Value>(&out.stdout)
                    .is_ok_and(|s| s["inbox"]["last_pass"].is_string())
        });
    }

    /// The one queued message's record, through the daemon when it runs.
    fn only_job(&self) -> serde_json::Value {
        let jobs = self.gw.json(&["outbox", "list", "--json", "--sent"]);
        let jobs = jobs.as_array().unwrap();
        assert_eq!(jobs.len(), 1, "{jobs:#?}");
        jobs[0].clone()
    }
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops `serve` with SIGTERM and returns its log (when stderr is a pipe).
fn stop(mut child: Child) -> String {
    use std::io::Read;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("serve did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    // Empty when stderr went to a file.
    if let Some(mut stderr) = child.stderr.take() {
        stderr.read_to_string(&mut log).unwrap();
    }
    assert!(status.success(), "serve failed: {log}");
    log
}

#[test]
fn idle_delivery_acknowledged_over_smtp_with_starttls() {
    let net = Net::new();
    let child = net.serve();
    // Once it watches the inbox, append: the report arrives during IDLE.
    net.wait_until_watching();
    net.imap.append("INBOX", &net.report("<idle1@example.net>"));
    wait_for("the acknowledgement", Duration::from_secs(30), || {
        net.acks() == 1
    });
    let log = stop(child);
    assert!(log.contains("IMAP connected idle=true"), "{log}");

    let (rcpts, ack) = &net.smtp.messages()[0];
    assert_eq!(rcpts, &vec!["alice@example.net".to_string()]);
    assert_eq!(header(ack, "In-Reply-To").unwrap(), "<idle1@example.net>");
    assert!(
        header(ack, "Content-Type")
            .unwrap()
            .starts_with("multipart/signed")
    );
    // Moved out of the inbox into the processed folder, nothing deleted.
    assert!(net.imap.messages("INBOX").is_empty());
    assert_eq!(net.imap.messages("Processed").len(), 1);
    let reports = net.gw.reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["status"], "acknowledged");
}

#[test]
fn unreadable_mail_goes_to_the_quarantine_folder() {
    let net = Net::new();
    net.imap.append("INBOX", b"\x00\x01 garbage");
    net.imap.append(
        "INBOX",
        &message(
            &[("From", "a@example.net"), ("Message-ID", "<q@example.net>")],
            "-----BEGIN PGP MESSAGE-----\n\nhQEMA\n-----END PGP MESSAGE-----\n",
        ),
    );
    net.gw.run_once();
    assert!(net.imap.messages("INBOX").is_empty());
    assert_eq!(net.imap.messages("Quarantine").len(), 2);
    let q = net.gw.quarantine();
    assert_eq!(q.len(), 2);
    assert!(q.iter().all(|r| r["file"] == "imap:Quarantine"));
}

#[test]
fn polling_fallback_and_copy_expunge_without_idle_or_move() {
    let net = Net::with_imap(Dovecot::start_without_idle());
    let child = net.serve();
    net.wait_until_watching();
    net.imap.append("INBOX", &net.report("<poll@example.net>"));
    wait_for("the acknowledgement", Duration::from_secs(30), || {
        net.acks() == 1
    });
    let log = stop(child);
    assert!(log.contains("IMAP connected idle=false"), "{log}");
    // Without MOVE: copied, then removed from the inbox with UID EXPUNGE.
    assert_eq!(net.imap.messages("Processed").len(), 1);
    assert!(net.imap.messages("INBOX").is_empty());
}

#[test]
fn dovecot_restart_mid_run_reconnects_and_carries_on() {
    let mut net = Net::new();
    let child = net.serve();
    net.wait_until_watching();
    net.imap.append("INBOX", &net.report("<r1@example.net>"));
    wait_for("the first acknowledgement", Duration::from_secs(30), || {
        net.acks() == 1
    });
    net.imap.restart();
    net.imap.append("INBOX", &net.report("<r2@example.net>"));
    wait_for(
        "the second acknowledgement",
        Duration::from_secs(60),
        || net.acks() == 2,
    );
    let log = stop(child);
    assert!(log.contains("reconnecting"), "{log}");
    assert_eq!(net.gw.reports().len(), 2);
}

#[test]
fn smtp_down_then_up_delivers_exactly_once() {
    let mut net = Net::new();
    net.smtp.stop();
    net.imap.append("INBOX", &net.report("<down@example.net>"));
    let child = net.serve();
    wait_for("the report", Duration::from_secs(30), || {
        net.imap.messages("Processed").len() == 1
    });
    // At least one attempt failed (recorded), before the server comes back.
    wait_for("a failed attempt", Duration::from_secs(30), || {
        net.gw.path("state.sock").exists() && net.only_job()["tries"].as_u64().unwrap() >= 1
    });
    net.smtp.restart();
    wait_for("the acknowledgement", Duration::from_secs(30), || {
        net.acks() == 1
    });
    // Recorded as sent: from then on no round sends it again.
    wait_for("the job marked sent", Duration::from_secs(30), || {
        net.only_job()["state"] == "sent"
    });
    let log = stop(child);
    assert_eq!(net.acks(), 1, "{log}");
    assert!(log.contains("message deferred"), "{log}");
    let jobs = net.gw.json(&["outbox", "list", "--json", "--sent"]);
    let job = &jobs.as_array().unwrap()[0];
    assert_eq!(job["state"], "sent");
    assert!(job["tries"].as_u64().unwrap() >= 2, "{job}");
}

#[test]
fn smtp_550_parks_the_message_with_the_reason_and_retry_sends_it() {
    let net = Net::new();
    net.smtp.set_mode(SmtpMode::PermFail);
    net.imap.append("INBOX", &net.report("<perm@example.net>"));
    net.gw.run_once();
    assert_eq!(net.acks(), 0);
    let jobs = net.gw.json(&["outbox", "list", "--json"]);
    let job = &jobs.as_array().unwrap()[0];
    assert_eq!(job["state"], "failed");
    assert_eq!(job["tries"], 1);
    assert!(job["last_error"].as_str().unwrap().contains("550"), "{job}");
    assert!(job["report"].as_str().unwrap().starts_with("VR-"));
    // A second run does not retry a parked message.
    net.gw.run_once();
    assert_eq!(net.acks(), 0);
    // The operator fixes the cause and retries.
    net.smtp.set_mode(SmtpMode::Accept);
    let id = job["id"].as_u64().unwrap().to_string();
    assert!(net.gw.cli(&["outbox", "retry", &id]).status.success());
    net.gw.run_once();
    assert_eq!(net.acks(), 1);
}

#[test]
fn stored_but_not_moved_is_replayed_without_a_second_report_or_ack() {
    let net = Net::new();
    let child = net.serve();
    wait_for("the processed folder", Duration::from_secs(30), || {
        net.imap.folder_exists("Processed")
    });
    // The move after storing will fail: the folder is gone. The daemon has stored
    // the report and queued its acknowledgement by then, exactly as if it had been
    // killed between the store and the move.
    net.imap.delete_folder("Processed");
    net.imap
        .append("INBOX", &net.report("<replay@example.net>"));
    wait_for(
        "the replayed message to be moved",
        Duration::from_secs(60),
        || net.imap.folder_exists("Processed") && net.imap.messages("Processed").len() == 1,
    );
    wait_for("the acknowledgement", Duration::from_secs(30), || {
        net.acks() == 1
    });
    // Recorded as sent: from then on no round sends it again.
    wait_for("the job marked sent", Duration::from_secs(30), || {
        net.only_job()["state"] == "sent"
    });
    let log = stop(child);
    assert_eq!(net.gw.reports().len(), 1, "{log}");
    assert_eq!(net.acks(), 1, "{log}");
    assert!(log.contains("outcome=\"duplicate\""), "{log}");
}

/// Canaries: the IMAP and SMTP passwords (the password files' contents), the gateway
/// key's passphrase, and text from report bodies (decrypted and HTML) must never reach
/// stdout or stderr, through `run-once` and `serve`, at DEBUG and TRACE too: at those
/// levels dependencies would log protocol lines (async-imap: LOGIN with the password)
/// and message text (html5ever: every token).
#[test]
fn no_password_passphrase_or_report_text_in_the_output_even_at_debug() {
    let net = Net::new();
    let passphrase = "PassphraseCanary-4e9b";
    let s = crate::keys::ProtectedScene::new(&net.gw, passphrase);
    let imap_password = net.imap.password().to_string();
    let smtp_password = net.smtp.password().to_string();
    let canaries = |round: &str| {
        vec![
            passphrase.to_string(),
            imap_password.clone(),
            smtp_password.clone(),
            format!("EncryptedBodyCanary-{round}"),
            format!("HtmlBodyCanary-{round}"),
            "Sup3rS3cretCanary".to_string(),
        ]
    };
    let reports = |round: &str| {
        let encrypted = s.encrypted_report(
            &format!("<enc-{round}@example.net>"),
            &format!("{REPORT}\nSecret detail: EncryptedBodyCanary-{round}\n"),
        );
        let html = message(
            &[
                ("From", "Bob <bob@example.net>"),
                ("To", GATEWAY),
                ("Subject", "XSS report"),
                ("Message-ID", &format!("<html-{round}@example.net>")),
                ("Content-Type", "text/html; charset=utf-8"),
            ],
            &format!(
                "<html><body><h1>Title: XSS in search</h1><p>Description: HtmlBodyCanary-{round}</p></body></html>"
            ),
        );
        [encrypted, html]
    };
    let assert_clean = |what: &str, round: &str, output: &str| {
        for canary in canaries(round) {
            assert!(
                !output.contains(&canary),
                "{what} printed the canary {canary}:\n{output}"
            );
        }
    };

    // run-once at DEBUG.
    for raw in reports("once") {
        net.imap.append("INBOX", &raw);
    }
    let out = net
        .gw
        .command()
        .arg("run-once")
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{output}");
    assert_eq!(net.acks(), 2, "{output}");
    assert_clean("run-once", "once", &output);

    // serve at TRACE.
    let log_path = net.gw.path("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = net
        .gw
        .command()
        .arg("serve")
        .env("RUST_LOG", "trace")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    net.wait_until_watching();
    for raw in reports("serve") {
        net.imap.append("INBOX", &raw);
    }
    wait_for("the acknowledgements", Duration::from_secs(60), || {
        net.acks() == 4
    });
    stop(child);
    let output = std::fs::read_to_string(&log_path).unwrap();
    assert!(output.contains("IMAP connected"), "{output}");
    assert_clean("serve", "serve", &output);

    // The scenario did run: reports stored, acknowledgements signed by the
    // protected key (and encrypted to Alice, whose key the gateway has).
    assert_eq!(net.gw.reports().len(), 4);
    let acks = net.smtp.messages();
    let mut encrypted = 0;
    for (_, ack) in &acks {
        let ct = header(ack, "Content-Type").unwrap();
        if ct.starts_with("multipart/encrypted") {
            let text = s.assert_ack_from_gateway(ack);
            assert!(text.contains("Title: SQL injection"), "{text}");
            encrypted += 1;
        } else {
            assert_signed_by(&s.gpg, ack, &s.gateway_fpr);
        }
    }
    assert_eq!(encrypted, 2);

    // A wrong IMAP password: the error names the account, not the password.
    let bad = net.gw.path("bad-password");
    std::fs::write(&bad, "Sup3rS3cretCanary\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = net
        .gw
        .command()
        .arg("run-once")
        .env("DISCLOSURED__INBOX__PASSWORD_FILE", &bad)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("IMAP login as {} refused", net.imap.user())),
        "{err}"
    );
    assert_clean("run-once with a wrong password", "none", &err);

    // A password file others can read is refused before any connection.
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = net
        .gw
        .command()
        .arg("run-once")
        .env("DISCLOSURED__INBOX__PASSWORD_FILE", &bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn starttls_and_explicit_plain_imap_connections() {
    let net = Net::new();
    net.imap.append("INBOX", &net.report("<tls1@example.net>"));
    // STARTTLS: the server refuses to log in before the upgrade on this port.
    let out = net
        .gw
        .command()
        .arg("run-once")
        .env("DISCLOSURED__INBOX__TLS", "starttls")
        .env("DISCLOSURED__INBOX__HOST", net.imap.starttls_host())
        .env(
            "DISCLOSURED__INBOX__PORT",
            net.imap.starttls_port().to_string(),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(net.gw.reports().len(), 1);

    // Plain text only when asked for, and then with a warning.
    net.imap.append("INBOX", &net.report("<tls2@example.net>"));
    let out = net
        .gw
        .command()
        .arg("run-once")
        .env("DISCLOSURED__INBOX__TLS", "none")
        .env(
            "DISCLOSURED__INBOX__PORT",
            net.imap.plain_port().to_string(),
        )
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("without TLS"), "{log}");
    assert_eq!(net.gw.reports().len(), 2);

    // Implicit TLS to a server whose certificate we do not trust is refused.
    let out = net
        .gw
        .command()
        .arg("run-once")
        .env("DISCLOSURED__INBOX__CA_FILE", net.smtp.ca_file())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(log.contains("IMAP TLS"), "{log}");
}

#[test]
fn check_config_and_serve_refuse_an_unsafe_password_file_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let net = Net::new();
    net.gw.add_maintainer();
    let out = net.gw.cli(&["check-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::set_permissions(
        net.imap.password_file(),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    for args in [&["check-config"][..], &["serve"][..]] {
        let out = net.gw.cli(args);
        assert!(!out.status.success(), "{args:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("chmod 600"), "{args:?}: {err}");
        assert!(!err.contains(net.imap.password()), "{err}");
    }
}

/// Issue 18, item 11: a message that arrived while a pass was running waited for the
/// IDLE refresh (minutes): the server announced it (EXISTS) in its answer to one of
/// the pass's own commands, and then had nothing new to say once IDLE began. Driven
/// step by step against Dovecot, with APPENDs put into that window.
#[test]
fn issue_18_mail_appended_during_a_pass_ends_the_next_idle_at_once() {
    use disclosured::testing::config::{Inbox, Settings};
    use disclosured::testing::source::imap::{ImapInbox, Mailbox, Woke};
    let net = Net::new();
    let settings = Settings::load(Some(&net.gw.config)).unwrap();
    let Inbox::Imap(imap) = settings.inbox.clone() else {
        panic!("not an IMAP inbox")
    };
    let inbox = ImapInbox::new(imap).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_stop, mut shutdown) = tokio::sync::watch::channel(false);
        // Longer than any answer takes here, far shorter than the IDLE refresh.
        let limit = Duration::from_secs(30);
        let mut wait = async |mailbox: Mailbox, what: &str| -> Mailbox {
            let (mailbox, woke) = tokio::time::timeout(limit, mailbox.wait(&mut shutdown))
                .await
                .unwrap_or_else(|_| panic!("{what}: still waiting after {limit:?}"))
                .unwrap();
            assert_eq!(woke, Woke::NewData, "{what}");
            mailbox
        };
        let mailbox = inbox.connect().await.unwrap();
        assert!(mailbox.has_idle());
        // Before IDLE: the server says so once IDLE starts.
        net.imap.append("INBOX", &net.report("<w1@example.net>"));
        let mut mailbox = wait(mailbox, "a message before IDLE").await;
        // A pass lists the folder, a message arrives (the window), the pass handles
        // what it listed: the server announces the new one in its answers.
        let listed = mailbox.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        net.imap.append("INBOX", &net.report("<w2@example.net>"));
        for (uid, _) in listed {
            assert!(mailbox.fetch(uid).await.unwrap().is_some());
            mailbox.move_to(uid, "Processed").await.unwrap();
        }
        let mut mailbox = wait(mailbox, "a message that came during a pass").await;
        let listed = mailbox.list().await.unwrap();
        assert_eq!(listed.len(), 1, "the second message is there to take");
        for (uid, _) in listed {
            mailbox.move_to(uid, "Processed").await.unwrap();
        }
        // Just before a pass lists the folder: announced with the search's answer,
        // not in it.
        net.imap.append("INBOX", &net.report("<w3@example.net>"));
        let seen = mailbox.list().await.unwrap().len();
        let mut mailbox = if seen == 0 {
            wait(mailbox, "a message announced with the listing").await
        } else {
            mailbox
        };
        assert_eq!(mailbox.list().await.unwrap().len(), 1);
        mailbox.logout().await;
    });
}

/// Issue 18, item 5, over IMAP: `quarantine retry` moves the message from the
/// quarantine folder back to the watched one, found by its content.
#[test]
fn issue_18_quarantine_retry_moves_the_message_back_on_the_imap_server() {
    let net = Net::new();
    net.imap.append("INBOX", b"From: x@example.net\r\nSubject: garbage\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=b\r\n\r\n--b\r\n\r\nnot openpgp\r\n--b--\r\n");
    net.imap.append("INBOX", &net.report("<ok@example.net>"));
    net.gw.run_once();
    assert_eq!(net.imap.messages("Quarantine").len(), 1);
    let q = net.gw.quarantine();
    let id = q[0]["id"].as_u64().unwrap().to_string();
    let out = net.gw.cli(&["quarantine", "retry", &id]);
    assert!(out.status.success(), "{:?}", out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("back in the inbox"));
    assert!(net.imap.messages("Quarantine").is_empty());
    assert_eq!(net.imap.messages("INBOX").len(), 1);
    let out = net.gw.cli(&["quarantine", "retry", &id]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("already retried"),
        "{out:?}"
    );
    assert_eq!(net.imap.messages("INBOX").len(), 1);
    // Read again: still not a report, quarantined again, and the old record says so.
    net.gw.run_once();
    assert_eq!(net.imap.messages("Quarantine").len(), 1);
    let q = net.gw.quarantine();
    let row = q
        .iter()
        .find(|r| r["id"].as_u64().unwrap().to_string() == id)
        .unwrap();
    assert!(
        row["retried"]["now"]
            .as_str()
            .unwrap()
            .starts_with("quarantined again"),
        "{row:#}"
    );
}

/// Issue 18, item 5, the limit raised: a message too large to read was quarantined
/// unread on the IMAP server; retried, it is found again (by its size) and read.
#[test]
fn issue_18_quarantine_retry_reads_an_oversized_imap_message_after_the_limit_is_raised() {
    let net = Net::new();
    net.imap.append("INBOX", &net.report("<large@example.net>"));
    let out = net
        .gw
        .command()
        .arg("run-once")
        .env("DISCLOSURED__LIMITS__MAX_MESSAGE_BYTES", "200")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(net.imap.messages("Quarantine").len(), 1);
    let id = net.gw.quarantine()[0]["id"].as_u64().unwrap().to_string();
    let out = net.gw.cli(&["quarantine", "retry", &id]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("back in the inbox"),
        "{out:?}"
    );
    net.gw.run_once();
    let reports = net.gw.reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(net.acks(), 1);
    assert!(net.imap.messages("Quarantine").is_empty());
    let row = net.gw.quarantine()[0].clone();
    let report = reports[0]["id"].as_str().unwrap();
    assert_eq!(row["retried"]["now"], format!("report {report}"), "{row:#}");
}
