//! Issue 18, "Operations that a sysadmin can trust": what an administrator met on a
//! fresh install, one regression test per finding.

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Polls `f` (a state this test can see: a file, a command's answer) until it holds.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `serve`, once its control socket answers. The socket file appears once the daemon
/// holds the store; asking before that would open the store here, beside the
/// starting daemon, and make its start fail.
fn serve(gw: &Gateway, store: &std::path::Path) -> Child {
    let socket = disclosured::testing::daemon::control::socket_path(store);
    let log = gw.path("serve.log");
    let mut child = gw
        .command()
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for("the daemon's control socket", || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "serve ended with {status}: {}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        if !socket.exists() {
            return false;
        }
        let out = gw.cli(&["status", "--json"]);
        out.status.success()
            && serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .is_ok_and(|s| s["inbox"]["daemon"] == true)
    });
    child
}

fn stop(mut child: Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "serve ended with {status}");
}

/// Items 3 and 6: checks and read-only commands create nothing; a missing store is
/// reported with the path tried.
#[test]
fn issue_18_checks_and_store_commands_never_create_state() {
    let gw = Gateway::new();
    gw.add_maintainer();
    std::fs::remove_dir_all(gw.path("inbox")).unwrap();
    let out = gw.cli(&["doctor"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let store_line = stdout.lines().find(|l| l.contains("store")).unwrap();
    assert!(store_line.starts_with("warn"), "{stdout}");
    assert!(
        store_line.contains(gw.path("state").to_str().unwrap()),
        "{stdout}"
    );
    let out = gw.cli(&["check-config"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("none yet at"), "{stdout}");
    // A relative store.path, from another directory: refused, naming the path.
    let elsewhere = tempfile::tempdir().unwrap();
    for args in [
        &["status"][..],
        &["reports", "list"],
        &["quarantine", "list"],
        &["outbox", "list"],
        &["backup", "b.backup"],
    ] {
        let out = gw
            .command()
            .current_dir(elsewhere.path())
            .env("DISCLOSURED__STORE__PATH", "state")
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{args:?}: {stdout}{stderr}");
        let tried = elsewhere.path().canonicalize().unwrap().join("state");
        assert!(
            stderr.contains(&format!("no store at {}", tried.display())),
            "{args:?}: {stderr}"
        );
    }
    for dir in ["state", "outbox", "inbox"] {
        assert!(!gw.path(dir).exists(), "{dir} was created");
    }
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

/// Item 7: a second daemon, `run-once` and `check-config` beside a running daemon
/// say that it runs, with its pid.
#[test]
fn issue_18_a_second_daemon_and_check_config_name_the_running_daemon() {
    let gw = Gateway::new();
    gw.add_maintainer();
    let child = serve(&gw, &gw.path("state"));
    let pid = child.id();
    for args in [&["serve"][..], &["run-once"]] {
        let out = gw.cli(args);
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!("the daemon is already running (pid {pid})")),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("WouldBlock"), "{stderr}");
    }
    let out = gw.cli(&["check-config"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("in use by the running daemon (pid {pid})")),
        "{stdout}"
    );
    let out = gw.cli(&["doctor"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("(pid {pid})")), "{stdout}");
    // Without its socket (an older daemon, say) the lock still names it.
    std::fs::rename(gw.path("state.sock"), gw.path("moved.sock")).unwrap();
    let out = gw.cli(&["reports", "list"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("the daemon (pid {pid}) holds the store")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("in use by process {pid}")),
        "{stderr}"
    );
    std::fs::rename(gw.path("moved.sock"), gw.path("state.sock")).unwrap();
    stop(child);
}

/// Item 8: a store.path whose socket path is over 107 bytes: commands work without
/// the daemon and through it, and `doctor` explains where the socket is.
#[test]
fn issue_18_a_long_store_path_keeps_the_control_socket_working() {
    let gw = Gateway::new();
    let deep = gw.path(&format!("{}/{}", "d".repeat(60), "e".repeat(60)));
    std::fs::create_dir_all(&deep).unwrap();
    let store = deep.join("state");
    let config = std::fs::read_to_string(&gw.config).unwrap().replace(
        &format!("path = \"{}\"", gw.path("state").display()),
        &format!("path = \"{}\"", store.display()),
    );
    std::fs::write(&gw.config, config).unwrap();
    gw.deliver(&plain_report("<long@example.net>"));
    gw.run_once();
    let out = gw.cli(&["status", "--json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let child = serve(&gw, &store);
    let s = gw.json(&["status", "--json"]);
    assert_eq!(s["inbox"]["daemon"], true, "{s:#}");
    assert_eq!(s["reports"], 1, "{s:#}");
    let (stdout, _) = text(&gw.cli(&["doctor"]));
    assert!(stdout.contains("/proc/self/fd"), "{stdout}");
    assert!(stdout.contains("in use by the running daemon"), "{stdout}");
    stop(child);
}

/// Item 9: a keys directory whose only key has expired: `check-config`, `serve` and
/// `run-once` all refuse, with the same message.
#[test]
fn issue_18_an_expired_gateway_key_stops_serve_and_run_once_like_check_config() {
    let gw = Gateway::without_key();
    let gpg = Gpg::new();
    // Made in 2020, valid for a year: expired now, without waiting for anything.
    let then = "20200101T000000";
    let uid = format!("Example Security <{GATEWAY}>");
    gpg.run(
        &[
            "--faked-system-time",
            then,
            "--quick-gen-key",
            &uid,
            "ed25519",
            "sign",
            "1y",
        ],
        b"",
    );
    let fpr = gpg.fingerprint(&uid);
    gpg.run(
        &[
            "--faked-system-time",
            then,
            "--quick-add-key",
            &fpr,
            "cv25519",
            "encr",
            "1y",
        ],
        b"",
    );
    let secret = gw.path("expired.sec.asc");
    std::fs::write(
        &secret,
        gpg.run(&["--armor", "--export-secret-keys", &fpr], b""),
    )
    .unwrap();
    let out = gw.cli(&["keys", "import", secret.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", text(&out));
    gw.deliver(&plain_report("<expired@example.net>"));
    let mut messages = Vec::new();
    for args in [&["check-config"][..], &["run-once"], &["serve"]] {
        let out = gw
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{args:?}: {stdout}{stderr}");
        let line = stderr
            .lines()
            .find(|l| l.contains("cannot sign"))
            .unwrap_or_else(|| panic!("{args:?}: {stderr}"))
            .to_string();
        messages.push(line);
    }
    assert!(messages.iter().all(|m| m == &messages[0]), "{messages:#?}");
    assert!(messages[0].contains("keys rotate"), "{}", messages[0]);
    // Nothing was taken in.
    assert_eq!(std::fs::read_dir(gw.path("inbox/new")).unwrap().count(), 1);
    assert!(!gw.path("state").exists());
}

/// A gateway whose inbox is IMAP, its password a systemd credential, its outbox
/// files (as a production configuration edited in a hurry).
fn imap_gateway(gw: &Gateway) {
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
}

/// Items 2 and 10: credentials found beside the configuration (as installed) or
/// given with --credentials, what is missing said exactly; a file outbox behind an
/// IMAP inbox is a warning.
#[test]
fn issue_18_credentials_from_a_shell_and_a_file_outbox_behind_imap() {
    let gw = Gateway::new();
    gw.add_maintainer();
    imap_gateway(&gw);
    let cli = |args: &[&str]| {
        gw.command()
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("DISCLOSURED_CREDENTIALS")
            .args(args)
            .output()
            .unwrap()
    };
    // No credentials directory anywhere (the installed one is not on a test machine).
    assert!(!std::path::Path::new("/etc/disclosured/credentials").exists());
    let out = cli(&["check-config"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("\"imap-password\""), "{stderr}");
    assert!(stderr.contains("--credentials DIR"), "{stderr}");
    // Given, but the file is not there: named.
    let creds = gw.path("credentials");
    std::fs::create_dir(&creds).unwrap();
    let out = cli(&["--credentials", creds.to_str().unwrap(), "check-config"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&creds.join("imap-password").display().to_string()),
        "{stderr}"
    );
    // Found beside the configuration file, without --credentials.
    write_private(&creds.join("imap-password"), "secret-imap-7c1d");
    let out = cli(&["check-config"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = cli(&["doctor"]);
    let (stdout, stderr) = text(&out);
    let delivery = stdout.lines().find(|l| l.contains("delivery")).unwrap();
    assert!(delivery.starts_with("warn"), "{stdout}");
    assert!(
        delivery.contains("no reporter gets an acknowledgement"),
        "{stdout}"
    );
    // The IMAP check got as far as the network (nothing listens on port 1).
    let imap = stdout.lines().find(|l| l.contains(" imap ")).unwrap();
    assert!(imap.contains("127.0.0.1:1"), "{imap}");
    assert!(!imap.contains("credential"), "{imap}");
    assert!(!stdout.contains("secret-imap-7c1d") && !stderr.contains("secret-imap-7c1d"));
}

/// Item 1: `sudo make install` after `make build`: sudo's PATH has no cargo, and
/// installing must not need it.
#[test]
fn issue_18_make_install_needs_no_cargo_once_built() {
    let dest = tempfile::tempdir().unwrap();
    let built = env!("CARGO_BIN_EXE_disclosured");
    let make = |bin: &str| {
        std::process::Command::new("make")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["--no-print-directory", "install"])
            .arg(format!("DESTDIR={}", dest.path().display()))
            .arg(format!("BIN={bin}"))
            // As under sudo: the toolchain is not on the PATH.
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env_remove("CARGO")
            .output()
            .unwrap()
    };
    let out = make(built);
    assert!(out.status.success(), "{:?}", text(&out));
    let installed = dest.path().join("usr/local/bin/disclosured");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(built).unwrap()
    );
    for f in [
        "usr/local/lib/systemd/system/disclosured.service",
        "etc/disclosured/disclosured.toml",
    ] {
        assert!(dest.path().join(f).is_file(), "{f}");
    }
    assert!(dest.path().join("etc/disclosured/credentials").is_dir());
    // Issue 23: man pages, completions, the policy and licences come along.
    for f in [
        "usr/local/share/man/man1/disclosured.1",
        "usr/local/share/man/man1/disclosured-reports.1",
        "usr/local/share/bash-completion/completions/disclosured",
        "usr/local/share/zsh/site-functions/_disclosured",
        "usr/local/share/fish/vendor_completions.d/disclosured.fish",
        "usr/local/share/doc/disclosured/SECURITY.md",
        "usr/local/share/doc/disclosured/CHANGELOG.md",
        "usr/local/share/doc/disclosured/LICENSE-MIT",
    ] {
        assert!(dest.path().join(f).is_file(), "{f} not installed");
    }
    // Not built: says what to do instead of "cargo is missing".
    let out = make("/nonexistent/disclosured");
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stdout.contains("run `make build` as your user first"),
        "{stdout}{stderr}"
    );
}

/// The gateway's secret key file (there is one in these tests).
fn secret_key_file(keys: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".sec.asc"))
        .unwrap()
}

/// Item 4: a backup holds the gateway's keys, is signed and encrypted (GnuPG decrypts
/// it with the gateway's key, or with the key given with --to), streams to standard
/// output, and restores on a new host with the same key; older plain backups, which
/// nobody signed, are refused (issue 22).
#[test]
fn issue_18_backups_are_encrypted_hold_the_keys_and_restore_on_a_new_host() {
    let gw = Gateway::new();
    gw.deliver(&plain_report("<bk1@example.net>"));
    gw.deliver(&plain_report("<bk2@example.net>"));
    gw.run_once();
    let before = gw.json(&["reports", "list", "--json"]);
    let fpr = gw.signing_fingerprint();
    let admin = Gpg::new();
    let admin_fpr = admin.gen_key("Admin <admin@example.org>");
    let admin_pub = gw.path("admin.asc");
    std::fs::write(&admin_pub, admin.export(&admin_fpr)).unwrap();
    let file = gw.path("state.backup");
    let out = gw.cli(&[
        "backup",
        "--to",
        admin_pub.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        text(&out).0.contains("key files (encrypted)"),
        "{:?}",
        text(&out)
    );
    let backup = std::fs::read(&file).unwrap();
    assert!(backup.starts_with(b"-----BEGIN PGP MESSAGE-----"));
    assert!(find(&backup, b"bk1@example.net").is_none());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // GnuPG with the gateway's secret key reads it: a backup signed by the gateway,
    // with the keys inside.
    let gpg = Gpg::new();
    gpg.import(&secret_key_file(&gw.path("keys")));
    let signed = gpg.run(&["--decrypt"], &backup);
    let plain = gpg.run(&["--decrypt"], &signed);
    assert!(plain.starts_with(b"disclosured-backup 2\n"));
    let secret = std::fs::read(secret_key_file(&gw.path("keys"))).unwrap();
    assert!(
        find(&plain, &secret).is_some(),
        "the secret key is in the backup"
    );
    let out = gpg.try_run(&["--status-fd", "1", "--verify"], &signed);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(&fpr)),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A new host: no key, no store. The gateway's key is not there to decrypt with,
    // so the refusal says what to do; the operator's GnuPG decrypts it, and the
    // gateway's public key (kept elsewhere) is what the signature is checked with.
    let public = gw.path("gateway-public.asc");
    std::fs::write(&public, gw.cli(&["keys", "export"]).stdout).unwrap();
    let new_host = |args: &[&str], stdin: &[u8]| {
        use std::io::Write;
        let mut child = gw
            .command()
            .env("DISCLOSURED__STORE__PATH", gw.path("new/state"))
            .env("DISCLOSURED__KEYS__DIR", gw.path("new/keys"))
            // The store key, kept apart from the backups (a restore needs it).
            .env("DISCLOSURED__STORE__KEY_FILE", gw.path("keys/store-key"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = new_host(&["restore", file.to_str().unwrap()], b"");
    assert!(!out.status.success());
    assert!(text(&out).1.contains("gpg --decrypt"), "{:?}", text(&out));
    assert!(!gw.path("new/state").exists());
    let decrypted = admin.run(&["--decrypt"], &backup);
    let out = new_host(&["restore", "-"], &decrypted);
    assert!(!out.status.success(), "no trusted key on the new host");
    assert!(text(&out).1.contains("--trust"), "{:?}", text(&out));
    assert!(!gw.path("new/state").exists());
    let out = new_host(
        &[
            "restore",
            "--trust",
            public.to_str().unwrap(),
            "--install-keys",
            "gateway",
            "-",
        ],
        &decrypted,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("2 reports"), "{:?}", text(&out));
    let out = new_host(&["reports", "list", "--json"], b"");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        before
    );
    let out = new_host(&["keys", "show"], b"");
    assert!(text(&out).0.contains(&fpr), "{:?}", text(&out));
    {
        use std::os::unix::fs::PermissionsExt;
        let restored = secret_key_file(&gw.path("new/keys"));
        let mode = std::fs::metadata(&restored).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        assert_eq!(std::fs::read(restored).unwrap(), secret);
    }

    // Encrypted to the gateway's key too, restored where that key is: no GnuPG needed.
    let out = gw
        .command()
        .env("DISCLOSURED__STORE__PATH", gw.path("again"))
        .args(["restore", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));

    // To an administrator's key, on standard output, through the running daemon.
    let child = serve(&gw, &gw.path("state"));
    let out = gw.cli(&["backup", "--to", admin_pub.to_str().unwrap(), "-"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(out.stdout.starts_with(b"-----BEGIN PGP MESSAGE-----"));
    let signed = admin.run(&["--decrypt"], &out.stdout);
    admin.import(&public);
    let plain = admin.run(&["--decrypt"], &signed);
    assert!(plain.starts_with(b"disclosured-backup 2\n"));
    stop(child);

    // A plain backup of the earlier format is refused: nobody signed it.
    let old = gw.path("old.backup");
    {
        let store = crate::util::open_store(&gw);
        let mut f = std::fs::File::create(&old).unwrap();
        store.export(&mut f).unwrap();
    }
    let out = gw
        .command()
        .env("DISCLOSURED__STORE__PATH", gw.path("fourth"))
        .args(["restore", old.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("not a signed backup"),
        "{:?}",
        text(&out)
    );
    assert!(!gw.path("fourth").exists());
}

/// Item 5: a quarantined message, its cause fixed, goes back through the inbox; a
/// second retry changes nothing; what it became is recorded.
#[test]
fn issue_18_quarantine_retry_reads_a_message_again_once() {
    let gw = Gateway::new();
    gw.deliver(&plain_report("<big@example.net>"));
    // Garbage stays garbage: retried, it is quarantined again.
    gw.deliver(b"From: x@example.net\r\nSubject: garbage\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=b\r\n\r\n--b\r\n\r\nnot openpgp\r\n--b--\r\n");
    let out = gw
        .command()
        .arg("run-once")
        .env("DISCLOSURED__LIMITS__MAX_MESSAGE_BYTES", "200")
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(gw.reports().is_empty());
    let q = gw.quarantine();
    assert_eq!(q.len(), 2, "{q:#?}");
    let id_of = |needle: &str| {
        q.iter()
            .find(|r| r["reason"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {q:#?}"))["id"]
            .as_u64()
            .unwrap()
            .to_string()
    };
    let (big, garbage) = (id_of("max_message_bytes"), id_of("OpenPGP"));
    let out = gw.cli(&["quarantine", "retry", &big]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        text(&out).0.contains("back in the inbox"),
        "{:?}",
        text(&out)
    );
    let inbox = || std::fs::read_dir(gw.path("inbox/new")).unwrap().count();
    assert_eq!(inbox(), 1);
    // Again: nothing changes.
    let out = gw.cli(&["quarantine", "retry", &big]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("already retried"), "{:?}", text(&out));
    assert_eq!(inbox(), 1);
    // The limit is back to its default: read, stored, answered.
    gw.run_once();
    let reports = gw.reports();
    assert_eq!(reports.len(), 1);
    let q = gw.quarantine();
    let row = q
        .iter()
        .find(|r| r["id"].as_u64().unwrap().to_string() == big)
        .unwrap();
    let id = reports[0]["id"].as_str().unwrap();
    assert_eq!(row["retried"]["now"], format!("report {id}"), "{row:#}");
    assert!(row["retried"]["by"].as_str().unwrap().starts_with("cli:"));
    // --all takes the garbage, once; it comes back quarantined again.
    let out = gw.cli(&["quarantine", "retry", "--all"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        text(&out)
            .0
            .contains(&format!("{garbage}: back in the inbox")),
        "{:?}",
        text(&out)
    );
    assert!(
        !text(&out).0.contains(&format!("{big}:")),
        "{:?}",
        text(&out)
    );
    gw.run_once();
    let q = gw.quarantine();
    assert_eq!(q.len(), 3, "{q:#?}");
    let row = q
        .iter()
        .find(|r| r["id"].as_u64().unwrap().to_string() == garbage)
        .unwrap();
    assert!(
        row["retried"]["now"]
            .as_str()
            .unwrap()
            .starts_with("quarantined again as"),
        "{row:#}"
    );
    assert_eq!(gw.reports().len(), 1);
    // Not a quarantined message: refused, with a reason.
    let out = gw.cli(&["quarantine", "retry", "999999"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("no quarantined message 999999"),
        "{:?}",
        text(&out)
    );
}

/// A command that holds the store the moment `serve` starts (a monitoring script's
/// `status`) no longer makes the start fail: `serve` waits for it.
#[test]
fn issue_18_serve_waits_for_a_command_holding_the_store_at_start() {
    let gw = Gateway::new();
    gw.run_once();
    // This test process plays the command: it holds the store.
    let held = crate::util::open_store(&gw);
    let log = gw.path("serve.log");
    let mut child = gw
        .command()
        .arg("serve")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for("serve to find the store in use", || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("the store is in use by another process; waiting for it")
    });
    drop(held);
    wait_for("the control socket", || gw.path("state.sock").exists());
    let s = gw.json(&["status", "--json"]);
    assert_eq!(s["inbox"]["daemon"], true, "{s:#}");
    stop(child);
}
