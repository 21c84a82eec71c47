//! Real mail servers for the integration tests, each in its own temporary
//! directory on loopback ports, run as the current user (root or not):
//!
//! - [`Dovecot`]: an IMAP server (Debian's `dovecot-imapd`) with implicit TLS,
//!   STARTTLS and plain ports, one user, Maildir storage.
//! - [`SmtpServer`]: an SMTP server (`tests/servers/smtp_server.py` on Debian's
//!   `python3-aiosmtpd`) with STARTTLS and AUTH that saves what it accepts and
//!   can be told to refuse the next messages.
//!
//! Both use a self-signed certificate for `localhost`, `127.0.0.1` and
//! `127.0.0.2` made with the `openssl` CLI; clients trust it through `ca_file()`.
//! The helpers that check what a server holds use a real client: Debian's
//! `/usr/bin/python3` with imaplib, verifying that certificate.

#![allow(
    dead_code,
    reason = "each test uses only some of these helpers, and the rest would warn"
)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Debian's interpreter, which has `python3-aiosmtpd`; the `python3` first on
/// PATH may be another one (pyenv) without it.
pub const PYTHON: &str = "/usr/bin/python3";
pub const DOVECOT: &str = "/usr/sbin/dovecot";
/// Where every server listens, except Dovecot's STARTTLS port.
pub const HOST: &str = "127.0.0.1";
/// Where Dovecot's STARTTLS port listens; see [`Dovecot::starttls_host`].
pub const STARTTLS_HOST: &str = "127.0.0.2";

const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);
const SMTP_SERVER_PY: &str = include_str!("../servers/smtp_server.py");

/// A port on `ip` that nothing listens on now and that no other caller in
/// this process has been given. Another process may still take it before the
/// server binds it; the servers retry on new ports when that happens.
pub fn free_port(ip: Ipv4Addr) -> u16 {
    static GIVEN: Mutex<BTreeSet<(Ipv4Addr, u16)>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // Held until a new port is found, so the kernel cannot hand out the same
    // one again meanwhile.
    let mut held = Vec::new();
    loop {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        if given.insert((ip, port)) {
            return port;
        }
        held.push(listener);
    }
}

/// Polls `ready()` until it holds (true), or until `child` exits or
/// `START_TIMEOUT` passes (false).
fn poll_ready(child: &mut Child, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if ready() {
            return true;
        }
        if child.try_wait().unwrap().is_some() || Instant::now() >= deadline {
            return false;
        }
        sleep(POLL);
    }
}

/// Waits until `host:port` accepts connections; panics with `diagnostics()`
/// (the server's logs) if `child` exits first or after `START_TIMEOUT`.
pub fn wait_for_port(host: &str, port: u16, child: &mut Child, diagnostics: &dyn Fn() -> String) {
    if !poll_ready(child, || TcpStream::connect((host, port)).is_ok()) {
        panic!(
            "{host}:{port} did not come up within {START_TIMEOUT:?}:\n{}",
            diagnostics()
        );
    }
}

/// Waits until nothing listens on `host:port` any more, so that a server can
/// bind it again.
fn wait_port_free(host: &str, port: u16) {
    let deadline = Instant::now() + STOP_TIMEOUT;
    while TcpListener::bind((host, port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{host}:{port} still in use {STOP_TIMEOUT:?} after the server stopped"
        );
        sleep(POLL);
    }
}

/// Sends SIGTERM and waits; SIGKILL if the child has not exited after
/// `STOP_TIMEOUT`.
fn terminate(child: &mut Child) {
    if child.try_wait().unwrap().is_none() {
        // std can only send SIGKILL, which would leave dovecot's own children
        // running. The servers run in their own process group (pgid = pid), and
        // procps kill signals the whole group.
        let status = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", child.id())])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {} failed", child.id());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                break;
            }
            sleep(POLL);
        }
    }
    child.wait().unwrap();
    // Whatever of the group outlived its leader (connection processes).
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
}

/// A short temporary directory in /tmp: dovecot's UNIX socket paths inside
/// it must fit in the 108 bytes of `sun_path`.
fn short_tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap()
}

/// Makes `dir/cert.pem` and `dir/key.pem`: a self-signed P-256 certificate
/// valid for two days for `localhost`, `127.0.0.1` and `127.0.0.2`, which is
/// its own trust anchor. Returns (certificate, key).
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key, config) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("openssl.cnf"),
    );
    // CA:FALSE because rustls (webpki) rejects a leaf certificate marked as a
    // CA (CaUsedAsEndEntity), while OpenSSL and rustls both accept a
    // self-signed leaf given as the trust anchor. A config file of our own
    // rather than -addext: the system openssl.cnf would add CA:TRUE.
    fs::write(
        &config,
        "[req]\n\
         distinguished_name = dn\n\
         x509_extensions = leaf\n\
         prompt = no\n\
         [dn]\n\
         CN = localhost\n\
         [leaf]\n\
         basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid:always\n\
         subjectAltName = DNS:localhost, IP:127.0.0.1, IP:127.0.0.2\n",
    )
    .unwrap();
    let out = Command::new("openssl")
        .args(["req", "-x509", "-config"])
        .arg(&config)
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-nodes", "-days", "2", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl CLI is installed (make test installs it)");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// 32 hex digits, different in every call.
fn random_secret() -> String {
    let mut secret = String::new();
    for _ in 0..2 {
        let mut h = std::hash::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        h.write_u32(std::process::id());
        write!(secret, "{:016x}", h.finish()).unwrap();
    }
    secret
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, contents: &[u8]) {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap()
        .write_all(contents)
        .unwrap();
}

fn read_lossy(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("({e})"),
    }
}

/// Opens `path` for a child's stdout or stderr, appending across restarts.
fn log_file(path: &Path) -> fs::File {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// Runs a Python script from Debian's interpreter, isolated from PYTHON*
/// variables and user site-packages; on failure panics with its stderr and
/// `diagnostics()` (the server's log).
fn run_python(
    script: &str,
    args: &[&str],
    stdin: &[u8],
    diagnostics: &dyn Fn() -> String,
) -> Vec<u8> {
    let mut child = Command::new(PYTHON)
        .args(["-I", "-c", script])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 is installed (make test installs it)");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 {args:?} failed: {}\n--- server log\n{}",
        String::from_utf8_lossy(&out.stderr),
        diagnostics()
    );
    out.stdout
}

/// (uid, gid) of `name` in /etc/passwd.
fn passwd_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() != Some(&name) || fields.len() < 4 {
            return None;
        }
        Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
    })
}

fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().unwrap();
    assert!(out.status.success(), "id {flag} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Whether the plain IMAP server on `port` sends its `* OK` greeting.
fn imap_greets(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((HOST, port)) else {
        return false;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut greeting = [0; 4];
    stream.read_exact(&mut greeting).is_ok() && &greeting == b"* OK"
}

/// Whether a server failed to start because a port was taken: dovecot says
/// "Address already in use", Python "address already in use".
fn address_in_use(diagnostics: &str) -> bool {
    diagnostics
        .to_ascii_lowercase()
        .contains("address already in use")
}

// Shared by the imaplib helpers: argv is port, CA file, user, password file,
// folder; `quote` makes an IMAP quoted string of a folder name.
const IMAP_PRELUDE: &str = r#"
import imaplib, ssl, sys
port, cafile, user, password_file, folder = sys.argv[1:6]
with open(password_file) as f:
    password = f.read()
def quote(name):
    return '"' + name.replace('\\', '\\\\').replace('"', '\\"') + '"'
ctx = ssl.create_default_context(cafile=cafile)
m = imaplib.IMAP4_SSL('127.0.0.1', int(port), ssl_context=ctx, timeout=30)
m.login(user, password)
"#;

const IMAP_APPEND: &str = r#"
raw = sys.stdin.buffer.read()
if folder.upper() != 'INBOX':
    m.create(quote(folder))  # NO when it exists already: fine
typ, data = m.append(quote(folder), None, None, raw)
assert typ == 'OK', data
m.logout()
"#;

const IMAP_EXISTS: &str = r#"
typ, data = m.list('""', quote(folder))
sys.stdout.write('yes' if typ == 'OK' and data and data[0] is not None else 'no')
m.logout()
"#;

const IMAP_DELETE: &str = r#"
typ, data = m.delete(quote(folder))
assert typ == 'OK', data
m.logout()
"#;

// Writes each message as "<length>\n<bytes>".
const IMAP_MESSAGES: &str = r#"
typ, data = m.select(quote(folder), readonly=True)
if typ == 'OK' and int(data[0]) > 0:
    typ, data = m.fetch('1:*', '(BODY.PEEK[])')
    assert typ == 'OK', data
    for item in data:
        if isinstance(item, tuple):
            sys.stdout.buffer.write(b'%d\n' % len(item[1]) + item[1])
m.logout()
"#;

/// A Dovecot IMAP server in a temporary directory, stopped on drop.
///
/// It listens on three ports:
/// - [`imaps_port`](Self::imaps_port) on [`HOST`]: implicit TLS.
/// - [`starttls_port`](Self::starttls_port) on [`STARTTLS_HOST`]: plain
///   IMAP offering STARTTLS, with LOGIN and AUTHENTICATE refused
///   (`LOGINDISABLED`) until TLS is on.
/// - [`plain_port`](Self::plain_port) on [`HOST`]: no TLS needed, plaintext
///   login allowed (it still offers STARTTLS).
///
/// One user, [`user`](Self::user), with [`password`](Self::password)
/// (mechanisms PLAIN and LOGIN). Mail is kept in Maildir; the hierarchy
/// separator is `/`, with folders at the top level next to INBOX (so
/// `Archive/2024`, not `INBOX.Archive`). IDLE and MOVE are on, as by default.
pub struct Dovecot {
    dir: tempfile::TempDir,
    child: Option<Child>,
    imaps_port: u16,
    starttls_port: u16,
    plain_port: u16,
    user: String,
    password: String,
    /// Replaces the capabilities announced after login (`imap_capability`).
    capability: Option<&'static str>,
}

impl Dovecot {
    pub fn start() -> Dovecot {
        Dovecot::start_with(None)
    }

    /// A server that announces neither IDLE nor MOVE, so clients must poll and
    /// move messages with COPY, STORE \Deleted and UID EXPUNGE.
    pub fn start_without_idle() -> Dovecot {
        Dovecot::start_with(Some(
            "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS NAMESPACE",
        ))
    }

    fn start_with(capability: Option<&'static str>) -> Dovecot {
        let dir = short_tempdir("d");
        let (cert, key) = self_signed_cert(dir.path());
        let password = random_secret();
        write_private(&dir.path().join("password"), password.as_bytes());
        let user = "gateway".to_string();
        let mut server = Dovecot {
            dir,
            child: None,
            imaps_port: 0,
            starttls_port: 0,
            plain_port: 0,
            user,
            password,
            capability,
        };
        server.prepare();
        for attempt in 1.. {
            server.imaps_port = free_port(Ipv4Addr::LOCALHOST);
            server.starttls_port = free_port(STARTTLS_HOST.parse().unwrap());
            server.plain_port = free_port(Ipv4Addr::LOCALHOST);
            server.write_config(&cert, &key);
            match server.spawn() {
                Ok(()) => break,
                // Another process took a port between free_port and bind.
                Err(diagnostics) if attempt < 3 && address_in_use(&diagnostics) => {}
                Err(diagnostics) => panic!("dovecot did not start:\n{diagnostics}"),
            }
        }
        server
    }

    /// Port for implicit TLS (IMAPS) on [`HOST`].
    pub fn imaps_port(&self) -> u16 {
        self.imaps_port
    }

    /// Port for plain IMAP with STARTTLS required before login, on
    /// [`starttls_host`](Self::starttls_host).
    pub fn starttls_port(&self) -> u16 {
        self.starttls_port
    }

    /// `127.0.0.2`, not `127.0.0.1`: dovecot counts a connection whose local
    /// and remote addresses are equal as secure and then allows plaintext
    /// login without TLS (hard-coded in 2.3, `ssl = required` included). A
    /// client connecting to 127.0.0.2 comes from 127.0.0.1, so this port
    /// really requires STARTTLS. The certificate covers 127.0.0.2.
    pub fn starttls_host(&self) -> &'static str {
        STARTTLS_HOST
    }

    /// Port without TLS on [`HOST`] where plaintext login is allowed (for the
    /// same reason that the STARTTLS port is on another address).
    pub fn plain_port(&self) -> u16 {
        self.plain_port
    }

    /// The server's certificate (PEM), which clients should trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// A file holding just the password (no newline), mode 0600.
    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }

    /// The temporary directory (config, logs, mail).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        read_lossy(&self.dir.path().join("dovecot.log"))
    }

    /// Appends `raw` to `folder` (created if missing) with Python's imaplib
    /// over implicit TLS. imaplib turns bare LF line ends into CRLF, as IMAP
    /// requires. Folder names are ASCII (no modified UTF-7 here).
    pub fn append(&self, folder: &str, raw: &[u8]) {
        self.imap(IMAP_APPEND, folder, raw);
    }

    /// Whether `folder` exists.
    pub fn folder_exists(&self, folder: &str) -> bool {
        self.imap(IMAP_EXISTS, folder, b"") == b"yes"
    }

    /// Deletes `folder` and the messages in it.
    pub fn delete_folder(&self, folder: &str) {
        self.imap(IMAP_DELETE, folder, b"");
    }

    /// Every message now in `folder`, oldest first; empty if the folder does
    /// not exist. Read with Python's imaplib without setting \Seen.
    pub fn messages(&self, folder: &str) -> Vec<Vec<u8>> {
        let out = self.imap(IMAP_MESSAGES, folder, b"");
        let mut messages = Vec::new();
        let mut rest = out.as_slice();
        while !rest.is_empty() {
            let newline = rest.iter().position(|&b| b == b'\n').unwrap();
            let len: usize = std::str::from_utf8(&rest[..newline])
                .unwrap()
                .parse()
                .unwrap();
            rest = &rest[newline + 1..];
            messages.push(rest[..len].to_vec());
            rest = &rest[len..];
        }
        messages
    }

    fn imap(&self, body: &str, folder: &str, stdin: &[u8]) -> Vec<u8> {
        let script = format!("{IMAP_PRELUDE}{body}");
        let (port, ca, password_file) = (
            self.imaps_port.to_string(),
            self.ca_file(),
            self.password_file(),
        );
        run_python(
            &script,
            &[
                &port,
                ca.to_str().unwrap(),
                &self.user,
                password_file.to_str().unwrap(),
                folder,
            ],
            stdin,
            &|| self.log(),
        )
    }

    /// Stops the server and starts it again on the same ports and mail.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(diagnostics) = self.spawn() {
            panic!("dovecot did not restart:\n{diagnostics}");
        }
    }

    /// Stops the server (SIGTERM) and waits until its ports are free. Does
    /// nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
            wait_port_free(HOST, self.imaps_port);
            wait_port_free(STARTTLS_HOST, self.starttls_port);
            wait_port_free(HOST, self.plain_port);
        }
    }

    /// Writes the passdb, and makes the directory for mail owned by the user
    /// that dovecot runs mail processes as.
    fn prepare(&self) {
        let dir = self.dir.path();
        write_private(
            &dir.join("users"),
            format!("{}:{{PLAIN}}{}\n", self.user, self.password).as_bytes(),
        );
        let home = dir.join("home");
        fs::create_dir(&home).unwrap();
        if self.running_as_root() {
            // Mail processes run as nobody (see write_config), so they must be
            // able to reach and own the homes. Traversal only: the password
            // file and key stay private.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o711)).unwrap();
            let (uid, gid) = passwd_ids("nobody").expect("user nobody exists");
            std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
        }
    }

    fn running_as_root(&self) -> bool {
        fs::metadata(self.dir.path()).unwrap().uid() == 0
    }

    fn write_config(&self, cert: &Path, key: &Path) {
        let dir = self.dir.path().display();
        let users = if self.running_as_root() {
            // As root, dovecot refuses to run imap-login as root ("This process
            // must not be run as root") and mail processes as uid 0 ("userdb
            // returned 0 as uid"). The login processes get dovenull (made by
            // the Debian package) or nobody; mail runs as nobody; the internal
            // services stay root, so nothing depends on the dovecot user.
            let login = if passwd_ids("dovenull").is_some() {
                "dovenull"
            } else {
                "nobody"
            };
            let (uid, gid) = passwd_ids("nobody").expect("user nobody exists");
            format!(
                "default_login_user = {login}\n\
                 default_internal_user = root\n\
                 default_internal_group = root\n\
                 mail_uid = {uid}\n\
                 mail_gid = {gid}\n"
            )
        } else {
            // As anyone else, every process runs as us: dovecot can neither
            // switch users nor chroot, so it must not try to.
            let meta = fs::metadata(self.dir.path()).unwrap();
            let mut users = format!(
                "default_login_user = {user}\n\
                 default_internal_user = {user}\n\
                 default_internal_group = {group}\n\
                 mail_uid = {uid}\n\
                 mail_gid = {gid}\n",
                user = id("-un"),
                group = id("-gn"),
                uid = meta.uid(),
                gid = meta.gid(),
            );
            for service in [
                "aggregator",
                "anvil",
                "director",
                "imap-login",
                "imap-urlauth-login",
                "ipc",
                "old-stats",
            ] {
                writeln!(users, "service {service} {{\n  chroot =\n}}").unwrap();
            }
            users
        };
        let capability = match self.capability {
            Some(caps) => format!("  imap_capability = {caps}\n"),
            None => String::new(),
        };
        let config = format!(
            "# Written by tests/integration/servers.rs.\n\
             protocols = imap\n\
             listen = {HOST}\n\
             base_dir = {dir}/run\n\
             state_dir = {dir}/state\n\
             instance_name = test-{dir_name}\n\
             log_path = {dir}/dovecot.log\n\
             auth_verbose = yes\n\
             {users}\
             first_valid_uid = 1\n\
             ssl = yes\n\
             ssl_cert = <{cert}\n\
             ssl_key = <{key}\n\
             disable_plaintext_auth = yes\n\
             auth_mechanisms = plain login\n\
             passdb {{\n\
             \x20 driver = passwd-file\n\
             \x20 args = scheme=PLAIN username_format=%u {dir}/users\n\
             }}\n\
             userdb {{\n\
             \x20 driver = static\n\
             \x20 args = home={dir}/home/%u\n\
             }}\n\
             mail_location = maildir:~/Maildir\n\
             namespace inbox {{\n\
             \x20 inbox = yes\n\
             \x20 separator = /\n\
             }}\n\
             protocol imap {{\n\
             \x20 # The gateway's connections and the tests' own, all from one IP.\n\
             \x20 mail_max_userip_connections = 100\n\
             {capability}\
             }}\n\
             service imap-login {{\n\
             \x20 inet_listener imaps {{\n\
             \x20   address = {HOST}\n\
             \x20   port = {imaps}\n\
             \x20   ssl = yes\n\
             \x20 }}\n\
             \x20 inet_listener imap {{\n\
             \x20   address = {STARTTLS_HOST}\n\
             \x20   port = {starttls}\n\
             \x20 }}\n\
             \x20 inet_listener imap_plain {{\n\
             \x20   address = {HOST}\n\
             \x20   port = {plain}\n\
             \x20 }}\n\
             }}\n",
            dir_name = self.dir.path().file_name().unwrap().to_str().unwrap(),
            cert = cert.display(),
            key = key.display(),
            imaps = self.imaps_port,
            starttls = self.starttls_port,
            plain = self.plain_port,
        );
        fs::write(self.dir.path().join("dovecot.conf"), config).unwrap();
    }

    /// Starts dovecot and waits for its ports; on failure returns its logs.
    fn spawn(&mut self) -> Result<(), String> {
        let dir = self.dir.path().to_path_buf();
        let mut child = Command::new(DOVECOT)
            // Its own process group, so stopping it also ends the imap processes
            // that serve open connections: a restart must drop clients.
            .process_group(0)
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(log_file(&dir.join("dovecot.out")))
            .stderr(log_file(&dir.join("dovecot.out")))
            .spawn()
            .expect("dovecot is installed (make test installs dovecot-imapd)");
        let diagnostics = || {
            format!(
                "--- dovecot.out\n{}\n--- dovecot.log\n{}",
                read_lossy(&dir.join("dovecot.out")),
                read_lossy(&dir.join("dovecot.log"))
            )
        };
        let ports = [
            (HOST, self.imaps_port),
            (STARTTLS_HOST, self.starttls_port),
            (HOST, self.plain_port),
        ];
        let plain_port = self.plain_port;
        // The master accepts connections as soon as it listens, even when
        // imap-login then fails; a greeting shows that logins can work.
        let up = poll_ready(&mut child, || {
            ports
                .iter()
                .all(|&(host, port)| TcpStream::connect((host, port)).is_ok())
                && imap_greets(plain_port)
        });
        if up {
            self.child = Some(child);
            Ok(())
        } else {
            terminate(&mut child);
            Err(diagnostics())
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }
}

/// What [`SmtpServer`] answers to the next DATA commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpMode {
    /// 250, and the message is saved.
    Accept,
    /// `451 4.3.0 try again later`.
    TempFail,
    /// `550 5.1.1 no such user`.
    PermFail,
}

/// The aiosmtpd server of `tests/servers/smtp_server.py` on [`HOST`], in a
/// temporary directory, stopped on drop. It offers STARTTLS, and requires
/// AUTH (PLAIN or LOGIN), which it offers only after STARTTLS.
pub struct SmtpServer {
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    user: String,
    password: String,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let dir = short_tempdir("s");
        self_signed_cert(dir.path());
        fs::write(dir.path().join("smtp_server.py"), SMTP_SERVER_PY).unwrap();
        fs::create_dir(dir.path().join("out")).unwrap();
        let password = random_secret();
        write_private(&dir.path().join("password"), password.as_bytes());
        let mut server = SmtpServer {
            dir,
            child: None,
            port: 0,
            user: "gateway".to_string(),
            password,
        };
        for attempt in 1.. {
            server.port = free_port(Ipv4Addr::LOCALHOST);
            match server.spawn() {
                Ok(()) => break,
                Err(diagnostics) if attempt < 3 && address_in_use(&diagnostics) => {}
                Err(diagnostics) => panic!("the SMTP server did not start:\n{diagnostics}"),
            }
        }
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's certificate (PEM), which clients should trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// A file holding just the password (no newline), mode 0600.
    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }

    /// The server's stderr so far, across restarts.
    pub fn log(&self) -> String {
        read_lossy(&self.dir.path().join("smtp.log"))
    }

    /// Where accepted messages are written (`<n>.eml`, `<n>.json`); a file's
    /// modification time is when the server accepted the message.
    pub fn out_dir(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Sets the answer to the DATA of the following transactions; the
    /// server reads it afresh at each one.
    pub fn set_mode(&self, mode: SmtpMode) {
        let word = match mode {
            SmtpMode::Accept => "accept",
            SmtpMode::TempFail => "tempfail",
            SmtpMode::PermFail => "permfail",
        };
        let out = self.dir.path().join("out");
        fs::write(out.join(".mode.tmp"), word).unwrap();
        fs::rename(out.join(".mode.tmp"), out.join("mode")).unwrap();
    }

    /// Accepted messages, oldest first: (envelope recipients, DATA bytes as
    /// received, after dot-unstuffing).
    pub fn messages(&self) -> Vec<(Vec<String>, Vec<u8>)> {
        let out = self.dir.path().join("out");
        self.accepted()
            .into_iter()
            .map(|n| {
                // The server writes the .json before the .eml.
                let json = fs::read_to_string(out.join(format!("{n}.json"))).unwrap();
                let raw = fs::read(out.join(format!("{n}.eml"))).unwrap();
                (json_rcpt_tos(&json), raw)
            })
            .collect()
    }

    /// The envelope sender (`MAIL FROM`, `<>` for the null return path) and
    /// recipients of each accepted message, oldest first.
    pub fn envelopes(&self) -> Vec<(String, Vec<String>)> {
        let out = self.dir.path().join("out");
        self.accepted()
            .into_iter()
            .map(|n| {
                let json = fs::read_to_string(out.join(format!("{n}.json"))).unwrap();
                let v: serde_json::Value = serde_json::from_str(&json).unwrap();
                (
                    v["mail_from"].as_str().unwrap_or_default().to_string(),
                    json_rcpt_tos(&json),
                )
            })
            .collect()
    }

    /// The numbers of the accepted messages (`<n>.eml` in `out/`), oldest first.
    fn accepted(&self) -> Vec<u64> {
        let mut numbers: Vec<u64> = fs::read_dir(self.dir.path().join("out"))
            .unwrap()
            .filter_map(|entry| {
                let name = entry.unwrap().file_name().into_string().ok()?;
                name.strip_suffix(".eml")?.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        numbers
    }

    /// Stops the server and starts it again on the same port and output.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(diagnostics) = self.spawn() {
            panic!("the SMTP server did not restart:\n{diagnostics}");
        }
    }

    /// Stops the server (SIGTERM) and waits until its port is free. Does
    /// nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
            wait_port_free(HOST, self.port);
        }
    }

    /// Starts the server and waits for its READY; on failure returns its log.
    fn spawn(&mut self) -> Result<(), String> {
        let dir = self.dir.path().to_path_buf();
        let log = dir.join("smtp.log");
        // Truncated at each start so that READY means this run's.
        let stdout = dir.join("smtp.stdout");
        let mut child = Command::new(PYTHON)
            .process_group(0)
            .args(["-I", "-u"])
            .arg(dir.join("smtp_server.py"))
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--cert")
            .arg(dir.join("cert.pem"))
            .arg("--key")
            .arg(dir.join("key.pem"))
            .arg("--outdir")
            .arg(dir.join("out"))
            .arg("--user")
            .arg(&self.user)
            .arg("--password-file")
            .arg(dir.join("password"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(log_file(&log))
            .spawn()
            .expect("/usr/bin/python3 is installed (make test installs it)");
        if poll_ready(&mut child, || {
            read_lossy(&stdout).lines().any(|l| l == "READY")
        }) {
            self.child = Some(child);
            Ok(())
        } else {
            terminate(&mut child);
            Err(format!(
                "--- stdout\n{}\n--- stderr\n{}",
                read_lossy(&stdout),
                read_lossy(&log)
            ))
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }
}

/// The `rcpt_tos` list of a sidecar written by smtp_server.py with Python's
/// `json.dumps` (default separators, ASCII). A plain search finds it: inside
/// a JSON string, the quote after `rcpt_tos` would be escaped.
fn json_rcpt_tos(json: &str) -> Vec<String> {
    let start = json
        .find("\"rcpt_tos\": [")
        .unwrap_or_else(|| panic!("no rcpt_tos in {json}"))
        + "\"rcpt_tos\": [".len();
    let mut chars = json[start..].chars();
    let mut list = Vec::new();
    loop {
        match chars.next() {
            Some(']') => return list,
            Some(',' | ' ') => {}
            Some('"') => list.push(json_string_rest(&mut chars)),
            other => panic!("unexpected {other:?} in rcpt_tos of {json}"),
        }
    }
}

/// Reads a JSON string after its opening quote, through its closing quote.
fn json_string_rest(chars: &mut impl Iterator<Item = char>) -> String {
    let mut units: Vec<u16> = Vec::new();
    loop {
        let c = chars.next().expect("unterminated JSON string");
        match c {
            '"' => return char::decode_utf16(units).map(Result::unwrap).collect(),
            '\\' => {
                let escaped = match chars.next().unwrap() {
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        units.push(u16::from_str_radix(&hex, 16).unwrap());
                        continue;
                    }
                    other => other,
                };
                units.extend(escaped.encode_utf16(&mut [0; 2]).iter());
            }
            _ => units.extend(c.encode_utf16(&mut [0; 2]).iter()),
        }
    }
}
