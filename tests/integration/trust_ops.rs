//! Issue 22 (properties 3, 5, 6, 7, 8, 9) and issue 23 item 2: what restore trusts,
//! a restore on an empty host, maintainer mail replayed after a restore, the
//! per-domain limit, revocations, anonymous recipients and credentials from a shell.
//! Each attack is built the way an attacker builds it: with GnuPG and public keys.

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::lifecycle::{Team, year};
use crate::pipeline::{REPORT, Scene, entity, pgp_mime_encrypted};
use crate::util::*;

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the gateway's binary with `args`, feeding `stdin`; `env` overrides settings.
fn run(gw: &Gateway, env: &[(&str, &std::path::Path)], args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = gw.command();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

/// An operator's own key, kept off the gateway's host: its GnuPG home and the public
/// key file `backup --to` and `backup.recipients` take.
struct Admin {
    gpg: Gpg,
    public: std::path::PathBuf,
}

impl Admin {
    fn new(gw: &Gateway) -> Admin {
        let gpg = Gpg::new();
        let fpr = gpg.gen_key("Operator <admin@example.org>");
        let public = gw.path("admin.asc");
        std::fs::write(&public, gpg.export(&fpr)).unwrap();
        Admin { gpg, public }
    }
}

/// The plaintext of a version 2 backup: `files` (path in keys.dir, contents), then
/// the export of `store` (a store at that path, made here).
fn backup_plaintext(files: &[(&str, &[u8])], store: &std::path::Path, gw: &Gateway) -> Vec<u8> {
    let mut out = b"disclosured-backup 2\n".to_vec();
    for (name, bytes) in files {
        out.push(b'F');
        out.extend((name.len() as u32).to_be_bytes());
        out.extend(name.as_bytes());
        out.extend(0o600u32.to_be_bytes());
        out.extend((bytes.len() as u32).to_be_bytes());
        out.extend(*bytes);
    }
    out.push(b'S');
    let s = disclosured::testing::store::Store::open(store, &crate::util::store_key(gw)).unwrap();
    s.export(&mut out).unwrap();
    out
}

/// Issue 22, property 5: a backup made from public keys alone (the gateway's
/// published key) that carries `maintainers/bob.asc` is refused, encrypted or not,
/// signed by the attacker or not; nothing is written. A genuine backup installs key
/// files only of the kinds named, and never over different ones.
#[test]
fn issue_22_restore_refuses_a_backup_made_from_public_keys_and_installs_only_named_keys() {
    let gw = Gateway::new();
    gw.deliver(&plain_report("<victim-report@example.net>"));
    gw.run_once();
    let gateway_fpr = gw.signing_fingerprint();
    // The gateway's published key is all the attacker has of it.
    let attacker = Gpg::new();
    let mallory = attacker.gen_key("Bob Maintainer <bob@example.org>");
    attacker.import(&gw.public_key_path());
    let bob = attacker.export(&mallory);
    let plain = backup_plaintext(
        &[("maintainers/bob.asc", &bob), ("reporters/alice.asc", &bob)],
        &gw.path("attacker-store"),
        &gw,
    );
    let crafted = [
        attacker.encrypt(&gateway_fpr, None, &plain),
        attacker.encrypt(&gateway_fpr, Some(&mallory), &plain),
        attacker.run(&["--armor", "--sign", "--local-user", &mallory], &plain),
    ];
    // The host's own store is moved away, as README says before a restore.
    std::fs::rename(gw.path("state"), gw.path("state.old")).unwrap();
    for (i, file) in crafted.iter().enumerate() {
        let path = gw.path(&format!("crafted-{i}.backup"));
        std::fs::write(&path, file).unwrap();
        let out = gw.cli(&["restore", path.to_str().unwrap()]);
        assert!(
            !gw.path("keys/maintainers/bob.asc").exists(),
            "crafted backup {i} installed a maintainer's key: {:?}",
            text(&out)
        );
        assert!(
            !out.status.success(),
            "crafted backup {i}: {:?}",
            text(&out)
        );
        let (_, err) = text(&out);
        assert!(err.contains("--trust"), "{err}");
        assert!(
            !gw.path("state").exists(),
            "crafted backup {i} left a store"
        );
        // Naming the kinds changes nothing: the signature is checked first.
        let out = gw.cli(&[
            "restore",
            "--install-keys",
            "gateway,maintainers,reporters",
            path.to_str().unwrap(),
        ]);
        assert!(!out.status.success());
        assert!(!gw.path("keys/maintainers/bob.asc").exists());
        assert!(!gw.path("keys/reporters/alice.asc").exists());
        assert!(!gw.path("state").exists());
    }
    // Trusting the attacker's key on purpose is the operator's choice; without it,
    // the attacker's signature is named.
    let out = gw.cli(&["restore", gw.path("crafted-2.backup").to_str().unwrap()]);
    assert!(text(&out).1.contains(&mallory), "{:?}", text(&out));

    // A genuine backup of a gateway with a maintainer's key: restored without
    // --install-keys, no key file is written, and the output says what was left.
    std::fs::rename(gw.path("state.old"), gw.path("state")).unwrap();
    std::fs::create_dir_all(gw.path("keys/maintainers")).unwrap();
    let carol = Gpg::new();
    let carol_fpr = carol.gen_key("Carol <carol@example.org>");
    std::fs::write(
        gw.path("keys/maintainers/carol.asc"),
        carol.export(&carol_fpr),
    )
    .unwrap();
    let admin = Admin::new(&gw);
    let file = gw.path("genuine.backup");
    let out = gw.cli(&[
        "backup",
        "--to",
        admin.public.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let new_keys = gw.path("restored-keys");
    let env = |store: &str| {
        [
            ("DISCLOSURED__STORE__PATH", gw.path(store)),
            ("DISCLOSURED__KEYS__DIR", new_keys.clone()),
            // The store key stays where it is: a restore needs it.
            ("DISCLOSURED__STORE__KEY_FILE", gw.path("keys/store-key")),
        ]
    };
    // The new keys.dir holds no gateway key: the gateway's public key is trusted.
    let decrypted = admin
        .gpg
        .run(&["--decrypt"], &std::fs::read(&file).unwrap());
    let public = gw.public_key_path();
    let e = env("r1");
    let e: Vec<(&str, &std::path::Path)> = e.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let out = run(
        &gw,
        &e,
        &["restore", "--trust", public.to_str().unwrap(), "-"],
        &decrypted,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let (stdout, _) = text(&out);
    assert!(stdout.contains("0 of its"), "{stdout}");
    assert!(
        stdout.contains("--install-keys gateway,maintainers"),
        "{stdout}"
    );
    assert!(!new_keys.join("maintainers/carol.asc").exists());
    assert!(
        !new_keys.exists() || std::fs::read_dir(&new_keys).unwrap().next().is_none(),
        "a key file was written without --install-keys"
    );
    // Named, they are installed.
    let e = env("r2");
    let e: Vec<(&str, &std::path::Path)> = e.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let out = run(
        &gw,
        &e,
        &[
            "restore",
            "--trust",
            public.to_str().unwrap(),
            "--install-keys",
            "maintainers",
            "-",
        ],
        &decrypted,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(new_keys.join("maintainers/carol.asc").exists());
    assert!(text(&out).0.contains("1 maintainers"), "{:?}", text(&out));
    // A key file of the same name with other contents is never replaced.
    std::fs::write(new_keys.join("maintainers/carol.asc"), b"another key").unwrap();
    let e = env("r3");
    let e: Vec<(&str, &std::path::Path)> = e.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let out = run(
        &gw,
        &e,
        &[
            "restore",
            "--trust",
            public.to_str().unwrap(),
            "--install-keys",
            "maintainers",
            "-",
        ],
        &decrypted,
    );
    assert!(!out.status.success());
    assert!(text(&out).1.contains("never replaces"), "{:?}", text(&out));
    assert!(!gw.path("r3").exists());
}

/// Issue 22, property 5: a next-ID record of 2^62, in a backup the gateway's own key
/// signed, is refused at once (it was counted up to, one by one, for ever).
#[test]
fn issue_22_restore_refuses_a_next_id_of_2_pow_62_at_once() {
    let gw = Gateway::new();
    assert!(!gw.path("state").exists());
    let mut plain = backup_plaintext(&[], &gw.path("made"), &gw);
    // The record is `I` + u64, before `Z` + u64 at the end of the store's export.
    let at = plain.len() - 17;
    assert_eq!(plain[at - 1], b'I');
    plain[at..at + 8].copy_from_slice(&(1u64 << 62).to_be_bytes());
    // Signed with the gateway's own key (as a compromised or buggy writer would).
    let signer = Gpg::new();
    let secret = std::fs::read_dir(gw.path("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".sec.asc"))
        .unwrap();
    signer.import(&secret);
    let fpr = gw.signing_fingerprint();
    let signed = signer.run(&["--armor", "--sign", "--local-user", &fpr], &plain);
    let mut child = gw
        .command()
        .args(["restore", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&signed).unwrap();
    let started = Instant::now();
    let limit = Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = status.unwrap_or_else(|| {
        panic!("restore still ran {limit:?} after it was given a next ID of 2^62")
    });
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("next ID"), "{err}");
    assert!(
        !gw.path("state").join("db").exists(),
        "the refused store was left"
    );
}

/// Issue 23 item 2: the default backup can be restored on an empty host with only
/// what README says to keep (the backup, the operator's own key, the gateway's public
/// key), and the conversation goes on there: the researcher's follow-up is threaded
/// and the answer is encrypted to the same key and signed by the same gateway key.
#[test]
fn issue_23_a_backup_restores_on_an_empty_host_and_the_conversation_continues() {
    let s = Scene::new();
    // Alice reports with her key attached, as researchers do.
    let key = s.gpg.export(&s.alice);
    let inner = entity(
        Some("report"),
        REPORT,
        &[("alice.asc", "application/pgp-keys", &key)],
    );
    let armored = s.gpg.encrypt(&s.gateway_fpr, Some(&s.alice), &inner);
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<orig@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();
    let id = format!("VR-{}-0001", year());
    let ack =
        s.gw.outbox()
            .into_iter()
            .find(|m| to_address(m).as_deref() == Some("alice@example.net"))
            .unwrap();
    let ack_id = header(&ack, "Message-ID").unwrap();
    // Without a key kept elsewhere, no backup is written.
    let out =
        s.gw.cli(&["backup", s.gw.path("nowhere.backup").to_str().unwrap()]);
    assert!(!out.status.success());
    let (_, err) = text(&out);
    assert!(
        err.contains("backup.recipients") && err.contains("--to"),
        "{err}"
    );
    assert!(!s.gw.path("nowhere.backup").exists());

    let admin = Admin::new(&s.gw);
    let mut config = std::fs::read_to_string(&s.gw.config).unwrap();
    config = config.replace(
        "[keys]",
        &format!(
            "[backup]\nrecipients = [\"{}\"]\n[keys]",
            admin.public.display()
        ),
    );
    std::fs::write(&s.gw.config, config).unwrap();
    // What the operator keeps off the host: the backup (made by the configured
    // recipients) and the gateway's public key (`keys export`).
    let file = s.gw.path("offsite.backup");
    let out = s.gw.cli(&["backup", file.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", text(&out));
    let exported = s.gw.cli(&["keys", "export"]);
    assert!(exported.status.success());
    let kept = tempfile::tempdir().unwrap();
    std::fs::copy(&file, kept.path().join("offsite.backup")).unwrap();
    std::fs::write(kept.path().join("gateway.asc"), &exported.stdout).unwrap();
    // And the store key (issue 28): the backup holds sealed reports without it.
    std::fs::copy(s.gw.path("keys/store-key"), kept.path().join("store-key")).unwrap();

    // The old host is gone.
    let old_dir = s.gw.dir.path().to_path_buf();
    std::fs::remove_dir_all(s.gw.path("state")).unwrap();
    std::fs::remove_dir_all(s.gw.path("keys")).unwrap();

    // A new host: an empty directory and a fresh configuration.
    let new = Gateway::without_key();
    assert!(!new.path("state").exists());
    assert_eq!(
        std::fs::read_dir(new.path("keys")).unwrap().count(),
        1,
        "only reporters/"
    );
    let backup = std::fs::read(kept.path().join("offsite.backup")).unwrap();
    // Not readable without the operator's key: the gateway key is inside.
    let out = run(&new, &[], &["restore", "-"], &backup);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("gpg --decrypt"), "{:?}", text(&out));
    let decrypted = admin.gpg.run(&["--decrypt"], &backup);
    let trust = kept.path().join("gateway.asc");
    let restore = [
        "restore",
        "--trust",
        trust.to_str().unwrap(),
        "--install-keys",
        "gateway",
        "-",
    ];
    // Without the store key: refused, naming it, and no store is left behind.
    let out = run(&new, &[], &restore, &decrypted);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("store key") && text(&out).1.contains("store-key"),
        "{:?}",
        text(&out)
    );
    assert!(!new.path("state").exists());
    // With a wrong one: refused too.
    write_private(
        &new.path("keys/store-key"),
        &format!("{}\n", "ab".repeat(32)),
    );
    let out = run(&new, &[], &restore, &decrypted);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("another store key"),
        "{:?}",
        text(&out)
    );
    assert!(!new.path("state").exists());
    // The kept one put back.
    write_private(
        &new.path("keys/store-key"),
        &std::fs::read_to_string(kept.path().join("store-key")).unwrap(),
    );
    let out = run(
        &new,
        &[],
        &[
            "restore",
            "--trust",
            trust.to_str().unwrap(),
            "--install-keys",
            "gateway",
            "-",
        ],
        &decrypted,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("1 reports"), "{:?}", text(&out));
    assert_eq!(new.signing_fingerprint(), s.gateway_fpr);
    assert!(!new.dir.path().starts_with(&old_dir));

    // Alice answers the acknowledgement, encrypted to the same gateway key.
    let inner = entity(Some("Re: report"), "A second PoC: run poc2.sh\n", &[]);
    let armored = s.gpg.encrypt(&s.gateway_fpr, Some(&s.alice), &inner);
    let mut headers = s.headers("<after-restore@example.net>", "Re: ...");
    headers.push(("In-Reply-To", &ack_id));
    new.deliver(&pgp_mime_encrypted(&headers, &armored));
    new.run_once();
    let reports = new.reports();
    assert_eq!(reports.len(), 1, "the follow-up became a report of its own");
    let r = new.json(&["reports", "show", &id, "--json"]);
    let corr = r["correspondence"].as_array().unwrap();
    assert!(
        corr.iter()
            .any(|c| c["message_id"] == "after-restore@example.net" && c["signature"] == "good"),
        "{corr:?}"
    );
    // The answer goes to the key the report proved, signed by the same gateway key.
    let answer = new.path("answer.txt");
    std::fs::write(&answer, "Thanks, fixed in 2.3.2.\n").unwrap();
    let out = new.cli(&["reports", "reply", &id, "--file", answer.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", text(&out));
    new.run_once();
    let reply = new
        .outbox()
        .into_iter()
        .find(|m| {
            to_address(m).as_deref() == Some("alice@example.net")
                && header(m, "Subject").unwrap_or_default().contains("Re:")
        })
        .unwrap();
    let (status, plain, ok) = s.gpg.decrypt(&armored_block(&reply));
    assert!(ok, "{status}");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(&s.gateway_fpr)),
        "{status}"
    );
    assert!(qp_decode(&plain).contains("fixed in 2.3.2"));
}

/// Bob's signed, encrypted mail with `text`.
fn bob_mail(t: &Team, msgid: &str, text: &str) -> Vec<u8> {
    let inner = entity(None, text, &[]);
    let armored = t
        .bob
        .gpg
        .encrypt(&t.s.gateway_fpr, Some(t.bob.address), &inner);
    let headers = vec![
        ("From", "Bob Maintainer <bob@example.org>"),
        ("To", GATEWAY),
        ("Subject", "..."),
        ("Message-ID", msgid),
        ("MIME-Version", "1.0"),
    ];
    pgp_mime_encrypted(&headers, &armored)
}

/// Issue 22, property 3: a maintainer's mail taken after the backup was made is not
/// taken again after a restore, under a new Message-ID.
#[test]
fn issue_22_maintainer_mail_is_not_taken_again_after_a_restore() {
    let t = Team::new("");
    t.s.gw.deliver(&t.report("<r3-orig@example.net>", REPORT));
    t.s.gw.run_once();
    let id = format!("VR-{}-0001", year());
    let before = t.show(&id)["status"].as_str().unwrap().to_string();
    assert_ne!(before, "triaged");
    let admin = Admin::new(&t.s.gw);
    let file = t.s.gw.path("nightly.backup");
    let out = t.s.gw.cli(&[
        "backup",
        "--to",
        admin.public.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{:?}", text(&out));

    // After the backup, Bob triages the report by mail; an attacker keeps a copy.
    let text_of_bob = format!("X-REPORT: {id}\nX-STATUS: triaged\n\nWe are on it.\n");
    let mail = bob_mail(&t, "<bob-after-backup@example.org>", &text_of_bob);
    t.s.gw.deliver(&mail);
    t.s.gw.run_once();
    assert_eq!(t.show(&id)["status"], "triaged");

    // The store is lost and restored from the backup on the same host.
    std::fs::rename(t.s.gw.path("state"), t.s.gw.path("state.lost")).unwrap();
    let decrypted = admin
        .gpg
        .run(&["--decrypt"], &std::fs::read(&file).unwrap());
    let out = run(&t.s.gw, &[], &["restore", "-"], &decrypted);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(t.show(&id)["status"].as_str().unwrap(), before);

    // The captured mail, sent again under a new Message-ID, changes nothing.
    let replayed = String::from_utf8(mail).unwrap().replace(
        "<bob-after-backup@example.org>",
        "<bob-replayed-after-restore@example.org>",
    );
    t.s.gw.deliver(replayed.as_bytes());
    t.s.gw.run_once();
    assert_eq!(
        t.show(&id)["status"].as_str().unwrap(),
        before,
        "a maintainer's mail signed before the restore was taken again"
    );
    let q = t.s.gw.quarantine();
    assert!(
        q.iter().any(|e| e["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("restored from a backup")),
        "{q:?}"
    );
}

/// A plain report from `from`.
fn report_from(from: &str, msgid: &str) -> Vec<u8> {
    message(
        &[
            ("From", from),
            ("To", GATEWAY),
            ("Subject", "Report"),
            ("Message-ID", msgid),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=utf-8"),
        ],
        REPORT,
    )
}

/// Issue 22, property 6: the per-domain limit counts a domain by its registrable
/// domain in ASCII: the U-label and the A-label of one domain, and its subdomains,
/// share one allowance.
#[test]
fn issue_22_the_per_domain_limit_counts_u_labels_and_subdomains_as_one_domain() {
    let gw = Gateway::new();
    let mut config = std::fs::read_to_string(&gw.config).unwrap();
    config = config.replace(
        "[keys]",
        "[rate_limits]\nper_sender = 100\nper_domain = 2\nglobal = 100\n[keys]",
    );
    std::fs::write(&gw.config, config).unwrap();
    let senders = [
        // One domain, written three ways: UTF-8 (RFC 6532), Punycode, a subdomain.
        "r1@bücher.example",
        "r2@xn--bcher-kva.example",
        "r3@mail.BÜCHER.example",
        // Three subdomains of one registrable domain under a two-label suffix.
        "s1@a.example.co.uk",
        "s2@b.example.co.uk",
        "s3@c.example.co.uk",
    ];
    for (i, from) in senders.iter().enumerate() {
        gw.deliver(&report_from(from, &format!("<dom{i}@example.net>")));
    }
    gw.run_once();
    let reports = gw.reports();
    assert_eq!(reports.len(), senders.len());
    let suppressed = |domain: &str| {
        reports
            .iter()
            .filter(|r| {
                let from = r["from"].as_str().unwrap().to_lowercase();
                from.contains(domain)
            })
            .filter(|r| {
                let id = r["id"].as_str().unwrap();
                let shown = gw.json(&["reports", "show", id, "--json"]);
                shown["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["action"] == "acknowledgement_suppressed")
            })
            .count()
    };
    let bucher = suppressed("bücher.example") + suppressed("xn--bcher-kva.example");
    assert_eq!(
        bucher, 1,
        "three spellings of one domain got three acknowledgements under a limit of two"
    );
    assert_eq!(
        suppressed("example.co.uk"),
        1,
        "three subdomains of one domain got three acknowledgements under a limit of two"
    );
}

/// Issue 22, property 9: a credential read from a shell (found beside the
/// configuration, or given with --credentials) that others may read is refused with
/// the `chmod` hint, through a symlink too (the hint names the file it points to).
#[test]
fn issue_22_credentials_from_a_shell_are_refused_when_others_may_read_them() {
    use std::os::unix::fs::PermissionsExt;
    let gw = Gateway::new();
    gw.add_maintainer();
    let config = std::fs::read_to_string(&gw.config).unwrap();
    let maildir = format!(
        "[inbox]\nkind = \"maildir\"\npath = \"{}\"\npoll_interval = \"100ms\"\n",
        gw.path("inbox").display()
    );
    assert!(config.contains(&maildir), "{config}");
    std::fs::write(
        &gw.config,
        config.replace(
            &maildir,
            "[inbox]\nkind = \"imap\"\nhost = \"127.0.0.1\"\nport = 1\ntls = \"none\"\n\
             username = \"security\"\npassword_credential = \"imap-password\"\n",
        ),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        gw.command()
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("DISCLOSURED_CREDENTIALS")
            .args(args)
            .output()
            .unwrap()
    };
    let creds = gw.path("credentials");
    std::fs::create_dir(&creds).unwrap();
    let secret = "imap-secret-5e1f";
    // Written by a shell with umask 022: mode 0644, beside the configuration.
    let file = creds.join("imap-password");
    std::fs::write(&file, secret).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    for args in [
        &["check-config"][..],
        &["--credentials", creds.to_str().unwrap(), "check-config"],
    ] {
        let out = cli(args);
        let (stdout, stderr) = text(&out);
        assert!(
            !out.status.success(),
            "a 0644 credential was read: {stdout}{stderr}"
        );
        assert!(
            stderr.contains(&format!("chmod 600 {}", file.display())),
            "{stderr}"
        );
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
    // A symlink to a file others may read: the file it points to is named.
    let elsewhere = gw.path("elsewhere-password");
    std::fs::rename(&file, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
    let out = cli(&["check-config"]);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "a symlink to a 0644 file was read: {stdout}{stderr}"
    );
    let target = std::fs::canonicalize(&elsewhere).unwrap();
    assert!(
        stderr.contains(&format!("chmod 600 {}", target.display())),
        "{stderr}"
    );
    // Made private, it is read.
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = cli(&["check-config"]);
    assert!(out.status.success(), "{:?}", text(&out));
    // Under systemd the credentials directory is systemd's to protect.
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = gw
        .command()
        .env("CREDENTIALS_DIRECTORY", &creds)
        .args(["check-config"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
}

/// `gpg --list-packets` of the armored block of `raw`, in a GnuPG home without keys.
fn packets(raw: &[u8]) -> String {
    let stranger = Gpg::new();
    let out = stranger.try_run(&["--list-packets"], &armored_block(raw));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Issue 22, property 8: mail the gateway encrypts names no key ID in clear (anonymous
/// recipients, as `gpg --throw-keyids`), and GnuPG still decrypts it; a researcher who
/// hides the recipient the same way is read by the gateway.
#[test]
fn issue_22_mail_to_researchers_and_maintainers_uses_anonymous_recipients() {
    let t = Team::new("");
    // Alice hides the recipient of her report too (`--throw-keyids`).
    let inner = entity(Some("report"), REPORT, &[]);
    let armored = t.s.gpg.run(
        &[
            "--armor",
            "--throw-keyids",
            "--encrypt",
            "--recipient",
            &t.s.gateway_fpr,
            "--sign",
            "--local-user",
            &t.s.alice,
        ],
        &inner,
    );
    assert!(packets(&armored).contains("keyid 0000000000000000"));
    t.s.gw.deliver(&pgp_mime_encrypted(
        &t.s.headers("<anon@example.net>", "..."),
        &armored,
    ));
    t.s.gw.run_once();
    let id = format!("VR-{}-0001", year());
    let r = t.show(&id);
    assert_eq!(r["encrypted"], true, "{r:#}");
    assert_eq!(r["signature"], "good", "{r:#}");

    let alice_keys = String::from_utf8(
        t.s.gpg
            .run(&["--with-colons", "--list-keys", &t.s.alice], b""),
    )
    .unwrap();
    let key_ids: Vec<&str> = alice_keys
        .lines()
        .filter(|l| l.starts_with("pub:") || l.starts_with("sub:"))
        .filter_map(|l| l.split(':').nth(4))
        .collect();
    assert_eq!(key_ids.len(), 2, "{alice_keys}");
    let ack = t.mail_to("alice@example.net", "");
    assert_eq!(ack.len(), 1);
    let listed = packets(&ack[0]);
    assert!(listed.contains(":pubkey enc packet:"), "{listed}");
    assert!(listed.contains("keyid 0000000000000000"), "{listed}");
    for kid in &key_ids {
        assert!(
            !listed.to_uppercase().contains(&kid.to_uppercase()),
            "the acknowledgement names Alice's key {kid} in clear: {listed}"
        );
    }
    let (status, plain, ok) = t.s.gpg.decrypt(&armored_block(&ack[0]));
    assert!(ok, "{status}");
    assert!(qp_decode(&plain).contains(&id));
    // Maintainers' mail is anonymous too, and their GnuPG reads it.
    let note = t.mail_to(t.bob.address, "");
    assert!(!note.is_empty());
    assert!(packets(&note[0]).contains("keyid 0000000000000000"));
    assert!(
        t.bob
            .open(&note[0], &t.s.gateway_fpr)
            .contains("SQL injection")
    );
}

/// `gpg --gen-revoke` for `fpr` in `gpg`'s home, answered as a person answers it
/// (reason 1: the key has been compromised); the armored revocation certificate.
fn gen_revoke(gpg: &Gpg, fpr: &str) -> Vec<u8> {
    let mut child = std::process::Command::new("gpg")
        .arg("--homedir")
        .arg(gpg.home.path())
        .args([
            "--no-tty",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--command-fd",
            "0",
            "--armor",
            "--gen-revoke",
            fpr,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"y\n1\nmy laptop was stolen\n\ny\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout
            .starts_with(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    );
    out.stdout
}

/// Issue 22, property 7: Alice's report proved her key (attached); her key is stolen
/// and she sends a follow-up carrying `gpg --gen-revoke` output. Nothing is encrypted
/// to that key afterwards: a maintainer's answer is refused, saying why.
#[test]
fn issue_22_a_revocation_in_a_follow_up_stops_answers_to_the_revoked_key() {
    let s = Scene::new();
    let key = s.gpg.export(&s.alice);
    let inner = entity(
        Some("report"),
        REPORT,
        &[("alice.asc", "application/pgp-keys", &key)],
    );
    let armored = s.gpg.encrypt(&s.gateway_fpr, Some(&s.alice), &inner);
    s.gw.deliver(&pgp_mime_encrypted(
        &s.headers("<rev-orig@example.net>", "..."),
        &armored,
    ));
    s.gw.run_once();
    let id = format!("VR-{}-0001", year());
    let r = s.gw.json(&["reports", "show", &id, "--json"]);
    assert_eq!(r["proven_key"], s.alice, "{r:#}");
    let ack = s.gw.outbox().pop().unwrap();
    let ack_id = header(&ack, "Message-ID").unwrap();

    // The follow-up: unsigned (her key is the one stolen), the revocation pasted in.
    let revocation = gen_revoke(&s.gpg, &s.alice);
    let mut headers = s.headers("<rev-follow@example.net>", "Re: my report: key revoked");
    headers.push(("In-Reply-To", &ack_id));
    headers.push(("Content-Type", "text/plain; charset=utf-8"));
    let body = format!(
        "My key was stolen; here is its revocation certificate.\n\n{}",
        String::from_utf8_lossy(&revocation)
    );
    s.gw.deliver(&message(&headers, &body));
    s.gw.run_once();

    // A maintainer answers the report: not to the revoked key, and told why.
    let answer = s.gw.path("answer.txt");
    std::fs::write(&answer, "We have a fix; details follow.\n").unwrap();
    let before = s.gw.outbox().len();
    let out =
        s.gw.cli(&["reports", "reply", &id, "--file", answer.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "an answer was queued to a revoked key: {stdout}{stderr}"
    );
    assert!(stderr.contains("revoked"), "{stderr}");
    assert!(stderr.contains(&s.alice), "{stderr}");
    s.gw.run_once();
    assert_eq!(s.gw.outbox().len(), before, "something was sent to Alice");
    // Nor in clear, with --allow-plaintext: the report came encrypted and signed.
    let out = s.gw.cli(&[
        "reports",
        "reply",
        &id,
        "--allow-plaintext",
        "--file",
        answer.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "{:?}", text(&out));
}
