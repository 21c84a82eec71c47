//! Operator tooling: `backup` (a store command: it runs wherever the store is open,
//! the daemon or this process; `status` is in [`super::status`]), `doctor` and
//! `restore` (run here only: `doctor` must work beside a running daemon, `restore`
//! must not run beside one).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::Out;
use crate::config::{Inbox, Outbox, Secret, Settings};
use crate::crypto::{Keyring, Team};
use crate::daemon::control;
use crate::outbox::Transport;
use crate::pipeline::{Pipeline, PipelineError};

/// How long `doctor` waits for the IMAP server (connect, TLS, login, select).
const IMAP_TIMEOUT: Duration = Duration::from_secs(20);

/// `backup FILE|-`: the encrypted backup (see [`super::backup`]), written to
/// `FILE.tmp`, synced, then renamed, so FILE is always a complete backup; `-` sends it
/// to standard output. In the daemon, FILE arrives absolute (the client resolved it
/// against its own directory).
pub(super) fn backup(
    p: &Pipeline,
    file: &Path,
    to: Option<&str>,
    out: &mut Out,
) -> anyhow::Result<u8> {
    if file.as_os_str() == "-" {
        let mut armored = Vec::new();
        let done = super::backup::write(p, to, &mut armored)?;
        out.stdout = String::from_utf8(armored).context("the armored backup is not text")?;
        writeln!(out.stderr, "{}", backup_line("standard output", &done))?;
        return Ok(0);
    }
    let file = &std::path::absolute(file)?;
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = write_backup(p, to, file, &tmp);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let done = result?;
    writeln!(
        out.stdout,
        "{}",
        backup_line(&file.display().to_string(), &done)
    )?;
    Ok(0)
}

fn backup_line(to: &str, done: &super::backup::Summary) -> String {
    format!(
        "Backup written to {to}: {} reports, {} entries in {} trees, {} key files (encrypted); reports sealed, with the key pool of their wrapped data keys ({} slots). The store key is not in it: a restore needs it, keep a copy apart from the backups",
        done.store.reports,
        done.store.entries,
        done.store.trees,
        done.key_files,
        done.store.data_keys
    )
}

fn write_backup(
    p: &Pipeline,
    to: Option<&str>,
    file: &Path,
    tmp: &Path,
) -> anyhow::Result<super::backup::Summary> {
    use std::os::unix::fs::OpenOptionsExt;
    // An old .tmp may have another mode; a new file gets 0600 (reports are secret).
    match std::fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| tmp.display().to_string()),
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = std::io::BufWriter::new(f);
    let done = super::backup::write(p, to, &mut w)?;
    let f = w
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| tmp.display().to_string())?;
    f.sync_all().with_context(|| tmp.display().to_string())?;
    std::fs::rename(tmp, file).with_context(|| format!("cannot rename to {}", file.display()))?;
    if let Some(dir) = file.parent() {
        // The rename is durable once the directory is.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| dir.display().to_string())?;
    }
    Ok(done)
}

/// Asks a running daemon for its status: `Ok(None)` when none listens.
fn daemon_status(settings: &Settings) -> std::io::Result<Option<control::Response>> {
    let request = control::Request {
        argv: vec!["status".into(), "--json".into()],
        actor: "cli:doctor".into(),
        file: None,
        peer_uid: None,
        frames: false,
    };
    control::send(&control::socket_path(&settings.store.path), &request)
}

/// `restore FILE`: a new store at store.path from a backup, when no daemon runs.
pub(super) fn restore(
    settings: &Settings,
    file: &Path,
    options: &super::backup::RestoreOptions<'_>,
) -> anyhow::Result<ExitCode> {
    let socket = control::socket_path(&settings.store.path);
    match daemon_status(settings) {
        Ok(None) => {}
        Ok(Some(_)) => bail!(
            "the daemon is running (its control socket {} answers): stop it, move its store away, then restore",
            socket.display()
        ),
        Err(e) => bail!(
            "cannot tell whether a daemon runs ({}: {e}): refusing to restore",
            socket.display()
        ),
    }
    let input: Box<dyn std::io::Read + Send + Sync> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
        )
    };
    let shown = if file.as_os_str() == "-" {
        "standard input".to_string()
    } else {
        file.display().to_string()
    };
    let path = &settings.store.path;
    let (done, keys) = super::backup::restore(settings, input, options)
        .with_context(|| format!("restoring {shown} into {}", path.display()))?;
    let kinds = |list: &[(super::backup::KeyKind, usize)]| {
        list.iter()
            .map(|(k, n)| format!("{n} {}", k.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let installed: usize = done.installed.iter().map(|(_, n)| n).sum();
    println!(
        "Restored {shown} into {}: {} reports, {} entries in {} trees; {installed} of its {} key files installed into {}{}",
        path.display(),
        done.store.reports,
        done.store.entries,
        done.store.trees,
        done.key_files,
        keys.display(),
        if installed > 0 {
            format!(" ({})", kinds(&done.installed))
        } else {
            String::new()
        }
    );
    if !done.left.is_empty() {
        let names: Vec<&str> = done.left.iter().map(|(k, _)| k.name()).collect();
        println!(
            "Not installed: {} key files ({}); to install them, restore again into an empty \
             store.path with --install-keys {}",
            done.left.iter().map(|(_, n)| n).sum::<usize>(),
            kinds(&done.left),
            names.join(",")
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    /// Worth knowing, not a failure (e.g. no key yet: `serve` generates one).
    Warn,
    Fail,
}

struct Check {
    verdict: Verdict,
    name: &'static str,
    detail: String,
    /// What to do, on a warning or failure.
    fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            verdict: Verdict::Ok,
            name,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: &'static str, detail: impl std::fmt::Display, fix: impl Into<String>) -> Check {
        Check {
            verdict: Verdict::Fail,
            name,
            detail: detail.to_string(),
            fix: Some(fix.into()),
        }
    }
}

/// The checks made so far: each line is printed as soon as its check finished, so a
/// check that waits (a daemon that does not answer, a slow IMAP server) shows where.
struct Checks {
    failed: bool,
}

impl Checks {
    fn push(&mut self, c: Check) {
        let tag = match c.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        self.failed |= c.verdict == Verdict::Fail;
        let fix = c
            .fix
            .as_deref()
            .map_or(String::new(), |f| format!(" -> {f}"));
        let mut stdout = std::io::stdout().lock();
        // A closed standard output (doctor | head) is no reason to stop checking.
        let _ = writeln!(stdout, "{tag} {:<12} {}{fix}", c.name, c.detail);
        let _ = stdout.flush();
    }

    fn extend(&mut self, c: impl IntoIterator<Item = Check>) {
        for c in c {
            self.push(c);
        }
    }
}

/// `doctor`: every check that can be made without disturbing a running daemon. Errors
/// are shown as the library words them; no secret is ever read into a message.
pub(super) fn doctor(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut checks = Checks { failed: false };
    match Settings::load(config) {
        Ok(settings) => {
            checks.push(Check::ok(
                "config",
                settings.source.as_ref().map_or_else(
                    || "built-in defaults".to_string(),
                    |p| format!("{} loads", p.display()),
                ),
            ));
            doctor_checks(&settings, &mut checks);
        }
        Err(e) => checks.push(Check::fail(
            "config",
            format!("{e:#}"),
            "fix the configuration file (see docs/operators.md, Configuration)",
        )),
    }
    if checks.failed {
        println!("Some checks failed.");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn doctor_checks(settings: &Settings, checks: &mut Checks) {
    // Keys: the permission check on secret key files is part of loading them.
    let keys_dir = settings.keys.dir.display();
    match Keyring::load_locked(&settings.keys) {
        Ok(ring) => {
            checks.push(Check::ok(
                "keys",
                format!(
                    "{} gateway key(s) in {keys_dir}, {} reporter key(s)",
                    ring.gateway_keys().len(),
                    ring.reporters().len()
                ),
            ));
            match ring.signing_cert() {
                Some(c) => checks.push(Check::ok("signing key", c.fingerprint().to_string())),
                None if ring.is_empty() => checks.push(Check {
                    verdict: Verdict::Warn,
                    name: "signing key",
                    detail: format!("no gateway key in {keys_dir}"),
                    fix: Some(
                        "`disclosured serve` generates one at first start, or run `disclosured keys generate`"
                            .into(),
                    ),
                }),
                None => checks.push(Check::fail(
                    "signing key",
                    format!("no gateway key in {keys_dir} can sign"),
                    "run `disclosured keys rotate`",
                )),
            }
        }
        Err(e) => {
            // The error names the file and, for a loose mode, the chmod; only who to
            // run as is added, never a chown the user could not run.
            let e = anyhow::Error::from(e);
            let fix = run_as_hint(settings, &e)
                .unwrap_or_else(|| "see keys.dir in docs/operators.md".into());
            checks.push(Check::fail("keys", format!("{e:#}"), fix));
        }
    }
    if let Some(secret) = &settings.keys.passphrase {
        checks.push(secret_check("passphrase", secret, || {
            // Readable: try it on the keys too.
            Keyring::load(&settings.keys).map(|_| ())
        }));
    }
    match Team::load(&settings.maintainers) {
        Ok(team) => checks.push(Check::ok(
            "maintainers",
            format!("{} maintainer key(s) load", team.members().len()),
        )),
        Err(e) => checks.push(Check::fail(
            "maintainers",
            e,
            "fix the maintainer's key file named",
        )),
    }
    let ring = Keyring::load_locked(&settings.keys).ok();
    let problems = setup_problems(settings, ring.as_ref());
    if problems.is_empty() {
        checks.push(Check::ok(
            "addresses",
            format!(
                "{}{}; {} maintainer(s)",
                settings.gateway.address,
                if ring.as_ref().is_some_and(|r| !r.gateway_keys().is_empty()) {
                    " is on a gateway key"
                } else {
                    " (no gateway key yet)"
                },
                settings.maintainers.len()
            ),
        ));
    }
    for p in problems {
        checks.push(Check::fail(
            "setup",
            format!("{}: {}", p.setting, p.what),
            p.fix,
        ));
    }
    checks.extend(store_check(settings));
    checks.extend(socket_check(settings));
    match &settings.inbox {
        Inbox::Maildir { path, .. } => checks.push(maildir_check(path)),
        Inbox::Imap(imap) => checks.push(imap_check(imap)),
    }
    checks.push(outbox_check(settings));
    checks.extend(delivery_check(settings));
    if let Some((verdict, detail, fix)) = super::publish::doctor_check(settings, ring.as_ref()) {
        checks.push(Check {
            verdict: if verdict { Verdict::Ok } else { Verdict::Warn },
            name: "published",
            detail,
            fix,
        });
    }
}

/// The Maildir inbox, looked at and never created (the daemon creates it).
fn maildir_check(path: &Path) -> Check {
    let missing: Vec<&str> = ["new", "cur", "tmp"]
        .into_iter()
        .filter(|sub| !path.join(sub).is_dir())
        .collect();
    if missing.is_empty() {
        Check::ok("inbox", format!("Maildir {}", path.display()))
    } else {
        Check {
            verdict: Verdict::Warn,
            name: "inbox",
            detail: format!(
                "Maildir {} has no {} yet",
                path.display(),
                missing.join("/, ") + "/"
            ),
            fix: Some(
                "`disclosured serve` creates it; mail must be delivered there, by the daemon's user or readable by it"
                    .into(),
            ),
        }
    }
}

/// A secret file or credential: present and private, without showing it.
fn secret_check<E: std::fmt::Display>(
    name: &'static str,
    secret: &Secret,
    then: impl FnOnce() -> Result<(), E>,
) -> Check {
    if let Secret::Credential(_) = secret
        && crate::config::credentials_directory().is_none()
    {
        return Check {
            verdict: Verdict::Warn,
            name,
            detail: format!("{secret}: no credentials directory readable here; not checked"),
            fix: Some(format!(
                "run doctor as root, or give the directory with --credentials DIR (installed: {})",
                crate::config::INSTALLED_CREDENTIALS
            )),
        };
    }
    match secret.read() {
        Ok(_) => match then() {
            Ok(()) => Check::ok(name, format!("{secret} is readable and works")),
            Err(e) => Check::fail(name, e, format!("check the secret in {secret}")),
        },
        Err(e) => Check::fail(name, e, format!("fix {secret}")),
    }
}

/// The running daemon's pid, from the store's lock, for messages: " (pid N)".
fn daemon_pid(settings: &Settings) -> String {
    match crate::store::holder(&settings.store.path) {
        Some(crate::store::Holder::Process(pid)) => format!(" (pid {pid})"),
        _ => String::new(),
    }
}

/// `check-config`'s line about the store: asked through the daemon when it runs,
/// opened here otherwise; never created.
pub(super) fn store_summary(settings: &Settings) -> anyhow::Result<String> {
    let path = settings.store.path.display();
    if let Ok(Some(r)) = daemon_status(settings)
        && r.code == 0
    {
        let n = serde_json::from_str::<serde_json::Value>(&r.stdout)
            .ok()
            .and_then(|v| v.get("reports").and_then(serde_json::Value::as_u64));
        return Ok(format!(
            "{path}: in use by the running daemon{}, {} reports (asked through its control socket)",
            daemon_pid(settings),
            n.map_or("?".into(), |n| n.to_string())
        ));
    }
    match crate::pipeline::store_key::open_existing(&settings.store) {
        Ok(store) => Ok(format!("{path} ({} reports)", store.report_count()?)),
        Err(PipelineError::Store(crate::store::StoreError::Missing { path })) => Ok(format!(
            "none yet at {path}: `disclosured serve` creates it at first start"
        )),
        Err(e) => Err(super::explain_locked(
            e.into(),
            &control::socket_path(&settings.store.path),
        )),
    }
}

fn store_check(settings: &Settings) -> Vec<Check> {
    let path = settings.store.path.display();
    match daemon_status(settings) {
        Ok(Some(r)) if r.code == 0 => {
            let status = serde_json::from_str::<serde_json::Value>(&r.stdout).ok();
            let n = status
                .as_ref()
                .and_then(|v| v.get("reports").and_then(serde_json::Value::as_u64));
            let mut checks = vec![Check::ok(
                "store",
                format!(
                    "{path} is in use by the running daemon{} ({} reports)",
                    daemon_pid(settings),
                    n.map_or("?".into(), |n| n.to_string())
                ),
            )];
            checks.extend(stall_check(status.as_ref()));
            checks.extend(
                status
                    .as_ref()
                    .and_then(|v| v.get("retention"))
                    .and_then(|v| {
                        serde_json::from_value::<super::status::Retention>(v.clone()).ok()
                    })
                    .map(|r| Check::ok("retention", r.summary())),
            );
            return checks;
        }
        Ok(Some(r)) => {
            return vec![Check::fail(
                "store",
                format!("the daemon answered: {}", r.stderr.trim()),
                "look at the daemon's log (journalctl -u disclosured)",
            )];
        }
        Ok(None) => {}
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            return vec![Check::fail(
                "daemon",
                super::unanswered(settings, &e),
                "if it was stopped, `kill -CONT` it; if it hangs, `systemctl restart disclosured`",
            )];
        }
        Err(e) => {
            return vec![Check::fail(
                "store",
                format!("control socket: {e}"),
                "run doctor as the daemon's user",
            )];
        }
    }
    store_opens(settings)
}

/// What the running daemon has had in hand longer than the stall limit, from its
/// `status --json`: a FAIL line naming each.
fn stall_check(status: Option<&serde_json::Value>) -> Option<Check> {
    let stalled = status?.get("stalled")?.as_array()?;
    let limit = status?
        .get("stall_limit_s")
        .and_then(serde_json::Value::as_u64);
    if stalled.is_empty() {
        return Some(Check::ok(
            "in hand",
            format!(
                "nothing in hand longer than the stall limit ({} s)",
                limit.unwrap_or_default()
            ),
        ));
    }
    let named: Vec<String> = stalled
        .iter()
        .map(|o| {
            let field = |k: &str| {
                o.get(k)
                    .map(|v| v.to_string().trim_matches('"').to_string())
            };
            format!(
                "{} {} in hand for {} s",
                field("kind").unwrap_or_default(),
                field("name").unwrap_or_default(),
                field("seconds").unwrap_or_default()
            )
        })
        .collect();
    Some(Check::fail(
        "in hand",
        format!(
            "the daemon is stalled: {} (stall limit {} s)",
            named.join(", "),
            limit.unwrap_or_default()
        ),
        "look at journalctl -u disclosured; under systemd the watchdog restarts it, and a message or job that stalls it twice is set aside",
    ))
}

/// The store opened here, when no daemon runs, and what retention purges next.
fn store_opens(settings: &Settings) -> Vec<Check> {
    let path = settings.store.path.display();
    // Opened, never created: a check must not make state (issue 18).
    let opened = crate::pipeline::store_key::open_existing(&settings.store).and_then(|s| {
        let n = s.report_count()?;
        let retention = super::status::Retention::of(&s, &settings.retention)?;
        Ok((n, retention))
    });
    vec![match opened {
        Ok((n, retention)) => {
            return vec![
                Check::ok(
                    "store",
                    format!(
                        "{path} opens ({n} reports, sealed with the store key from the {})",
                        crate::pipeline::store_key::place(&settings.store.key)
                    ),
                ),
                Check::ok("retention", retention.summary()),
            ];
        }
        Err(PipelineError::Store(crate::store::StoreError::Missing { path })) => Check {
            verdict: Verdict::Warn,
            name: "store",
            detail: format!("no store at {path}"),
            fix: Some(
                "`disclosured serve` creates it at first start; if one exists, check store.path (relative paths resolve against the working directory)"
                    .into(),
            ),
        },
        Err(PipelineError::Store(e @ crate::store::StoreError::Locked { .. })) => Check::fail(
            "store",
            e,
            "the daemon holds the store but its control socket does not answer: look at its log (journalctl -u disclosured)",
        ),
        Err(e) => {
            let e = anyhow::Error::from(e);
            match run_as_hint(settings, &e) {
                Some(hint) => Check::fail("store", format!("{e:#}"), hint),
                None => Check::fail("store", format!("{e:#}"), "restore it from a backup"),
            }
        }
    }]
}

/// Where the control socket is, when its path needs a detour (issue 18: a long
/// store.path locked out the store commands).
fn socket_check(settings: &Settings) -> Option<Check> {
    let socket = control::socket_path(&settings.store.path);
    control::socket_detour(&socket).map(|why| Check {
        verdict: Verdict::Ok,
        name: "socket",
        detail: format!("control socket {}: {why}", socket.display()),
        fix: None,
    })
}

/// A file outbox with an IMAP inbox is a production inbox whose answers go nowhere
/// (issue 18): a warning, since a test setup may want exactly that.
fn delivery_check(settings: &Settings) -> Option<Check> {
    match (&settings.inbox, &settings.outbox) {
        (Inbox::Imap(_), Outbox::File { path }) => Some(Check {
            verdict: Verdict::Warn,
            name: "delivery",
            detail: format!(
                "the inbox is IMAP but outgoing mail is only written to files in {}: no reporter gets an acknowledgement",
                path.display()
            ),
            fix: Some("set [outbox] kind = \"smtp\" (or \"sendmail\") for production".into()),
        }),
        _ => None,
    }
}

fn imap_check(imap: &crate::config::ImapSettings) -> Check {
    let name = "imap";
    let at = format!("{}@{}:{}", imap.username, imap.host, imap.port);
    let inbox = match crate::source::imap::ImapInbox::new(imap.clone()) {
        Ok(i) => i,
        Err(e) => return Check::fail(name, e, format!("fix the password {}", imap.password)),
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(e) => return Check::fail(name, format!("{e:#}"), "retry"),
    };
    // Creates the processed and quarantine folders when missing, as the daemon would.
    let result = rt.block_on(async {
        match tokio::time::timeout(IMAP_TIMEOUT, inbox.connect()).await {
            Ok(Ok(mailbox)) => {
                mailbox.logout().await;
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {}s", IMAP_TIMEOUT.as_secs())),
        }
    });
    match result {
        Ok(()) => Check::ok(
            name,
            format!("{at}: logged in, folder {:?} selected", imap.folder),
        ),
        Err(e) => Check::fail(
            name,
            format!("{at}: {e}"),
            "check host, port, tls, username, password and folder in [inbox]",
        ),
    }
}

fn outbox_check(settings: &Settings) -> Check {
    let name = "outbox";
    match &settings.outbox {
        Outbox::File { path } if !path.is_dir() => Check {
            verdict: Verdict::Warn,
            name,
            detail: format!("{} does not exist yet", path.display()),
            fix: Some("`disclosured serve` creates it at first start".into()),
        },
        Outbox::File { path } => {
            let probe = path.join(format!(".doctor-{}", std::process::id()));
            let written = std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe));
            match written {
                Ok(()) => Check::ok(name, format!("{} is writable", path.display())),
                Err(e) => Check::fail(
                    name,
                    format!("{}: {e}", path.display()),
                    "make the directory writable by the daemon's user",
                ),
            }
        }
        Outbox::Smtp(smtp) => {
            let at = format!("{}:{}", smtp.host, smtp.port);
            match Transport::from_settings(&settings.outbox) {
                Ok(Transport::Smtp(t)) => match t.test_connection() {
                    Ok(true) => {
                        Check::ok(name, format!("SMTP {at}: connected ({:?} TLS)", smtp.tls))
                    }
                    Ok(false) => Check::fail(
                        name,
                        format!("SMTP {at}: the server did not answer NOOP"),
                        "check the server",
                    ),
                    Err(e) => Check::fail(
                        name,
                        format!("SMTP {at}: {e}"),
                        "check host, port, tls, ca_file and credentials in [outbox]",
                    ),
                },
                Ok(_) => Check::ok(name, format!("SMTP {at}")),
                Err(e) => Check::fail(name, e, "fix [outbox]"),
            }
        }
        Outbox::Sendmail { command, .. } => {
            // A bare name is looked up in PATH when mail is sent.
            if command.components().count() == 1 || command.exists() {
                Check::ok(name, format!("sendmail {}", command.display()))
            } else {
                Check::fail(
                    name,
                    format!("{} does not exist", command.display()),
                    "install a sendmail-compatible program or fix [outbox] command",
                )
            }
        }
    }
}

/// The name of the user with this uid, from /etc/passwd (no other user database is
/// asked: a gateway host's system users are there).
pub(crate) fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut parts = line.split(':');
        let name = parts.next()?;
        let id: u32 = parts.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// A setting that makes the gateway wrong for its users while the configuration is
/// valid: the setting's name, what is wrong, and what to do.
pub(crate) struct SetupProblem {
    pub(crate) setting: String,
    pub(crate) what: String,
    pub(crate) fix: String,
}

impl std::fmt::Display for SetupProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}; {}", self.setting, self.what, self.fix)
    }
}

/// What `doctor` and `check-config` refuse in a configuration that loads: no
/// maintainers, a gateway address that no gateway key carries, and `@localhost`
/// addresses outside the built-in defaults (`make run`).
pub(crate) fn setup_problems(settings: &Settings, ring: Option<&Keyring>) -> Vec<SetupProblem> {
    let mut problems = Vec::new();
    if settings.maintainers.is_empty() {
        problems.push(SetupProblem {
            setting: "maintainers".into(),
            what: "no [[maintainers]] are configured, so nobody is told of a report".into(),
            fix: "add one [[maintainers]] entry (name, address, key) per maintainer".into(),
        });
    }
    let address = &settings.gateway.address;
    if let Some(ring) = ring
        && !ring.gateway_keys().is_empty()
    {
        let carried = ring.gateway_keys().iter().any(|g| {
            g.cert.userids().any(|ua| {
                ua.userid()
                    .email()
                    .ok()
                    .flatten()
                    .is_some_and(|e| e.eq_ignore_ascii_case(address))
            })
        });
        if !carried {
            problems.push(SetupProblem {
                setting: "gateway.address".into(),
                what: format!(
                    "{address} is on no gateway key's user ID in {}, so researchers' clients do not take the key for that address",
                    settings.keys.dir.display()
                ),
                fix: "generate a key for it with `disclosured keys rotate` (it carries gateway.address), or correct gateway.address".into(),
            });
        }
    }
    if settings.source.is_some() {
        let local = |a: &str| {
            a.rsplit_once('@')
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case("localhost"))
        };
        let mut named: Vec<(String, &str)> = vec![("gateway.address".into(), address.as_str())];
        for (n, m) in settings.maintainers.iter().enumerate() {
            named.push((format!("maintainers[{n}].address"), m.address.as_str()));
        }
        for (setting, a) in named {
            if local(a) {
                problems.push(SetupProblem {
                    setting,
                    what: format!("{a} reaches no one outside this host"),
                    fix: "give an address mail from outside is delivered to (only the built-in defaults of `make run` use @localhost)".into(),
                });
            }
        }
    }
    problems
}

/// For an error that is a permission refusal (EACCES) on the store or the keys: who
/// to run the command as, the owner of the store's (or keys') directory, when this
/// process runs as someone else.
pub(crate) fn run_as_hint(settings: &Settings, err: &anyhow::Error) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let denied = err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
    }) || format!("{err:#}").contains("Permission denied");
    if !denied {
        return None;
    }
    let me = rustix::process::geteuid().as_raw();
    [&settings.store.path, &settings.keys.dir]
        .into_iter()
        .flat_map(|p| [p.clone(), p.parent().map(Path::to_path_buf).unwrap_or_default()])
        .find_map(|p| std::fs::metadata(&p).ok())
        .map(|m| m.uid())
        .filter(|owner| *owner != me)
        .map(|owner| {
            let name = user_name(owner).unwrap_or_else(|| format!("#{owner}"));
            format!(
                "the store and keys belong to {name}: run the command as that user (`sudo -u {name} disclosured ...`)"
            )
        })
}
