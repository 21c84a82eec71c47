//! Test helpers: a gateway in a temporary directory, and a GnuPG home for reporters.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub const GATEWAY: &str = "security@example.org";

/// A GnuPG home in a temporary directory. Its agent is stopped on drop.
pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Gpg {
    pub fn new() -> Gpg {
        // Short path: the agent's socket path must fit in sun_path.
        let home = tempfile::Builder::new()
            .prefix("g")
            .tempdir_in("/tmp")
            .unwrap();
        Gpg { home }
    }

    /// Runs gpg; panics with its stderr on failure.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let out = self.try_run(args, stdin);
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    pub fn try_run(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.try_run_with(&["--passphrase", ""], args, stdin)
    }

    /// Runs gpg with the passphrase of its keys read from `passphrase_file`.
    pub fn run_with_passphrase_file(&self, passphrase_file: &Path, args: &[&str]) -> Vec<u8> {
        let out = self.try_run_with(
            &["--passphrase-file", passphrase_file.to_str().unwrap()],
            args,
            b"",
        );
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn try_run_with(&self, passphrase: &[&str], args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args([
                "--batch",
                "--yes",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--trust-model",
                "always",
            ])
            .args(passphrase)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gpg is installed (make test installs it)");
        // Fed from another thread: gpg writes output while it reads input, and
        // with both pipes full each side would wait for the other.
        let mut pipe = child.stdin.take().unwrap();
        let input = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        out
    }

    /// Makes an Ed25519/Cv25519 key for `uid`; returns its fingerprint.
    pub fn gen_key(&self, uid: &str) -> String {
        self.run(&["--quick-gen-key", uid, "ed25519", "sign", "never"], b"");
        let fpr = self.fingerprint(uid);
        self.run(&["--quick-add-key", &fpr, "cv25519", "encr", "never"], b"");
        fpr
    }

    /// Makes an Ed25519/Cv25519 key for `uid` whose secret key material is protected
    /// by the passphrase in `passphrase_file`; returns its fingerprint and the secret
    /// key as `gpg --export-secret-keys` gives it (still protected).
    pub fn gen_protected_key(&self, uid: &str, passphrase_file: &Path) -> (String, Vec<u8>) {
        self.run_with_passphrase_file(
            passphrase_file,
            &["--quick-gen-key", uid, "ed25519", "sign", "never"],
        );
        let fpr = self.fingerprint(uid);
        self.run_with_passphrase_file(
            passphrase_file,
            &["--quick-add-key", &fpr, "cv25519", "encr", "never"],
        );
        let secret = self
            .run_with_passphrase_file(passphrase_file, &["--armor", "--export-secret-keys", &fpr]);
        (fpr, secret)
    }

    pub fn fingerprint(&self, who: &str) -> String {
        let out = self.run(&["--with-colons", "--list-keys", who], b"");
        let text = String::from_utf8(out).unwrap();
        text.lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap()
            .to_string()
    }

    pub fn import(&self, path: &Path) {
        self.run(&["--import", path.to_str().unwrap()], b"");
    }

    pub fn export(&self, fpr: &str) -> Vec<u8> {
        self.run(&["--armor", "--export", fpr], b"")
    }

    /// Encrypted to `to`, signed by `signer` when given; armored.
    pub fn encrypt(&self, to: &str, signer: Option<&str>, data: &[u8]) -> Vec<u8> {
        let mut args = vec!["--armor", "--encrypt", "--recipient", to];
        if let Some(s) = signer {
            args.extend(["--sign", "--local-user", s]);
        }
        self.run(&args, data)
    }

    pub fn detach_sign(&self, signer: &str, data: &[u8]) -> Vec<u8> {
        self.run(&["--armor", "--detach-sign", "--local-user", signer], data)
    }

    pub fn clearsign(&self, signer: &str, data: &[u8]) -> Vec<u8> {
        self.run(&["--clearsign", "--local-user", signer], data)
    }

    /// `gpg --verify` of a detached signature; returns the status lines.
    pub fn verify_detached(&self, data: &[u8], signature: &[u8]) -> String {
        let dir = self.home.path();
        std::fs::write(dir.join("data"), data).unwrap();
        std::fs::write(dir.join("data.sig"), signature).unwrap();
        let out = self.try_run(
            &[
                "--status-fd",
                "1",
                "--verify",
                dir.join("data.sig").to_str().unwrap(),
                dir.join("data").to_str().unwrap(),
            ],
            b"",
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `gpg --decrypt`; returns (status lines, plaintext, success).
    pub fn decrypt(&self, armored: &[u8]) -> (String, Vec<u8>, bool) {
        let dir = self.home.path();
        std::fs::write(dir.join("msg.asc"), armored).unwrap();
        let out_path = dir.join("msg.out");
        let _ = std::fs::remove_file(&out_path);
        let out = self.try_run(
            &[
                "--status-fd",
                "1",
                "--output",
                out_path.to_str().unwrap(),
                "--decrypt",
                dir.join("msg.asc").to_str().unwrap(),
            ],
            b"",
        );
        let plain = std::fs::read(&out_path).unwrap_or_default();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            plain,
            out.status.success(),
        )
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .output();
    }
}

/// A gateway with its own configuration, keys, Maildir, outbox and store.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    counter: std::cell::Cell<u32>,
    /// Environment given to every command of this gateway (test hooks).
    env: std::cell::RefCell<Vec<(String, String)>>,
}

impl Gateway {
    /// A gateway with a freshly generated key.
    pub fn new() -> Gateway {
        let gw = Gateway::without_key();
        let out = gw.cli(&["keys", "generate"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        gw
    }

    pub fn without_key() -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("disclosured.toml");
        let root = dir.path().display().to_string();
        std::fs::write(
            &config,
            format!(
                r#"
[gateway]
address = "{GATEWAY}"
name = "Example Security"
report_id_prefix = "VR"
[inbox]
kind = "maildir"
path = "{root}/inbox"
poll_interval = "100ms"
[outbox]
kind = "file"
path = "{root}/outbox"
[store]
path = "{root}/state"
[keys]
dir = "{root}/keys"
"#
            ),
        )
        .unwrap();
        for sub in ["inbox/new", "inbox/cur", "inbox/tmp", "keys/reporters"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Gateway {
            dir,
            config,
            counter: std::cell::Cell::new(0),
            env: Default::default(),
        }
    }

    /// Adds a maintainer (a GnuPG-made key in keys/maintainers/) to the
    /// configuration: `doctor` and `check-config` fail on a gateway without one.
    pub fn add_maintainer(&self) {
        let gpg = Gpg::new();
        gpg.gen_key("Dana Maintainer <dana@example.org>");
        std::fs::create_dir_all(self.path("keys/maintainers")).unwrap();
        let key = self.path("keys/maintainers/dana.asc");
        std::fs::write(&key, gpg.export("dana@example.org")).unwrap();
        let mut config = std::fs::read_to_string(&self.config).unwrap();
        config.push_str(&format!(
            "\n[[maintainers]]\nname = \"Dana Maintainer\"\naddress = \"dana@example.org\"\nkey = \"{}\"\n",
            key.display()
        ));
        std::fs::write(&self.config, config).unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_disclosured"));
        cmd.arg("--config").arg(&self.config);
        cmd.env_remove("RUST_LOG");
        for (k, v) in self.env.borrow().iter() {
            cmd.env(k, v);
        }
        cmd
    }

    /// Gives every later command of this gateway `key=value` in its environment;
    /// `None` takes it away again.
    pub fn set_env(&self, key: &str, value: Option<&str>) {
        let mut env = self.env.borrow_mut();
        env.retain(|(k, _)| k != key);
        if let Some(v) = value {
            env.push((key.to_string(), v.to_string()));
        }
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// `run-once`, which must succeed; returns its stderr (the log).
    pub fn run_once(&self) -> String {
        let out = self.cli(&["run-once"]);
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "run-once failed: {log}");
        log
    }

    /// Drops a message into the inbox the way an MDA does.
    pub fn deliver(&self, bytes: &[u8]) -> String {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        let name = format!("1700000000.M{n}P1.test");
        let tmp = self.path("inbox/tmp").join(&name);
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, self.path("inbox/new").join(&name)).unwrap();
        name
    }

    /// The public key file of the gateway's signing key (the one it publishes).
    pub fn public_key_path(&self) -> PathBuf {
        let path = self
            .path("keys")
            .join(format!("gateway-{}.pub.asc", self.signing_fingerprint()));
        assert!(path.is_file(), "{} is missing", path.display());
        path
    }

    pub fn signing_fingerprint(&self) -> String {
        let out = self.cli(&["keys", "export"]);
        assert!(out.status.success());
        let show = String::from_utf8_lossy(&self.cli(&["keys", "show"]).stdout).into_owned();
        show.lines()
            .find(|l| l.contains("publish this one"))
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_string()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn reports(&self) -> Vec<Value> {
        self.json(&["reports", "list", "--json"])
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn quarantine(&self) -> Vec<Value> {
        self.json(&["quarantine", "list", "--json"])
            .as_array()
            .unwrap()
            .clone()
    }

    /// For waits while `serve` starts: nothing until the daemon has created its
    /// outbox, then [`Gateway::outbox`]. Assertions use `outbox` itself.
    pub fn outbox_once_created(&self) -> Vec<Vec<u8>> {
        if self.path("outbox").is_dir() {
            self.outbox()
        } else {
            Vec::new()
        }
    }

    /// The messages in the outbox, oldest first. A missing outbox directory fails
    /// the test (issue 21): an empty list would let "nothing was sent" pass when the
    /// gateway wrote elsewhere or never ran.
    pub fn outbox(&self) -> Vec<Vec<u8>> {
        let dir = self.path("outbox");
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "cannot list the outbox {}: {e} (did the gateway run, with this outbox.path?)",
                dir.display()
            )
        });
        let mut files: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap());
        files
            .into_iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect()
    }
}

/// The gateway's store key (`keys generate` made it in keys.dir).
pub fn store_key(gw: &Gateway) -> disclosured::testing::store::StoreKey {
    let text = std::fs::read_to_string(gw.path("keys/store-key")).unwrap();
    disclosured::testing::store::StoreKey::parse(&text).unwrap()
}

/// Opens the gateway's store in this process, with its store key.
pub fn open_store(gw: &Gateway) -> disclosured::testing::store::Store {
    disclosured::testing::store::Store::open(&gw.path("state"), &store_key(gw)).unwrap()
}

/// Writes a file readable by its owner only (a password or passphrase file).
pub fn write_private(path: &Path, contents: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Adds `line` to the `[keys]` section, which is the last one of the test
/// configuration.
pub fn add_keys_setting(gw: &Gateway, line: &str) {
    let mut text = std::fs::read_to_string(&gw.config).unwrap();
    let at = text
        .rfind("[keys]")
        .expect("the test configuration has [keys]");
    assert!(!text[at..].contains("\n["), "[keys] is the last section");
    text.push_str(&format!("{line}\n"));
    std::fs::write(&gw.config, text).unwrap();
}

/// Builds an RFC 5322 message with CRLF line ends.
pub fn message(headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = String::new();
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body.replace("\r\n", "\n").replace('\n', "\r\n"));
    out.into_bytes()
}

/// The value of a top-level header of a raw message (unfolded).
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The bare address of a raw message's To header (`Name <addr>` or `addr`).
pub fn to_address(raw: &[u8]) -> Option<String> {
    let to = header(raw, "To")?;
    Some(match (to.rfind('<'), to.rfind('>')) {
        (Some(a), Some(b)) if a < b => to[a + 1..b].to_string(),
        _ => to,
    })
}

/// The boundary parameter of the top-level Content-Type.
pub fn boundary(raw: &[u8]) -> String {
    let ct = header(raw, "Content-Type").unwrap();
    let start = ct.find("boundary=").unwrap() + "boundary=".len();
    ct[start..]
        .split(';')
        .next()
        .unwrap()
        .trim()
        .trim_matches('"')
        .to_string()
}

/// Splits a multipart message into its parts' raw bytes, by the RFC 2046 rules and
/// independently of the code under test: a part runs from after the delimiter line to
/// before the CRLF that precedes the next delimiter.
pub fn parts(raw: &[u8]) -> Vec<Vec<u8>> {
    let b = boundary(raw);
    let delim = format!("\r\n--{b}");
    let text = raw;
    let body_start = find(text, b"\r\n\r\n").unwrap() + 2;
    let mut positions = Vec::new();
    let mut at = body_start - 2;
    while let Some(p) = find(&text[at..], delim.as_bytes()) {
        positions.push(at + p);
        at += p + delim.len();
    }
    let mut out = Vec::new();
    for w in positions.windows(2) {
        let start = w[0] + delim.len() + 2; // skip "\r\n" after the delimiter
        out.push(text[start..w[1]].to_vec());
    }
    out
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The body of a MIME part (after its blank line).
pub fn part_body(part: &[u8]) -> Vec<u8> {
    let at = find(part, b"\r\n\r\n").unwrap();
    part[at + 4..].to_vec()
}

/// The armored OpenPGP message in a raw mail.
pub fn armored_block(raw: &[u8]) -> Vec<u8> {
    let start = find(raw, b"-----BEGIN PGP MESSAGE-----").unwrap();
    let end = find(raw, b"-----END PGP MESSAGE-----").unwrap() + "-----END PGP MESSAGE-----".len();
    raw[start..end].to_vec()
}

/// Decodes a quoted-printable body, enough for checking text.
pub fn qp_decode(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body).replace("=\r\n", "");
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len() + 1
            && let Ok(v) = u8::from_str_radix(&text[i + 1..(i + 3).min(text.len())], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks an acknowledgement or notice that is PGP/MIME signed (not encrypted) with
/// `gpg --verify`; returns the decoded text of the signed part.
pub fn assert_signed_by(gpg: &Gpg, raw: &[u8], gateway_fpr: &str) -> String {
    let ct = header(raw, "Content-Type").unwrap();
    assert!(ct.starts_with("multipart/signed"), "{ct}");
    assert!(ct.contains("application/pgp-signature"), "{ct}");
    assert!(
        ct.contains("micalg=pgp-sha512") || ct.contains("micalg=\"pgp-sha512\""),
        "{ct}"
    );
    let parts = parts(raw);
    assert_eq!(parts.len(), 2, "signed message has two parts");
    let sig = part_body(&parts[1]);
    let status = gpg.verify_detached(&parts[0], &sig);
    assert!(
        status.contains(&format!("VALIDSIG {gateway_fpr}"))
            || status
                .lines()
                .any(|l| l.starts_with("[GNUPG:] VALIDSIG") && l.contains(gateway_fpr)),
        "gpg does not accept the signature: {status}"
    );
    qp_decode(&parts[0])
}

/// A plain-text report from Alice with the given Message-ID.
pub fn plain_report(msgid: &str) -> Vec<u8> {
    message(
        &[
            ("From", "Alice <alice@example.net>"),
            ("To", GATEWAY),
            ("Subject", "Report"),
            ("Message-ID", msgid),
            ("Content-Type", "text/plain"),
        ],
        crate::pipeline::REPORT,
    )
}
