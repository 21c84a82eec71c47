//! Gateway keys from outside: a passphrase-protected key made by GnuPG and brought in
//! with `keys import`, start-up errors when it cannot be unlocked, public-only keys
//! refused, and `keys rotate`.

use std::os::unix::fs::PermissionsExt;

use crate::pipeline::{REPORT, pgp_mime_encrypted};
use crate::util::*;

/// A gateway whose only key is a GnuPG-made key protected by `passphrase`, imported
/// with `keys import`, and a reporter (Alice, pre-loaded) who has its public key.
pub struct ProtectedScene {
    /// The reporter's GnuPG home.
    pub gpg: Gpg,
    pub alice: String,
    pub gateway_fpr: String,
    /// The gateway's passphrase file (mode 0600).
    pub passphrase_file: std::path::PathBuf,
}

impl ProtectedScene {
    pub fn new(gw: &Gateway, passphrase: &str) -> ProtectedScene {
        // The administrator's GnuPG home, where the key is made.
        let admin = Gpg::new();
        let admin_pass = admin.home.path().join("passphrase");
        write_private(&admin_pass, passphrase);
        let (gateway_fpr, secret) =
            admin.gen_protected_key(&format!("Example Security <{GATEWAY}>"), &admin_pass);
        assert!(
            String::from_utf8_lossy(&secret).contains("BEGIN PGP PRIVATE KEY BLOCK"),
            "gpg exported no secret key"
        );
        let key_file = gw.path("exported-secret.asc");
        std::fs::write(&key_file, &secret).unwrap();

        let passphrase_file = gw.path("key-passphrase");
        write_private(&passphrase_file, &format!("{passphrase}\n"));
        add_keys_setting(
            gw,
            &format!("passphrase_file = \"{}\"", passphrase_file.display()),
        );
        let out = gw.cli(&["keys", "import", key_file.to_str().unwrap(), "--sign"]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "keys import failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!(
                "Imported gateway key {gateway_fpr} (passphrase-protected)"
            )),
            "{stdout}"
        );
        assert!(stdout.contains("It signs and decrypts"), "{stdout}");

        let gpg = Gpg::new();
        gpg.import(&gw.public_key_path());
        let alice = gpg.gen_key("Alice Example <alice@example.net>");
        std::fs::write(gw.path("keys/reporters/alice.asc"), gpg.export(&alice)).unwrap();
        ProtectedScene {
            gpg,
            alice,
            gateway_fpr,
            passphrase_file,
        }
    }

    /// A PGP/MIME report encrypted to the gateway and signed by Alice.
    pub fn encrypted_report(&self, msgid: &str, text: &str) -> Vec<u8> {
        let inner = format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{text}");
        let armored = self
            .gpg
            .encrypt(&self.gateway_fpr, Some(&self.alice), inner.as_bytes());
        let headers = [
            ("From", "Alice Example <alice@example.net>"),
            ("To", GATEWAY),
            ("Subject", "..."),
            ("Message-ID", msgid),
            ("MIME-Version", "1.0"),
        ];
        pgp_mime_encrypted(&headers, &armored)
    }

    /// Checks an acknowledgement encrypted to Alice and signed by the gateway key,
    /// with GnuPG; returns its decrypted text.
    pub fn assert_ack_from_gateway(&self, ack: &[u8]) -> String {
        let (status, plain, ok) = self.gpg.decrypt(&armored_block(ack));
        assert!(ok, "gpg cannot decrypt the acknowledgement: {status}");
        assert!(status.contains("DECRYPTION_OKAY"), "{status}");
        assert!(
            status
                .lines()
                .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(&self.gateway_fpr)),
            "gpg does not find the gateway's signature: {status}"
        );
        qp_decode(&plain)
    }
}

#[test]
fn gnupg_passphrase_protected_key_decrypts_reports_and_signs_acknowledgements() {
    let gw = Gateway::without_key();
    let s = ProtectedScene::new(&gw, "correct horse battery staple");
    // Stored in keys.dir as it came (still protected), mode 0600.
    let stored = gw.path(&format!("keys/gateway-{}.sec.asc", s.gateway_fpr));
    assert_eq!(
        std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let show = String::from_utf8_lossy(&gw.cli(&["keys", "show"]).stdout).into_owned();
    assert!(show.contains("passphrase-protected"), "{show}");
    assert!(show.contains("publish this one"), "{show}");
    assert_eq!(gw.signing_fingerprint(), s.gateway_fpr);
    gw.add_maintainer();
    let check = gw.cli(&["check-config"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    gw.deliver(&s.encrypted_report("<protected@example.net>", REPORT));
    let log = gw.run_once();
    let reports = gw.reports();
    assert_eq!(reports.len(), 1, "{log}");
    assert_eq!(reports[0]["encrypted"], true);
    assert_eq!(reports[0]["signature"], "good");
    assert_eq!(reports[0]["title"], "SQL injection in login form");
    // The acknowledgement (the maintainer's notification aside).
    let out: Vec<Vec<u8>> = gw
        .outbox()
        .into_iter()
        .filter(|m| {
            !header(m, "Subject")
                .unwrap_or_default()
                .contains("New report")
        })
        .collect();
    assert_eq!(out.len(), 1);
    let text = s.assert_ack_from_gateway(&out[0]);
    assert!(
        text.contains("Title: SQL injection in login form"),
        "{text}"
    );

    // The same passphrase as a systemd credential (LoadCredential=key-passphrase:...).
    let text = std::fs::read_to_string(&gw.config).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("passphrase_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&gw.config, without).unwrap();
    let credentials = gw.path("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::copy(&s.passphrase_file, credentials.join("key-passphrase")).unwrap();
    let with_credential = |cmd: &str| {
        gw.command()
            .arg(cmd)
            .env("DISCLOSURED__KEYS__PASSPHRASE_CREDENTIAL", "key-passphrase")
            .env("CREDENTIALS_DIRECTORY", &credentials)
            .output()
            .unwrap()
    };
    gw.deliver(&s.encrypted_report("<credential@example.net>", REPORT));
    let out = with_credential("run-once");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(gw.reports().len(), 2);
    let acks: Vec<Vec<u8>> = gw
        .outbox()
        .into_iter()
        .filter(|m| {
            !header(m, "Subject")
                .unwrap_or_default()
                .contains("New report")
        })
        .collect();
    s.assert_ack_from_gateway(&acks[1]);
    // The unit's default for a credential whose file is missing: a lone newline.
    std::fs::write(credentials.join("key-passphrase"), "\n").unwrap();
    let out = with_credential("check-config");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("credential \"key-passphrase\" is empty"),
        "{err}"
    );
}

#[test]
fn protected_key_without_the_right_passphrase_stops_the_start_naming_the_key_file() {
    let passphrase = "PassphraseCanary-7d1f";
    let gw = Gateway::without_key();
    let s = ProtectedScene::new(&gw, passphrase);
    let stored = gw.path(&format!("keys/gateway-{}.sec.asc", s.gateway_fpr));
    let refused = |env: &[(&str, &str)]| -> String {
        let mut outputs = String::new();
        for cmd in ["run-once", "check-config"] {
            let mut c = gw.command();
            c.arg(cmd);
            for (k, v) in env {
                c.env(k, v);
            }
            let out = c.output().unwrap();
            assert!(!out.status.success(), "{cmd} started with a locked key");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(text.contains(stored.to_str().unwrap()), "{cmd}: {text}");
            assert!(!text.contains(passphrase), "{cmd}: {text}");
            assert!(!text.contains("PRIVATE KEY"), "{cmd}: {text}");
            outputs.push_str(&text);
        }
        outputs
    };

    // No passphrase configured (the setting is overridden with an empty value).
    let text = std::fs::read_to_string(&gw.config).unwrap();
    let without = text
        .lines()
        .filter(|l| !l.starts_with("passphrase_file"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&gw.config, &without).unwrap();
    let err = refused(&[]);
    assert!(err.contains("protected by a passphrase"), "{err}");
    assert!(err.contains("keys.passphrase_file"), "{err}");

    // The wrong passphrase.
    let wrong = gw.path("wrong-passphrase");
    write_private(&wrong, "WrongPassphraseCanary\n");
    let err = refused(&[(
        "DISCLOSURED__KEYS__PASSPHRASE_FILE",
        wrong.to_str().unwrap(),
    )]);
    assert!(err.contains("does not unlock"), "{err}");
    assert!(err.contains(wrong.to_str().unwrap()), "{err}");
    assert!(!err.contains("WrongPassphraseCanary"), "{err}");

    // The right passphrase in a file others can read: refused, with the fix.
    std::fs::write(&gw.config, &text).unwrap();
    std::fs::set_permissions(&s.passphrase_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    for cmd in ["run-once", "check-config"] {
        let out = gw.cli(&[cmd]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        let file = s.passphrase_file.to_str().unwrap();
        assert!(err.contains(&format!("chmod 600 {file}")), "{cmd}: {err}");
        assert!(!err.contains(passphrase), "{err}");
    }
    // Fixed: it starts, and nothing was ever written unprotected.
    std::fs::set_permissions(&s.passphrase_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    gw.run_once();
    use sequoia_openpgp::parse::Parse;
    let on_disk = sequoia_openpgp::Cert::from_file(&stored).unwrap();
    assert_eq!(on_disk.fingerprint().to_hex(), s.gateway_fpr);
    assert!(
        on_disk
            .keys()
            .secret()
            .all(|ka| ka.key().secret().is_encrypted())
    );
}

#[test]
fn keys_import_refuses_a_public_key_and_a_wrong_passphrase() {
    let gw = Gateway::new();
    let before: Vec<_> = std::fs::read_dir(gw.path("keys")).unwrap().collect();
    let gpg = Gpg::new();
    let fpr = gpg.gen_key(&format!("Other <{GATEWAY}>"));
    let public = gw.path("public.asc");
    std::fs::write(&public, gpg.export(&fpr)).unwrap();
    let out = gw.cli(&["keys", "import", public.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(public.to_str().unwrap()), "{err}");
    assert!(err.contains("only a public key"), "{err}");
    assert!(err.contains("--export-secret-keys"), "{err}");

    // A protected key whose passphrase is not the configured one.
    let admin = Gpg::new();
    let pass = admin.home.path().join("p");
    write_private(&pass, "the real one");
    let (_, secret) = admin.gen_protected_key(&format!("Old <{GATEWAY}>"), &pass);
    let secret_file = gw.path("secret.asc");
    std::fs::write(&secret_file, &secret).unwrap();
    let out = gw.cli(&["keys", "import", secret_file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("protected by a passphrase"), "{err}");
    let wrong = gw.path("wrong");
    write_private(&wrong, "not the real one");
    add_keys_setting(&gw, &format!("passphrase_file = \"{}\"", wrong.display()));
    let out = gw.cli(&["keys", "import", secret_file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not unlock"), "{err}");

    // Nothing was added to keys.dir.
    let after: Vec<_> = std::fs::read_dir(gw.path("keys")).unwrap().collect();
    assert_eq!(before.len(), after.len());
}

#[test]
fn keys_import_from_stdin_keeps_the_signing_key_unless_asked() {
    let gw = Gateway::new();
    let signing = gw.signing_fingerprint();
    let gpg = Gpg::new();
    let fpr = gpg.gen_key(&format!("Newer <{GATEWAY}>"));
    let secret = gpg.run(&["--armor", "--export-secret-keys", &fpr], b"");
    let mut child = gw
        .command()
        .args(["keys", "import", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&secret).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("Imported gateway key {fpr}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("The signing key is still {signing}")),
        "{stdout}"
    );
    // Newer than the gateway's own key, and still it does not sign.
    assert_eq!(gw.signing_fingerprint(), signing);
}

#[test]
fn keys_rotate_new_key_signs_and_the_old_one_still_decrypts() {
    let gw = Gateway::new();
    let old = gw.signing_fingerprint();
    let gpg = Gpg::new();
    gpg.import(&gw.public_key_path());
    let alice = gpg.gen_key("Alice Example <alice@example.net>");
    // Encrypted to the old key before the rotation, delivered after it.
    let armored = gpg.encrypt(&old, Some(&alice), REPORT.as_bytes());
    let headers = [
        ("From", "Alice Example <alice@example.net>"),
        ("To", GATEWAY),
        ("Subject", "..."),
        ("Message-ID", "<rotate@example.net>"),
    ];
    let raw = pgp_mime_encrypted(&headers, &armored);

    let out = gw.cli(&["keys", "rotate"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("Old signing key: {old} (keeps decrypting)")),
        "{stdout}"
    );
    let new = stdout
        .lines()
        .find_map(|l| l.strip_prefix("New signing key: "))
        .unwrap()
        .trim()
        .to_string();
    assert_ne!(new, old);
    assert_eq!(gw.signing_fingerprint(), new);
    // `keys export` gives the new key.
    let exported = gw.cli(&["keys", "export"]).stdout;
    let other = Gpg::new();
    let path = other.home.path().join("exported.asc");
    std::fs::write(&path, &exported).unwrap();
    other.import(&path);
    assert_eq!(other.fingerprint(GATEWAY), new);

    gw.deliver(&raw);
    gw.run_once();
    let reports = gw.reports();
    assert_eq!(reports.len(), 1, "the old key must still decrypt");
    assert_eq!(reports[0]["encrypted"], true);
    // The acknowledgement is signed with the new key.
    gpg.import(&gw.public_key_path());
    let ack = &gw.outbox()[0];
    let text = assert_signed_by(&gpg, ack, &new);
    assert!(text.contains("VR-"), "{text}");
}

#[test]
fn logs_go_to_the_journal_with_priorities_and_without_timestamps() {
    use std::os::unix::fs::MetadataExt;
    let gw = Gateway::new();
    gw.deliver(&message(
        &[
            ("From", "alice@example.net"),
            ("Subject", "r"),
            ("Message-ID", "<journal@example.net>"),
        ],
        REPORT,
    ));
    // systemd sets JOURNAL_STREAM to the device and inode of the stream it connects
    // to stderr; a file stands in for the journal's socket here.
    let run = |journal: bool, args: &[&str], env: &[(&str, &str)]| -> String {
        let path = gw.path("stderr.log");
        let file = std::fs::File::create(&path).unwrap();
        let meta = file.metadata().unwrap();
        let mut cmd = gw.command();
        cmd.args(args)
            .stderr(file)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied());
        if journal {
            cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
        } else {
            // Inherited from a parent whose stderr was the journal: not ours.
            cmd.env("JOURNAL_STREAM", "1:1");
        }
        cmd.status().unwrap();
        std::fs::read_to_string(&path).unwrap()
    };
    let log = run(true, &["run-once"], &[]);
    assert!(!log.is_empty());
    for line in log.lines() {
        assert!(
            line.starts_with("<6>INFO ") || line.starts_with("<4>WARN "),
            "{line:?} in {log}"
        );
        assert!(!line.contains('\x1b'), "{line:?}");
    }
    assert!(log.contains("<6>INFO pass complete"), "{log}");
    assert!(log.contains("message handled"), "{log}");

    // A fatal error is logged at error priority, every line of it.
    let log = run(
        true,
        &["run-once"],
        &[("DISCLOSURED__GATEWAY__ADDRESS", "not an address")],
    );
    assert_eq!(
        log,
        "<3>disclosured: error: invalid configuration:\n<3>  - gateway.address: \"not an address\" is not an email address\n"
    );

    // Elsewhere: the human format, with a timestamp and no prefix.
    let log = run(false, &["run-once"], &[]);
    let first = log.lines().next().unwrap();
    assert!(first.starts_with("20"), "{first:?}");
    assert!(!log.contains("<6>"), "{log}");
}
