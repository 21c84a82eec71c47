//! Issue 21: the users' roads, end to end, under `serve`. Each journey follows
//! README's own instructions: Alice reports as "For researchers" says, Bob and Carol
//! work as "Working by email" and "Maintainers" say, the daemon runs as `make run`
//! runs it and sends through a real SMTP server. Every journey runs for every way
//! Alice's key can reach the gateway ([`KeyPath`]): none of them preloads a key but
//! the one that is about preloading. Every party's mail is opened with their own
//! GnuPG and the gateway's signature checked; every command has a time bound, so a
//! hang fails the test with a message instead of stopping the run.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::lifecycle::Maintainer;
use crate::pipeline::{REPORT, entity, pgp_mime_encrypted};
use crate::servers::{SmtpMode, SmtpServer};
use crate::util::*;

/// How long any one command may take before it counts as hung.
const COMMAND_BOUND: Duration = Duration::from_secs(20);
/// Deadlines and digests on the daemon's own timers, in seconds instead of days.
const FAST_TIMERS: &str = "[policy]\ninitial_assessment = \"2s\"\n[notify]\ncheck_interval = \"1s\"\n[digest]\nschedule = \"every 2s\"\n";
/// How long the daemon may take to send a mail that a step causes.
const MAIL_BOUND: Duration = Duration::from_secs(60);

/// How Alice's public key reaches the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPath {
    /// Attached inside the encrypted, signed report (docs/researchers.md).
    Attached,
    /// Only in the report's `Autocrypt:` header, as Autocrypt-capable clients send it.
    Autocrypt,
    /// Put in `keys/reporters/` by the operator before the report.
    Preloaded,
    /// Attached to an earlier report; this report is signed but carries no key.
    Learnt,
    /// None: encrypted to the gateway, not signed.
    Unsigned,
}

impl KeyPath {
    /// Whether answers can be encrypted to Alice.
    fn has_key(self) -> bool {
        self != KeyPath::Unsigned
    }
}

/// The researcher, two maintainers, the gateway under `serve`, and its SMTP server.
pub struct World {
    pub gw: Gateway,
    pub smtp: SmtpServer,
    pub alice: Gpg,
    pub alice_fpr: String,
    pub gateway_fpr: String,
    pub bob: Maintainer,
    pub carol: Maintainer,
    pub path: KeyPath,
    daemon: Option<Child>,
    sent: std::cell::Cell<u32>,
    learnt: std::cell::Cell<bool>,
}

pub const ALICE: &str = "alice@example.net";
const BOB: &str = "bob@example.org";
const CAROL: &str = "carol@example.org";

impl World {
    /// A gateway configured as README's Quick start and Maintainers sections say,
    /// with `extra` appended to its configuration (short timers for the journeys that
    /// wait for them).
    pub fn new(path: KeyPath, extra: &str) -> World {
        let gw = Gateway::new();
        let smtp = SmtpServer::start();
        let alice = Gpg::new();
        alice.import(&gw.public_key_path());
        let alice_fpr = alice.gen_key(&format!("Alice Example <{ALICE}>"));
        let gateway_fpr = gw.signing_fingerprint();
        let bob = Maintainer::new(&gw, "Bob Maintainer", BOB);
        let carol = Maintainer::new(&gw, "Carol Maintainer", CAROL);
        let root = gw.dir.path().display().to_string();
        let mut text = std::fs::read_to_string(&gw.config).unwrap();
        let start = text.find("[outbox]").unwrap();
        let end = text.find("[store]").unwrap();
        text.replace_range(
            start..end,
            &format!(
                r#"[outbox]
kind = "smtp"
host = "127.0.0.1"
port = {port}
tls = "starttls"
username = "{user}"
password_file = "{pw}"
ca_file = "{ca}"
timeout = "5s"
retry_schedule = ["1s"]
retry_jitter = 0.0
expire_after = "1h"
"#,
                port = smtp.port(),
                user = smtp.user(),
                pw = smtp.password_file().display(),
                ca = smtp.ca_file().display(),
            ),
        );
        text.push_str(&format!(
            "{extra}\n[[maintainers]]\nname = \"Bob Maintainer\"\naddress = \"{BOB}\"\nkey = \"{root}/keys/maintainers/bob.asc\"\n\n[[maintainers]]\nname = \"Carol Maintainer\"\naddress = \"{CAROL}\"\nkey = \"{root}/keys/maintainers/carol.asc\"\n"
        ));
        std::fs::write(&gw.config, text).unwrap();
        let w = World {
            gw,
            smtp,
            alice,
            alice_fpr,
            gateway_fpr,
            bob,
            carol,
            path,
            daemon: None,
            sent: std::cell::Cell::new(0),
            learnt: std::cell::Cell::new(false),
        };
        if path == KeyPath::Preloaded {
            std::fs::write(
                w.gw.path("keys/reporters/alice.asc"),
                w.alice.export(&w.alice_fpr),
            )
            .unwrap();
        }
        w
    }

    /// Starts `serve` and waits until it is ready (its status answers).
    pub fn start(&mut self) {
        assert!(self.daemon.is_none(), "serve is already running");
        let child = self
            .gw
            .command()
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.gw.path("serve.log")).unwrap())
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        let start = Instant::now();
        loop {
            let (ok, out, _) = self.cli(&["status", "--json"]);
            if ok
                && serde_json::from_str::<serde_json::Value>(&out)
                    .is_ok_and(|s| s["inbox"]["daemon"] == true)
            {
                return;
            }
            if let Some(status) = self.daemon.as_mut().unwrap().try_wait().unwrap() {
                panic!("serve exited at start ({status}): {}", self.log());
            }
            assert!(
                start.elapsed() < MAIL_BOUND,
                "serve did not come up: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops `serve` with SIGTERM, as systemd does; it must exit within the bound.
    pub fn stop(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "serve exited with {status}: {}",
                    self.log()
                );
                return;
            }
            if start.elapsed() > COMMAND_BOUND {
                let _ = child.kill();
                panic!(
                    "serve did not stop within {COMMAND_BOUND:?}: {}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.gw.path("serve.log")).unwrap_or_default()
    }

    /// Runs a command; a command that has not returned within [`COMMAND_BOUND`] is
    /// killed and fails the test. Returns (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        self.cli_with_input(args, None)
    }

    /// As [`World::cli`], with `input` on standard input.
    pub fn cli_with_input(&self, args: &[&str], input: Option<&[u8]>) -> (bool, String, String) {
        let mut child = self
            .gw
            .command()
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(bytes) = input {
            let mut stdin = child.stdin.take().unwrap();
            let bytes = bytes.to_vec();
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = stdin.write_all(&bytes);
            });
        }
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > COMMAND_BOUND {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`disclosured {}` did not return within {COMMAND_BOUND:?} (daemon log: {})",
                    args.join(" "),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status.success(), out.join().unwrap(), err.join().unwrap())
    }

    /// A command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.cli(args);
        assert!(ok, "`disclosured {}` failed: {err}", args.join(" "));
        out
    }

    pub fn show(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["reports", "show", id, "--json"])).unwrap()
    }

    /// Drops a message into the inbox as the MDA does.
    pub fn deliver(&self, raw: &[u8]) {
        self.gw.deliver(raw);
    }

    /// Every message the SMTP server accepted for `to`, oldest first.
    pub fn mail_to(&self, to: &str) -> Vec<Vec<u8>> {
        self.smtp
            .messages()
            .into_iter()
            .filter(|(rcpts, _)| rcpts.iter().any(|r| r.eq_ignore_ascii_case(to)))
            .map(|(_, raw)| raw)
            .collect()
    }

    /// Waits for the first message to `to` after the first `seen` whose Subject
    /// contains `subject`; fails with the daemon's log when none comes in time.
    pub fn wait_mail(&self, to: &str, seen: usize, subject: &str) -> Vec<u8> {
        let start = Instant::now();
        loop {
            if let Some(m) = self
                .mail_to(to)
                .into_iter()
                .skip(seen)
                .find(|m| header(m, "Subject").unwrap_or_default().contains(subject))
            {
                return m;
            }
            assert!(
                start.elapsed() < MAIL_BOUND,
                "no mail to {to} with {subject:?} within {MAIL_BOUND:?}; got subjects {:?}; log: {}",
                self.mail_to(to)
                    .iter()
                    .map(|m| header(m, "Subject").unwrap_or_default())
                    .collect::<Vec<_>>(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `f` holds of the store (read through the command line).
    pub fn wait_until(&self, what: &str, mut f: impl FnMut(&World) -> bool) {
        let start = Instant::now();
        while !f(self) {
            assert!(
                start.elapsed() < MAIL_BOUND,
                "timed out waiting for {what}; log: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn next_msgid(&self, who: &str) -> String {
        let n = self.sent.get() + 1;
        self.sent.set(n);
        format!("<{who}-{n}@example.net>")
    }

    /// Alice's report as her client sends it on this key path; returns its
    /// Message-ID. For [`KeyPath::Learnt`] an earlier report with the key attached
    /// goes first, and is answered.
    pub fn report(&self, text: &str) -> String {
        self.earlier_report();
        let msgid = self.next_msgid("alice");
        let attach = self.path == KeyPath::Attached;
        self.deliver(&self.alice_mail(&msgid, "...", None, text, attach));
        msgid
    }

    /// On [`KeyPath::Learnt`], Alice's earlier report with her key attached, once,
    /// waited for until it is answered.
    pub fn earlier_report(&self) {
        if self.path == KeyPath::Learnt && !self.learnt.get() {
            self.learnt.set(true);
            let before = self.mail_to(ALICE).len();
            let msgid = self.next_msgid("alice");
            self.deliver(&self.alice_mail(
                &msgid,
                "...",
                None,
                "Title: Open redirect in /logout\n\nDescription:\nThe next parameter is followed.\n",
                true,
            ));
            self.wait_mail(ALICE, before, "[VR-");
        }
    }

    /// A message from Alice: encrypted to the gateway, signed by her key unless
    /// her path is [`KeyPath::Unsigned`]; her key attached when `attach`, in an
    /// Autocrypt header on that path.
    pub fn alice_mail(
        &self,
        msgid: &str,
        subject: &str,
        in_reply_to: Option<&str>,
        text: &str,
        attach: bool,
    ) -> Vec<u8> {
        let key = self.alice.export(&self.alice_fpr);
        let attachments: Vec<(&str, &str, &[u8])> = if attach {
            vec![("alice.asc", "application/pgp-keys", &key)]
        } else {
            Vec::new()
        };
        let inner = entity(Some(subject), text, &attachments);
        let signer = self.path.has_key().then_some(self.alice_fpr.as_str());
        let armored = self.alice.encrypt(&self.gateway_fpr, signer, &inner);
        let autocrypt;
        let mut headers = vec![
            ("From", "Alice Example <alice@example.net>"),
            ("To", GATEWAY),
            ("Subject", subject),
            ("Message-ID", msgid),
            ("Date", "Mon, 07 Dec 2026 10:00:00 +0000"),
            ("MIME-Version", "1.0"),
        ];
        if let Some(r) = in_reply_to {
            headers.push(("In-Reply-To", r));
            headers.push(("References", r));
        }
        if self.path == KeyPath::Autocrypt {
            use base64::Engine as _;
            let binary = self.alice.run(&["--export", &self.alice_fpr], b"");
            autocrypt = format!(
                "addr={ALICE}; keydata={}",
                base64::engine::general_purpose::STANDARD.encode(binary)
            );
            headers.push(("Autocrypt", &autocrypt));
        }
        pgp_mime_encrypted(&headers, &armored)
    }

    /// Alice reads a message: decrypted with her GnuPG when the gateway has her key,
    /// else checked as signed in clear; the gateway's signature is verified either
    /// way. Returns the text.
    pub fn alice_reads(&self, raw: &[u8]) -> String {
        if self.path.has_key() {
            let ct = header(raw, "Content-Type").unwrap();
            assert!(ct.starts_with("multipart/encrypted"), "not encrypted: {ct}");
            let (status, plain, ok) = self.alice.decrypt(&armored_block(raw));
            assert!(ok, "Alice cannot decrypt: {status}");
            assert!(
                status
                    .lines()
                    .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(&self.gateway_fpr)),
                "not signed by the gateway: {status}"
            );
            qp_decode(&plain)
        } else {
            assert_signed_by(&self.alice, raw, &self.gateway_fpr)
        }
    }

    /// The report ID of the journey's report (the second one on the learnt path).
    pub fn report_id(&self) -> String {
        let n = if self.path == KeyPath::Learnt { 2 } else { 1 };
        format!("VR-{}-{n:04}", crate::lifecycle::year())
    }

    /// Alice's report, stored and acknowledged; the acknowledgement checked as she
    /// reads it. Returns the report ID and the acknowledgement.
    pub fn reported(&self) -> (String, Vec<u8>) {
        let before = self.mail_to(ALICE).len();
        self.report(REPORT);
        let id = self.report_id();
        let ack = self.wait_mail(ALICE, before, &format!("[{id}]"));
        let text = self.alice_reads(&ack);
        assert!(text.contains(&id), "{text}");
        if self.path.has_key() {
            // The encrypted acknowledgement repeats what was understood.
            assert!(text.contains("SQL injection in login form"), "{text}");
        } else {
            // In clear it repeats nothing of the report.
            assert!(!text.contains("SQL injection"), "{text}");
        }
        let r = self.show(&id);
        assert_eq!(
            r["proven_key"].as_str().map(str::to_string),
            self.path.has_key().then(|| self.alice_fpr.clone()),
            "{r}"
        );
        (id, ack)
    }

    /// A maintainer's mail as their client sends a reply: the text signed by their
    /// key inside the encryption to the gateway, the protected Subject `subject`,
    /// threaded to `in_reply_to`.
    pub fn maintainer_mail(
        &self,
        m: &Maintainer,
        subject: Option<&str>,
        in_reply_to: Option<&str>,
        text: &str,
    ) -> Vec<u8> {
        let inner = entity(subject, text, &[]);
        let armored = m.gpg.encrypt(&self.gateway_fpr, Some(m.address), &inner);
        let msgid = self.next_msgid(m.address.split('@').next().unwrap());
        let mut headers = vec![
            ("From", m.address),
            ("To", GATEWAY),
            ("Subject", "..."),
            ("Message-ID", msgid.as_str()),
            ("MIME-Version", "1.0"),
        ];
        if let Some(r) = in_reply_to {
            headers.push(("In-Reply-To", r));
            headers.push(("References", r));
        }
        pgp_mime_encrypted(&headers, &armored)
    }

    /// Waits for a mail to `m` after the first `seen` that, decrypted with `m`'s
    /// GnuPG and its gateway signature checked, contains `needle`; returns its text.
    pub fn maintainer_reads(&self, m: &Maintainer, seen: usize, needle: &str) -> String {
        self.wait_text(m.address, seen, needle, |raw| {
            m.open(raw, &self.gateway_fpr)
        })
    }

    /// Waits for a mail to `to` after the first `seen` whose text, as `read` opens
    /// it, contains `needle`; returns that text.
    fn wait_text(
        &self,
        to: &str,
        seen: usize,
        needle: &str,
        read: impl Fn(&[u8]) -> String,
    ) -> String {
        let start = Instant::now();
        loop {
            for raw in self.mail_to(to).iter().skip(seen) {
                let text = read(raw);
                if text.contains(needle) {
                    return text;
                }
            }
            assert!(
                start.elapsed() < MAIL_BOUND,
                "{to} got no mail with {needle:?} within {MAIL_BOUND:?}; log: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// How many mails to `to` have a Subject containing all of `needles`.
    pub fn count_subject(&self, to: &str, needles: &[&str]) -> usize {
        self.mail_to(to)
            .iter()
            .filter(|m| {
                let subject = header(m, "Subject").unwrap_or_default();
                needles.iter().all(|n| subject.contains(n))
            })
            .count()
    }

    /// `m`'s new-report notification of `id`: (Message-ID, decrypted text).
    pub fn notification(&self, m: &Maintainer, id: &str) -> (String, String) {
        let raw = self.wait_mail(m.address, 0, &format!("[{id}]"));
        let text = m.open(&raw, &self.gateway_fpr);
        (header(&raw, "Message-ID").unwrap(), text)
    }

    /// Bob answers the notification of `id` with `text`, as a reply from his client.
    pub fn bob_answers(&self, id: &str, text: &str) {
        let (root, _) = self.notification(&self.bob, id);
        self.deliver(&self.maintainer_mail(
            &self.bob,
            Some(&format!("Re: [{id}] New report")),
            Some(&root),
            text,
        ));
    }

    /// Waits for the status notice to Alice (after the first `seen` of her mails)
    /// when she can be told; returns its text. On the keyless path a report that
    /// came encrypted gets no notice in clear: checks that none came.
    pub fn alice_told(&self, seen: usize, status: &str) -> Option<String> {
        if !self.path.has_key() {
            // Give the daemon a delivery round, then check nothing went out.
            std::thread::sleep(Duration::from_secs(2));
            let after: Vec<String> = self
                .mail_to(ALICE)
                .iter()
                .skip(seen)
                .map(|m| String::from_utf8_lossy(m).into_owned())
                .collect();
            assert!(
                after.iter().all(|m| !m.contains(status)),
                "a notice went in clear for an encrypted report: {after:?}"
            );
            return None;
        }
        let want = format!("is now: {status}");
        Some(self.wait_text(ALICE, seen, &want, |raw| self.alice_reads(raw)))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Report → acknowledgement → Bob accepts by mail (triaged, then accepted) → Alice
/// is told, encrypted to the key she proved; the team gets copies. The state moves
/// answer within the bound (the hang of issue 21 was here).
fn accept_by_mail(path: KeyPath) {
    let mut w = World::new(path, "");
    w.start();
    let (id, _) = w.reported();
    let seen = w.mail_to(ALICE).len();
    w.bob_answers(&id, "X-STATUS: triaged\n");
    w.wait_until("triaged", |w| w.show(&id)["status"] == "triaged");
    let carol_seen = w.mail_to(CAROL).len();
    let mailed = Instant::now();
    w.bob_answers(&id, "X-STATUS: accepted\nX-NOTE: fix planned for 2.3.2\n");
    w.wait_until("accepted", |w| w.show(&id)["status"] == "accepted");
    eprintln!(
        "{path:?}: X-STATUS: accepted by mail to the state change: {:?}",
        mailed.elapsed()
    );
    let told = w.alice_told(seen, "accepted");
    if let Some(text) = told {
        assert!(
            !text.contains("2.3.2"),
            "an internal note reached Alice: {text}"
        );
    }
    // Carol's copy of Bob's answer, encrypted to her (the copy of his first answer
    // may arrive after `carol_seen` was counted: found by what it says).
    w.maintainer_reads(&w.carol, carol_seen, "X-STATUS: accepted");
    w.stop();
}

/// The same by `reports set`, beside the running daemon: each command returns
/// within the bound and says what it did.
fn accept_by_cli(path: KeyPath) {
    let mut w = World::new(path, "");
    w.start();
    let (id, _) = w.reported();
    let seen = w.mail_to(ALICE).len();
    let started = Instant::now();
    w.ok(&["reports", "set", &id, "--status", "triaged"]);
    let out = w.ok(&["reports", "set", &id, "--status", "accepted"]);
    eprintln!(
        "{path:?}: two `reports set` beside serve took {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "reports set took {:?}",
        started.elapsed()
    );
    assert!(out.contains("accepted"), "{out}");
    w.alice_told(seen, "accepted");
    assert_eq!(w.show(&id)["status"], "accepted");
    w.stop();
}

/// Rejections with a reason: by mail (`X-REASON`) for one report, by the command
/// line as a duplicate of it (`--duplicate-of`) for a second; Alice is told each
/// reason.
fn reject_with_reason(path: KeyPath) {
    let mut w = World::new(path, "");
    w.start();
    let (id, _) = w.reported();
    let seen = w.mail_to(ALICE).len();
    w.bob_answers(&id, "X-STATUS: rejected\nX-REASON: out_of_scope\n");
    w.wait_until("rejected", |w| w.show(&id)["status"] == "rejected");
    if let Some(text) = w.alice_told(seen, "rejected") {
        assert!(text.contains("out_of_scope"), "{text}");
    }
    // A second report from Alice, rejected from the command line as a duplicate.
    let seen = w.mail_to(ALICE).len();
    w.deliver(&w.alice_mail(
        "<alice-dup@example.net>",
        "...",
        None,
        "Title: SQL injection in login form (again)\n\nDescription:\nSame as before.\n",
        false,
    ));
    let n: u32 = if path == KeyPath::Learnt { 3 } else { 2 };
    let second = format!("VR-{}-{n:04}", crate::lifecycle::year());
    w.wait_mail(ALICE, seen, &format!("[{second}]"));
    let seen = w.mail_to(ALICE).len();
    w.ok(&[
        "reports",
        "set",
        &second,
        "--status",
        "rejected",
        "--reason",
        "duplicate",
        "--duplicate-of",
        &id,
    ]);
    if let Some(text) = w.alice_told(seen, "rejected") {
        assert!(
            text.contains(&id),
            "the duplicate names the original: {text}"
        );
    }
    let r = w.show(&second);
    assert_eq!(r["status"], "rejected", "{r}");

    // A third, rejected by Bob's mail as a duplicate (`X-DUPLICATE-OF`).
    let seen = w.mail_to(ALICE).len();
    w.deliver(&w.alice_mail(
        "<alice-dup2@example.net>",
        "...",
        None,
        "Title: Login SQL injection\n\nDescription:\nThe user name reaches the query.\n",
        false,
    ));
    let third = format!("VR-{}-{:04}", crate::lifecycle::year(), n + 1);
    w.wait_mail(ALICE, seen, &format!("[{third}]"));
    let seen = w.mail_to(ALICE).len();
    w.bob_answers(
        &third,
        &format!("X-STATUS: rejected\nX-REASON: duplicate\nX-DUPLICATE-OF: {id}\n"),
    );
    w.wait_until("the third rejected", |w| {
        w.show(&third)["status"] == "rejected"
    });
    if let Some(text) = w.alice_told(seen, "rejected") {
        assert!(
            text.contains(&id),
            "the duplicate names the original: {text}"
        );
    }
    w.stop();
}

/// Severity and CVSS by mail (`X-CVSS`, `X-ASSIGNEE`, `X-REPORT` naming the report
/// in the signed text, no protected Subject), then fixed → disclosed from the
/// command line, Alice told at each step.
fn rate_fix_disclose(path: KeyPath) {
    let mut w = World::new(path, "");
    w.start();
    let (id, _) = w.reported();
    w.deliver(&w.maintainer_mail(
        &w.bob,
        None,
        None,
        &format!(
            "X-REPORT: {id}\nX-STATUS: triaged\nX-CVSS: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N\nX-ASSIGNEE: carol\n"
        ),
    ));
    w.wait_until("triaged", |w| w.show(&id)["status"] == "triaged");
    let r = w.show(&id);
    assert_eq!(
        r["severity"], "medium",
        "the CVSS score (5.3) rates it: {r}"
    );
    assert_eq!(r["assignee"], "Carol Maintainer", "{r}");
    for status in ["accepted", "fixed", "disclosed"] {
        let seen = w.mail_to(ALICE).len();
        w.ok(&["reports", "set", &id, "--status", status]);
        w.alice_told(seen, status);
    }
    assert_eq!(w.show(&id)["status"], "disclosed");
    w.stop();
}

/// Alice's signed follow-up, threaded to the acknowledgement: both maintainers get
/// it, encrypted to their keys; Bob's relayed answer reaches Alice (encrypted to her
/// key) and `reports reply` does too; on the keyless path both are refused rather
/// than sent in clear.
fn follow_up_and_replies(path: KeyPath) {
    let mut w = World::new(path, "");
    w.start();
    let (id, ack) = w.reported();
    let ack_id = header(&ack, "Message-ID").unwrap();
    let (bob_seen, carol_seen) = (w.mail_to(BOB).len(), w.mail_to(CAROL).len());
    let msgid = w.next_msgid("alice");
    w.deliver(&w.alice_mail(
        &msgid,
        &format!("Re: [{id}] Received"),
        Some(&ack_id),
        "Version 2.3.2 is affected as well.\n",
        false,
    ));
    for (m, seen) in [(&w.bob, bob_seen), (&w.carol, carol_seen)] {
        let text = w.maintainer_reads(m, seen, "2.3.2 is affected");
        assert!(text.contains(&id), "{}: {text}", m.address);
    }
    let r = w.show(&id);
    let conversation = r["conversation"].as_array().cloned().unwrap_or_default();
    assert!(
        conversation
            .iter()
            .any(|c| c["kind"] == "from_reporter" && c.to_string().contains("2.3.2")),
        "the follow-up is in the report's conversation: {r}"
    );

    // Bob answers by mail; the text goes to Alice.
    let seen = w.mail_to(ALICE).len();
    w.bob_answers(&id, "Thanks, we can reproduce it on 2.3.2 too.\n");
    if path.has_key() {
        let raw = w.wait_mail(ALICE, seen, &format!("[{id}]"));
        let text = w.alice_reads(&raw);
        assert!(text.contains("reproduce it on 2.3.2"), "{text}");
        assert!(!text.contains(BOB), "{text}");
    } else {
        // Refused, and Bob is told why (encrypted report, no key to answer to).
        let bob_seen = w.mail_to(BOB).len();
        let _ = bob_seen;
        w.wait_until("the refusal", |w| {
            w.ok(&["quarantine", "list", "--json"]).contains("no key")
                || w.ok(&["quarantine", "list", "--json"])
                    .contains("proved no")
        });
    }

    // `reports reply` from a file.
    let file = w.gw.path("reply.txt");
    std::fs::write(&file, "A fix is in review; we will write again.\n").unwrap();
    let seen = w.mail_to(ALICE).len();
    let (ok, out, err) = w.cli(&["reports", "reply", &id, "--file", file.to_str().unwrap()]);
    if path.has_key() {
        assert!(ok, "{err}");
        assert!(out.contains("queued"), "{out}");
        let raw = w.wait_mail(ALICE, seen, &format!("[{id}]"));
        assert!(w.alice_reads(&raw).contains("A fix is in review"));
    } else {
        assert!(
            !ok,
            "a reply to an encrypted report without a key went out: {out}"
        );
        assert!(err.contains("--allow-plaintext"), "{err}");
    }
    w.stop();
}

/// The digest and the escalation on the daemon's own timers: an unassessed report
/// passes its (two-second) assessment deadline; both maintainers get one escalation
/// and digests that list it, encrypted to them.
fn digest_and_escalation(path: KeyPath) {
    let mut w = World::new(path, FAST_TIMERS);
    w.start();
    let (id, _) = w.reported();
    for m in [&w.bob, &w.carol] {
        // The report is critical by its CVSS vector: "[ID] CRITICAL OVERDUE: …".
        let raw = w.wait_mail(m.address, 0, &format!("[{id}] CRITICAL OVERDUE"));
        let text = m.open(&raw, &w.gateway_fpr);
        assert!(text.contains(&id), "{text}");
        // A digest listing it (one sent before the report was stored does not).
        let text = w.maintainer_reads(m, 0, "Security reports digest");
        assert!(text.contains("Security reports digest"), "{text}");
        w.wait_until("a digest that lists the report", |w| {
            w.mail_to(m.address).iter().any(|raw| {
                header(raw, "Subject")
                    .unwrap_or_default()
                    .contains("digest")
                    && m.open(raw, &w.gateway_fpr).contains(&id)
            })
        });
    }
    // Escalated once, however many checks ran.
    std::thread::sleep(Duration::from_secs(3));
    for m in [BOB, CAROL] {
        let n = w.count_subject(m, &["OVERDUE", &id]);
        assert_eq!(n, 1, "{m} got {n} escalations");
    }
    w.stop();
}

/// Bob replies to each kind of mail the gateway sends maintainers, as his client
/// threads a reply (In-Reply-To that mail): replies to the new-report notification
/// and to a follow-up notice reach Alice; replies to a team copy, an escalation and
/// the digest stay in the team (docs/maintainers.md, "Working by email").
fn replies_to_each_kind_of_team_mail(path: KeyPath) {
    let mut w = World::new(path, FAST_TIMERS);
    w.start();
    let (id, ack) = w.reported();
    let ack_id = header(&ack, "Message-ID").unwrap();
    // A follow-up from Alice, so that Bob has a follow-up notice.
    let bob_seen = w.mail_to(BOB).len();
    let msgid = w.next_msgid("alice");
    w.deliver(&w.alice_mail(
        &msgid,
        &format!("Re: [{id}] Received"),
        Some(&ack_id),
        "The admin panel is affected too.\n",
        false,
    ));
    w.maintainer_reads(&w.bob, bob_seen, "admin panel is affected");
    // Wait for an escalation and a digest that lists the report.
    w.wait_until("escalation and digest", |w| {
        let subjects: Vec<String> = w
            .mail_to(BOB)
            .iter()
            .map(|m| header(m, "Subject").unwrap_or_default())
            .collect();
        subjects
            .iter()
            .any(|s| s.contains("OVERDUE") && s.contains(&id))
            && subjects.iter().any(|s| s.contains("digest"))
    });
    let by_subject = |needle: &str| -> String {
        w.mail_to(BOB)
            .iter()
            .filter(|m| header(m, "Subject").unwrap_or_default().contains(needle))
            .map(|m| header(m, "Message-ID").unwrap())
            .next_back()
            .unwrap_or_else(|| panic!("Bob got no mail with {needle:?}"))
    };
    let (notification, _) = w.notification(&w.bob, &id);
    let followup_notice = w
        .mail_to(BOB)
        .iter()
        .filter(|m| {
            header(m, "Message-ID")
                .unwrap_or_default()
                .contains("followup")
        })
        .map(|m| header(m, "Message-ID").unwrap())
        .next()
        .expect("a follow-up notice");
    let escalation = by_subject("OVERDUE");
    let digest = by_subject("digest");
    let cases = [
        ("notification", notification, true),
        ("followup", followup_notice, true),
        ("escalation", escalation, false),
        ("digest", digest, false),
    ];
    for (kind, parent, reaches_alice) in cases {
        let seen = w.mail_to(ALICE).len();
        let quarantined = w.gw.quarantine().len();
        let marker = format!("marker-{kind}-reply");
        w.deliver(&w.maintainer_mail(
            &w.bob,
            Some(&format!("Re: [{id}] {kind}")),
            Some(&parent),
            &format!("{marker}: our answer.\n"),
        ));
        if reaches_alice && !path.has_key() {
            // Text for the researcher of an encrypted report that proved no key:
            // refused, never sent in clear.
            w.wait_until(&format!("the reply to the {kind} refused"), |w| {
                w.gw.quarantine().len() > quarantined
            });
        } else {
            w.wait_until(&format!("the reply to the {kind} recorded"), |w| {
                w.show(&id).to_string().contains(&marker)
            });
        }
        std::thread::sleep(Duration::from_secs(2));
        let reached = w
            .mail_to(ALICE)
            .iter()
            .skip(seen)
            .any(|raw| w.alice_reads(raw).contains(&marker));
        let expect = reaches_alice && path.has_key();
        assert_eq!(
            reached, expect,
            "a reply to the {kind}: reached Alice {reached}, expected {expect}"
        );
    }
    // And a reply to a team copy (Carol's copy of one of Bob's answers).
    let copy = w
        .mail_to(CAROL)
        .iter()
        .rev()
        .find(|m| {
            header(m, "Message-ID").is_some()
                && w.carol.open(m, &w.gateway_fpr).contains("stay in the team")
        })
        .map(|m| header(m, "Message-ID").unwrap())
        .expect("Carol got a team copy");
    let seen = w.mail_to(ALICE).len();
    w.deliver(&w.maintainer_mail(
        &w.carol,
        Some(&format!("Re: [{id}] Maintainer answer")),
        Some(&copy),
        "marker-teamcopy-reply: let's not promise dates to the reporter.\n",
    ));
    w.wait_until("the reply to the team copy recorded", |w| {
        w.show(&id).to_string().contains("marker-teamcopy-reply")
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        w.mail_to(ALICE)
            .iter()
            .skip(seen)
            .all(|raw| !w.alice_reads(raw).contains("marker-teamcopy-reply")),
        "a reply to a team copy reached the researcher"
    );
    w.stop();
}

/// Backup → the host is lost → restore on an empty host with only what README says
/// to keep off the host (the backup, the operator's own key in their GnuPG, the
/// gateway's public key) → the conversation continues under `serve`: Alice's
/// follow-up joins her report, both maintainers get it, and Bob's answer reaches her
/// encrypted to the same key and signed by the same gateway key.
fn backup_restore_and_the_conversation_continues(path: KeyPath) {
    let mut w = World::new(path, "");
    let operator = Gpg::new();
    operator.gen_key("Operator <ops@example.org>");
    let kept = tempfile::tempdir().unwrap();
    let operator_key = kept.path().join("operator.asc");
    std::fs::write(&operator_key, operator.export("ops@example.org")).unwrap();
    w.start();
    let (id, ack) = w.reported();
    let ack_id = header(&ack, "Message-ID").unwrap();
    // What the operator keeps off the host, made beside the running daemon.
    let backup = kept.path().join("offsite.backup");
    w.ok(&[
        "backup",
        "--to",
        operator_key.to_str().unwrap(),
        backup.to_str().unwrap(),
    ]);
    let gateway_pub = kept.path().join("gateway.asc");
    std::fs::write(&gateway_pub, w.ok(&["keys", "export"])).unwrap();
    w.stop();

    // The store key is kept apart from the backups (a restore needs it).
    let store_key = std::fs::read_to_string(w.gw.path("keys/store-key")).unwrap();
    // The host is lost: store, keys (gateway, maintainers', reporters'), inbox state.
    for dir in ["state", "keys"] {
        std::fs::remove_dir_all(w.gw.path(dir)).unwrap();
    }
    std::fs::create_dir_all(w.gw.path("keys")).unwrap();
    write_private(&w.gw.path("keys/store-key"), &store_key);
    let (status, plain, ok) = operator.decrypt(&std::fs::read(&backup).unwrap());
    assert!(ok, "the operator cannot decrypt the backup: {status}");
    let (ok, out, err) = w.cli_with_input(
        &[
            "restore",
            "--trust",
            gateway_pub.to_str().unwrap(),
            "--install-keys",
            "gateway,maintainers,reporters",
            "-",
        ],
        Some(&plain),
    );
    assert!(ok, "restore failed: {err}");
    let _ = out;
    // Signature times are whole seconds: one made in the restore's own second counts
    // as made before it and is refused (docs/operators.md, restore). Maintainers write later.
    std::thread::sleep(Duration::from_millis(1100));
    w.start();
    assert_eq!(w.show(&id)["status"], "acknowledged");

    // Alice follows up, threaded to the acknowledgement she got before the restore.
    let (bob_seen, carol_seen) = (w.mail_to(BOB).len(), w.mail_to(CAROL).len());
    let seen = w.mail_to(ALICE).len();
    let msgid = w.next_msgid("alice");
    w.deliver(&w.alice_mail(
        &msgid,
        &format!("Re: [{id}] Received"),
        Some(&ack_id),
        "Is there any news after your move?\n",
        false,
    ));
    w.maintainer_reads(&w.bob, bob_seen, "after your move");
    w.maintainer_reads(&w.carol, carol_seen, "after your move");
    assert_eq!(
        w.gw.reports().len(),
        if path == KeyPath::Learnt { 2 } else { 1 }
    );
    // Bob answers it (a reply to the follow-up notice goes to the researcher).
    let notice = w
        .mail_to(BOB)
        .iter()
        .skip(bob_seen)
        .filter_map(|m| header(m, "Message-ID"))
        .find(|mid| mid.contains("followup"))
        .expect("a follow-up notice to Bob");
    w.deliver(&w.maintainer_mail(
        &w.bob,
        Some(&format!("Re: [{id}] Follow-up")),
        Some(&notice),
        "We moved hosts; the fix is still on track.\n",
    ));
    if path.has_key() {
        let raw = w.wait_mail(ALICE, seen, &format!("[{id}]"));
        // Same gateway key (alice_reads checks its signature), same key of hers.
        assert!(w.alice_reads(&raw).contains("still on track"));
        assert_eq!(w.show(&id)["proven_key"], w.alice_fpr.as_str());
    } else {
        w.wait_until("the refusal", |w| !w.gw.quarantine().is_empty());
    }
    w.stop();
}

/// The SMTP server answers 451, then recovers: the acknowledgement arrives once;
/// meanwhile the daemon goes on taking reports and answering commands.
fn smtp_tempfail_then_recovers(path: KeyPath) {
    let mut w = World::new(path, "");
    w.start();
    w.earlier_report();
    w.smtp.set_mode(SmtpMode::TempFail);
    w.report(REPORT);
    let id = w.report_id();
    w.wait_until("the report stored", |w| {
        w.ok(&["reports", "list", "--json"]).contains(&id)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        w.mail_to(ALICE)
            .iter()
            .all(|m| !String::from_utf8_lossy(m).contains(&id)),
        "delivered despite 451"
    );
    w.ok(&["status"]);
    w.smtp.set_mode(SmtpMode::Accept);
    let seen = w.mail_to(ALICE).len();
    let ack = w.wait_mail(ALICE, seen, &format!("[{id}]"));
    assert!(w.alice_reads(&ack).contains(&id));
    std::thread::sleep(Duration::from_secs(2));
    let acks = w.count_subject(ALICE, &[&format!("[{id}]")]);
    assert_eq!(acks, 1, "the acknowledgement went {acks} times");
    w.stop();
}

/// An SMTP server that accepts the connection and then says nothing: delivery
/// times out (`outbox.timeout`), the daemon goes on taking reports and answering
/// commands, and once the real server is configured the acknowledgement goes out,
/// once.
#[test]
fn smtp_that_accepts_then_stalls_does_not_stop_the_gateway() {
    let mut w = World::new(KeyPath::Attached, "");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stall_port = listener.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = std::sync::Arc::clone(&held);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            // Hold the connection open and silent.
            keep.lock().unwrap().push(conn);
        }
    });
    let real = std::fs::read_to_string(&w.gw.config).unwrap();
    let stalled = real.replace(
        &format!("port = {}\n", w.smtp.port()),
        &format!("port = {stall_port}\n"),
    );
    assert_ne!(real, stalled);
    std::fs::write(&w.gw.config, &stalled).unwrap();
    w.start();
    w.report(REPORT);
    let id = w.report_id();
    w.wait_until("the report stored", |w| {
        w.ok(&["reports", "list", "--json"]).contains(&id)
    });
    // Several delivery attempts meet the silent server; commands still answer.
    w.wait_until("a connection to the stalled server", |_| {
        !held.lock().unwrap().is_empty()
    });
    let started = Instant::now();
    w.ok(&["status"]);
    w.ok(&["reports", "set", &id, "--status", "triaged"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "commands waited on the stalled delivery: {:?}",
        started.elapsed()
    );
    // A second report is taken while delivery stalls.
    w.deliver(&w.alice_mail(
        "<alice-second@example.net>",
        "...",
        None,
        "Title: XSS in search\n\nDescription:\nThe q parameter is echoed.\n",
        false,
    ));
    w.wait_until("the second report stored", |w| {
        w.ok(&["reports", "list", "--json"])
            .matches("\"id\"")
            .count()
            == 2
    });
    assert!(
        w.mail_to(ALICE).is_empty(),
        "nothing reached the real server yet"
    );
    w.stop();
    std::fs::write(&w.gw.config, &real).unwrap();
    w.start();
    let ack = w.wait_mail(ALICE, 0, &format!("[{id}]"));
    assert!(w.alice_reads(&ack).contains(&id));
    std::thread::sleep(Duration::from_secs(2));
    let acks = w.count_subject(ALICE, &[&format!("[{id}]")]);
    assert_eq!(acks, 1, "the acknowledgement went {acks} times");
    w.stop();
}

/// Defines one test per journey and key path.
macro_rules! journeys {
    ($($journey:ident),* $(,)?) => {
        $(
            mod $journey {
                use super::KeyPath;
                #[test]
                fn key_attached() {
                    super::$journey(KeyPath::Attached)
                }
                #[test]
                fn key_in_autocrypt_header() {
                    super::$journey(KeyPath::Autocrypt)
                }
                #[test]
                fn key_preloaded() {
                    super::$journey(KeyPath::Preloaded)
                }
                #[test]
                fn key_learnt_from_an_earlier_report() {
                    super::$journey(KeyPath::Learnt)
                }
                #[test]
                fn no_key_unsigned() {
                    super::$journey(KeyPath::Unsigned)
                }
            }
        )*
    };
}

journeys!(
    accept_by_mail,
    accept_by_cli,
    reject_with_reason,
    rate_fix_disclose,
    follow_up_and_replies,
    digest_and_escalation,
    smtp_tempfail_then_recovers,
    replies_to_each_kind_of_team_mail,
    backup_restore_and_the_conversation_continues,
);

/// The actor a change is recorded under is the user the kernel says connected to the
/// control socket (SO_PEERCRED), never what the client wrote in its request: a
/// request that claims to be another maintainer is recorded as its real user.
#[test]
fn the_recorded_actor_is_the_connecting_user_not_the_claimed_one() {
    use std::io::{BufRead, Write};
    let mut w = World::new(KeyPath::Attached, "");
    w.start();
    let (id, _) = w.reported();
    let socket = w.gw.path("state.sock");
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let request = serde_json::json!({
        "argv": ["reports", "set", &id, "--status", "triaged"],
        "actor": "cli:mallory (Carol Maintainer)",
        "file": null,
    });
    writeln!(stream, "{request}").unwrap();
    let mut answer = String::new();
    let _ = std::io::BufReader::new(&stream).read_line(&mut answer);
    w.wait_until("triaged", |w| w.show(&id)["status"] == "triaged");
    let uid = rustix::process::getuid().as_raw();
    let me = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.get(2) == Some(&uid.to_string().as_str())).then(|| f[0].to_string())
        })
        .unwrap_or(format!("uid{uid}"));
    let events = w.show(&id)["events"].to_string();
    assert!(
        !events.contains("mallory"),
        "the claimed actor was recorded: {events}"
    );
    assert!(events.contains(&format!("cli:{me}")), "{events}");
    w.stop();
}
