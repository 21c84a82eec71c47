//! What each command does.

use std::process::ExitCode;

use anyhow::{Context, bail};

use super::args::{Cli, Command, KeysCommand, ReportsCommand};
use super::{explain_locked, locked_by, runtime};
use crate::config::Settings;
use crate::crypto::Keyring;
use crate::daemon::{self, control};
use crate::pipeline::Pipeline;
use crate::store::Store;

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let daemon_like = matches!(
        cli.command,
        Command::Serve | Command::RunOnce | Command::NoteStop
    );
    super::logging::init(if daemon_like { "info" } else { "warn" });
    if let Some(dir) = credentials_dir(cli.config.as_deref(), cli.credentials.as_deref()) {
        crate::config::set_cli_credentials(dir);
    }
    if let Some(manual) = cli.command.is_manual() {
        match manual {
            super::args::Manual::Pages(dir) => {
                for page in super::manual::write_man_pages(&dir)? {
                    println!("{}", page.display());
                }
            }
            super::args::Manual::Completions(shell) => {
                use std::io::Write as _;
                std::io::stdout().write_all(&super::manual::completions(shell))?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::NoteStop = cli.command {
        // Before loading the configuration: it must never fail the unit.
        return Ok(super::note_stop::run(cli.config.as_deref()));
    }
    if let Command::Doctor = cli.command {
        // Before loading the configuration: a configuration that fails is a finding.
        return super::ops::doctor(cli.config.as_deref());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    // A store or key directory this user may not read: say whom to run as.
    let hint_source = settings.clone();
    run_with(settings, cli).map_err(|e| with_run_as(&hint_source, e))
}

fn run_with(settings: Settings, cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.command.runs_in_daemon() {
        return store_command(settings, &cli.command);
    }
    match cli.command {
        Command::Serve => {
            refuse_beside_a_daemon(&settings)?;
            require_signing_key(&settings, &Keyring::load_locked(&settings.keys)?)?;
            runtime()?.block_on(daemon::serve(settings, std::sync::Arc::new(handle_request)))?;
        }
        Command::RunOnce => {
            refuse_beside_a_daemon(&settings)?;
            require_signing_key(&settings, &Keyring::load_locked(&settings.keys)?)?;
            run_once(settings)?
        }
        Command::Reports(_)
        | Command::Advisory(_)
        | Command::Digest(_)
        | Command::Quarantine(_)
        | Command::Outbox(_)
        | Command::Status { .. }
        // Handed to `store_command` above (see `Command::runs_in_daemon`).
        | Command::Backup { .. }
        | Command::Publish { .. } => {}
        Command::Restore {
            file,
            trust,
            install_keys,
        } => {
            let options = super::backup::RestoreOptions {
                trust: &trust,
                install: &install_keys,
            };
            return super::ops::restore(&settings, &file, &options);
        }
        Command::Doctor => return super::ops::doctor(cli.config.as_deref()),
        Command::NoteStop => return Ok(super::note_stop::run(cli.config.as_deref())),
        Command::Keys(KeysCommand::Generate) => {
            let g = Keyring::generate(
                &settings.keys.dir,
                &settings.gateway.name,
                &settings.gateway.address,
            )?;
            daemon::announce_generated(&g);
            store_key_generate(&settings)?;
        }
        Command::Keys(KeysCommand::Rotate) => keys_rotate(&settings)?,
        Command::Keys(KeysCommand::Import { file, sign }) => keys_import(&settings, &file, sign)?,
        Command::Keys(KeysCommand::Show) => keys_show(&settings)?,
        Command::Keys(KeysCommand::Export) => {
            let ring = Keyring::load_locked(&settings.keys)?;
            let key = ring
                .public_key_armored()
                .context("no gateway key yet: run `disclosured keys generate`")?;
            print!("{}", String::from_utf8_lossy(&key));
        }
        Command::CheckConfig => check_config(&settings)?,
        Command::Policy => {
            let ring = Keyring::load_locked(&settings.keys)?;
            let fingerprint = ring.signing_cert().map(|c| c.fingerprint().to_hex());
            let page = crate::publish::page::policy_page(&settings, fingerprint.as_deref(), None);
            print!("{}", crate::publish::markup::markdown(&page));
        }
        // Handled before the configuration is read.
        Command::Manpages { .. } | Command::Completions { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// The credentials directory for a command run from a shell (issue 18: with the
/// shipped unit, secrets are systemd credentials, and `check-config`, `doctor` and
/// the store commands could not read them). Under systemd, `$CREDENTIALS_DIRECTORY`
/// wins; a directory given with `--credentials` is used as given (a missing file in it
/// is then named); otherwise the first readable one of `credentials/` beside the
/// configuration file and the installed directory.
fn credentials_dir(
    config: Option<&std::path::Path>,
    given: Option<&std::path::Path>,
) -> Option<std::path::PathBuf> {
    if std::env::var_os("CREDENTIALS_DIRECTORY").is_some() {
        return None;
    }
    if let Some(dir) = given {
        return Some(dir.to_path_buf());
    }
    let beside = config
        .and_then(|c| c.parent())
        .map(|d| d.join("credentials"));
    beside
        .into_iter()
        .chain(std::iter::once(std::path::PathBuf::from(
            crate::config::INSTALLED_CREDENTIALS,
        )))
        .find(|d| std::fs::read_dir(d).is_ok())
}

/// Who runs this command, for the reports' history: `cli:<user>`, the user of the
/// process's real uid (never an environment variable anyone can set, such as
/// `$SUDO_USER`), with the maintainer's name when that user is one (a maintainer's
/// name, or their address's local part, equal to the user name).
fn actor(settings: &Settings) -> String {
    let uid = rustix::process::getuid().as_raw();
    let user = super::ops::user_name(uid).unwrap_or_else(|| format!("uid{uid}"));
    actor_of(&user, &settings.maintainers)
}

/// The actor for the Unix user `user` (see [`actor`]).
fn actor_of(user: &str, maintainers: &[crate::config::Maintainer]) -> String {
    let maintainer = maintainers.iter().find(|m| {
        m.name.eq_ignore_ascii_case(user)
            || m.address
                .rsplit_once('@')
                .is_some_and(|(local, _)| local.eq_ignore_ascii_case(user))
    });
    match maintainer {
        Some(m) if !m.name.eq_ignore_ascii_case(user) => format!("cli:{user} ({})", m.name),
        _ => format!("cli:{user}"),
    }
}

/// `keys generate`'s second half: the store key, when its file is missing and the
/// store holds no sealed record (a credential is the operator's to make).
fn store_key_generate(settings: &Settings) -> anyhow::Result<()> {
    use crate::config::Secret;
    let Secret::File(path) = &settings.store.key else {
        println!(
            "Store key: read from the credential named by store.key_credential (create it with systemd-creds, see docs/operators.md)."
        );
        return Ok(());
    };
    if std::fs::symlink_metadata(path).is_ok() {
        println!("Store key: {} (kept)", path.display());
        return Ok(());
    }
    crate::pipeline::store_key::load(&settings.store, true)?;
    println!(
        "Store key: created {} (it seals reports at rest; keep a copy apart from the backups: a restore needs it)",
        path.display()
    );
    Ok(())
}

/// Runs a command on the store: through the daemon's control socket when it runs (the
/// store can be open in one process only), else here.
fn store_command(settings: Settings, command: &Command) -> anyhow::Result<ExitCode> {
    let file = match command {
        Command::Reports(ReportsCommand::Reply { file, .. }) => Some(read_message(file)?),
        // The keys to encrypt to travel in the request: the daemon may not see them.
        Command::Backup { to: Some(to), .. } => Some(super::backup::recipients_file(to)?),
        _ => None,
    };
    let argv = match command {
        // The daemon writes the file, from its own working directory: it gets an
        // absolute path, resolved here; `-` comes back as the answer's output.
        Command::Backup { file, to } => {
            let file = if file.as_os_str() == "-" {
                file.clone()
            } else {
                std::path::absolute(file)
                    .with_context(|| format!("cannot resolve {}", file.display()))?
            };
            let mut argv = vec!["backup".to_string(), file.to_string_lossy().into_owned()];
            if to.is_some() {
                argv.extend(["--to".into(), "(in the request)".into()]);
            }
            argv
        }
        // Likewise the directory to publish into.
        Command::Publish { dir } => {
            let mut argv = vec!["publish".to_string()];
            if let Some(dir) = dir {
                let dir = std::path::absolute(dir)
                    .with_context(|| format!("cannot resolve {}", dir.display()))?;
                argv.push(dir.to_string_lossy().into_owned());
            }
            argv
        }
        _ => std::env::args().skip(1).collect(),
    };
    let request = control::Request {
        argv,
        actor: actor(&settings),
        file,
        peer_uid: None,
        frames: false,
    };
    let socket = control::socket_path(&settings.store.path);
    // A listing goes to the terminal as it comes; a file `reports attachment` or
    // `advisory --out` writes is taken whole first.
    let whole = matches!(command, Command::Reports(ReportsCommand::Attachment { .. }))
        || matches!(command, Command::Advisory(args) if args.out.is_some());
    if !whole {
        return streamed_command(settings, command, &request, &socket);
    }
    let sent = match control::send(&socket, &request) {
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            return Err(not_answering(&settings, command, &e));
        }
        other => {
            other.with_context(|| format!("cannot talk to the daemon on {}", socket.display()))?
        }
    };
    let response = match sent {
        Some(r) => r,
        None => {
            // No daemon: this process opens the store, which must exist (a command
            // run from the wrong directory must not answer from a new, empty store).
            // `publish` is the exception: before the first start it has nothing to
            // read there, and writes the tree without a hall of fame.
            if let Command::Publish { dir } = command
                && Store::check_exists(&settings.store.path).is_err()
            {
                return super::publish::publish_without_store(&settings, dir.as_deref());
            }
            Store::check_exists(&settings.store.path)?;
            match Pipeline::open_locked(settings) {
                Ok(pipeline) => super::reports::execute(&pipeline, command, &request),
                Err(e) => {
                    let e = anyhow::Error::from(e);
                    // A daemon that is starting holds the store before its socket
                    // listens: give it a moment to answer.
                    match locked_by(&e) {
                        Some(crate::store::Holder::Process(_)) => daemon_answer(&socket, &request)
                            .ok_or_else(|| explain_locked(e, &socket))?,
                        _ => return Err(e),
                    }
                }
            }
        }
    };
    if let Command::Reports(ReportsCommand::Attachment { out, force, .. }) = command
        && response.code == 0
    {
        eprint!("{}", response.stderr);
        return save_attachment(&response.stdout, out, *force);
    }
    if let Command::Advisory(args) = command
        && let Some(out) = &args.out
        && response.code == 0
    {
        return save_advisory(&response.stdout, &response.stderr, out, args.draft);
    }
    print!("{}", response.stdout);
    eprint!("{}", response.stderr);
    Ok(ExitCode::from(response.code))
}

/// The error of a command whose daemon did not answer in time; `status --json` also
/// prints the JSON a health check reads whatever happens.
fn not_answering(settings: &Settings, command: &Command, e: &std::io::Error) -> anyhow::Error {
    let why = super::unanswered(settings, e);
    if let Command::Status { json: true } = command {
        let answer = serde_json::json!({ "daemon": { "answering": false, "error": why } });
        match serde_json::to_string_pretty(&answer) {
            Ok(text) => println!("{text}"),
            Err(e) => return e.into(),
        }
    }
    anyhow::anyhow!(why)
}

/// [`store_command`] for a command whose standard output goes to the terminal: from
/// the daemon as it sends it, or as this process writes it.
fn streamed_command(
    settings: Settings,
    command: &Command,
    request: &control::Request,
    socket: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let sent = control::send_to(socket, request, &mut stdout);
    stdout.flush()?;
    drop(stdout);
    let ended = match sent {
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            return Err(not_answering(&settings, command, &e));
        }
        other => {
            other.with_context(|| format!("cannot talk to the daemon on {}", socket.display()))?
        }
    };
    if let Some(ended) = ended {
        eprint!("{}", ended.stderr);
        return Ok(ExitCode::from(ended.code));
    }
    // No daemon: this process opens the store, which must exist (a command run from
    // the wrong directory must not answer from a new, empty store). `publish` is the
    // exception: before the first start it has nothing to read there, and writes the
    // tree without a hall of fame.
    if let Command::Publish { dir } = command
        && Store::check_exists(&settings.store.path).is_err()
    {
        return super::publish::publish_without_store(&settings, dir.as_deref());
    }
    Store::check_exists(&settings.store.path)?;
    let response = match Pipeline::open_locked(settings) {
        Ok(pipeline) => {
            let sink: super::Sink = Box::new(|text: String| {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(text.as_bytes())?;
                stdout.flush()
            });
            super::reports::execute_to(&pipeline, command, request, Some(sink))
        }
        Err(e) => {
            let e = anyhow::Error::from(e);
            // A daemon that is starting holds the store before its socket listens:
            // give it a moment to answer.
            match locked_by(&e) {
                Some(crate::store::Holder::Process(_)) => {
                    daemon_answer(socket, request).ok_or_else(|| explain_locked(e, socket))?
                }
                _ => return Err(e),
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(response.stdout.as_bytes())?;
    stdout.flush()?;
    eprint!("{}", response.stderr);
    Ok(ExitCode::from(response.code))
}

/// Writes an advisory to `out` (a file, replaced atomically, or a directory: then the
/// file name of its format, which the store command names on its stderr). A draft is
/// mode 0600: it is not for publication yet.
fn save_advisory(
    json: &str,
    stderr: &str,
    out: &std::path::Path,
    draft: bool,
) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let path = if out.is_dir() {
        let name = stderr
            .lines()
            .find_map(|l| l.strip_prefix("file name: "))
            .filter(|n| !n.contains('/') && !n.starts_with('.'))
            .context("the advisory came back without its file name")?;
        out.join(name)
    } else {
        out.to_path_buf()
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile_in(&dir)?;
    tmp.1
        .write_all(json.as_bytes())
        .and_then(|()| tmp.1.sync_all())
        .and_then(|()| {
            std::fs::set_permissions(
                &tmp.0,
                std::fs::Permissions::from_mode(if draft { 0o600 } else { 0o644 }),
            )
        })
        .and_then(|()| std::fs::rename(&tmp.0, &path))
        .with_context(|| format!("cannot write {}", path.display()))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp.0);
        })?;
    eprintln!(
        "{}advisory written to {}",
        if draft { "draft " } else { "" },
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A new file beside where an advisory goes, for the atomic replace.
fn tempfile_in(dir: &std::path::Path) -> anyhow::Result<(std::path::PathBuf, std::fs::File)> {
    let name = format!(
        ".advisory-{}-{}.tmp",
        std::process::id(),
        rand::random::<u32>()
    );
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    Ok((path, file))
}

/// A permission error on the store or keys, with who to run the command as.
fn with_run_as(settings: &Settings, e: anyhow::Error) -> anyhow::Error {
    match super::ops::run_as_hint(settings, &e) {
        Some(hint) => e.context(hint),
        None => e,
    }
}

/// Writes an attachment `reports attachment` fetched (base64) to `out`, created with
/// mode 0600 by this process (the invoking user); an existing file only with `force`.
fn save_attachment(encoded: &str, out: &std::path::Path, force: bool) -> anyhow::Result<ExitCode> {
    use base64::Engine as _;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .context("the attachment came back garbled")?;
    if out.as_os_str() == "-" {
        std::io::stdout().write_all(&bytes)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(out) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!(
                "{} exists; nothing written (--force replaces it)",
                out.display()
            )
        }
        other => other.with_context(|| format!("cannot create {}", out.display()))?,
    };
    // A replaced file keeps its old mode: make it 0600 too.
    std::fs::set_permissions(out, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("cannot make {} mode 0600", out.display()))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("{} bytes written to {}", bytes.len(), out.display());
    Ok(ExitCode::SUCCESS)
}

/// `serve` and `run-once` beside a running daemon: say so, with its pid, rather than
/// fail on the store's lock. Otherwise the store may be held for a moment by a
/// command: they wait for it (bounded).
fn refuse_beside_a_daemon(settings: &Settings) -> anyhow::Result<()> {
    crate::store::wait_for_others(START_LOCK_WAIT);
    let socket = control::socket_path(&settings.store.path);
    let request = control::Request {
        argv: vec!["status".into(), "--json".into()],
        actor: actor(settings),
        file: None,
        peer_uid: None,
        frames: false,
    };
    if let Ok(Some(_)) = control::send(&socket, &request) {
        let pid = match crate::store::holder(&settings.store.path) {
            Some(crate::store::Holder::Process(pid)) => format!(" (pid {pid})"),
            _ => String::new(),
        };
        bail!(
            "the daemon is already running{pid} on the store {}: its control socket {} answers. Stop it first (systemctl stop disclosured); store commands go through it meanwhile",
            settings.store.path.display(),
            socket.display()
        );
    }
    Ok(())
}

/// A message file for `reports reply`, or standard input for `-`.
fn read_message(path: &std::path::Path) -> anyhow::Result<String> {
    let bytes = if path.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).context("standard input")?;
        b
    } else {
        std::fs::read(path).with_context(|| path.display().to_string())?
    };
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", path.display()))
}

/// Runs a request that came through the control socket, inside the daemon.
fn handle_request(
    pipeline: &Pipeline,
    mut request: control::Request,
    sink: Option<control::Sink>,
) -> control::Response {
    // Who asked is whom the kernel says connected, not what the client wrote.
    if let Some(uid) = request.peer_uid {
        let user = super::ops::user_name(uid).unwrap_or_else(|| format!("uid{uid}"));
        request.actor = actor_of(&user, &pipeline.settings.maintainers);
    }
    let argv = std::iter::once("disclosured".to_string()).chain(request.argv.iter().cloned());
    match <Cli as clap::Parser>::try_parse_from(argv) {
        Ok(cli) => match &cli.command {
            command if command.runs_in_daemon() => {
                super::reports::execute_to(pipeline, command, &request, sink)
            }
            _ => control::Response {
                stderr: "disclosured: only store commands run through the daemon\n".into(),
                code: 2,
                ..Default::default()
            },
        },
        Err(e) => control::Response {
            stderr: e.to_string(),
            code: 2,
            ..Default::default()
        },
    }
}

fn run_once(settings: Settings) -> anyhow::Result<()> {
    let (pipeline, generated) = Pipeline::start(settings)?;
    if let Some(g) = &generated {
        daemon::announce_generated(g);
    }
    Ok(daemon::run_once::run(std::sync::Arc::new(pipeline))?)
}

fn keys_rotate(settings: &Settings) -> anyhow::Result<()> {
    let r = Keyring::rotate(
        &settings.keys,
        &settings.gateway.name,
        &settings.gateway.address,
    )?;
    match &r.previous {
        Some(old) => println!("Old signing key: {old} (keeps decrypting)"),
        None => println!("Old signing key: none"),
    }
    println!("New signing key: {}", r.new.fingerprint);
    match &r.certified_by {
        Some(old) => {
            println!("  certified by the old key {old}: clients that trust it accept the new one")
        }
        None if r.previous.is_some() => println!(
            "  NOT certified by the old key (its secret key could not be opened here: is its passphrase readable by this user?)"
        ),
        None => {}
    }
    println!(
        "Each open report's researcher is sent the new key, with a short note, in the next mail about their report."
    );
    println!(
        "  secret key (mode 0600, keep it safe): {}",
        r.new.secret_path.display()
    );
    println!(
        "  public key to publish:                {}",
        r.new.public_path.display()
    );
    println!("A running daemon signs with the new key once restarted; publish the new public key.");
    match &settings.publish.dir {
        Some(dir) => println!(
            "publish.dir is set: the daemon writes {} again (security.txt signed by the new key, both keys in the Web Key Directory) when it restarts; or run `disclosured publish` now.",
            dir.display()
        ),
        None => println!(
            "Run `disclosured publish DIR` to write security.txt, the Web Key Directory (both keys) and the policy page for your web server."
        ),
    }
    Ok(())
}

fn keys_import(settings: &Settings, file: &std::path::Path, sign: bool) -> anyhow::Result<()> {
    use std::io::Read;
    let bytes = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read the key from standard input")?;
        buf
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let shown = if file.as_os_str() == "-" {
        std::path::Path::new("(standard input)")
    } else {
        file
    };
    let i = Keyring::import(
        &settings.keys,
        shown,
        &bytes,
        &settings.gateway.address,
        sign,
    )?;
    println!(
        "Imported gateway key {}{}",
        i.fingerprint,
        if i.protected {
            " (passphrase-protected)"
        } else {
            ""
        }
    );
    println!("  secret key (mode 0600): {}", i.secret_path.display());
    println!("  public key:             {}", i.public_path.display());
    if i.signing.as_deref() == Some(i.fingerprint.as_str()) {
        println!("It signs and decrypts: publish its public key.");
    } else {
        println!("It decrypts.");
        match &i.signing {
            Some(f) => println!(
                "The signing key is still {f}{}",
                if i.can_sign {
                    " (import with --sign to make this one sign)"
                } else {
                    ""
                }
            ),
            None => println!(
                "It cannot sign and there is no signing key: run `disclosured keys rotate`."
            ),
        }
    }
    if i.protected && !i.passphrase_checked {
        println!(
            "The passphrase is a systemd credential, not readable here: the daemon tries it at start."
        );
    }
    if i.address_missing {
        println!(
            "Note: none of its user IDs is {}; reporters' software may not find it by address.",
            settings.gateway.address
        );
    }
    Ok(())
}

fn keys_show(settings: &Settings) -> anyhow::Result<()> {
    let ring = Keyring::load_locked(&settings.keys)?;
    let signing = ring.signing_cert().map(|c| c.fingerprint());
    if ring.is_empty() {
        println!(
            "No gateway key in {} (one is generated at first start, or run `disclosured keys generate`).",
            settings.keys.dir.display()
        );
    }
    for g in ring.gateway_keys() {
        let created: chrono::DateTime<chrono::Utc> =
            g.cert.primary_key().key().creation_time().into();
        let role = if Some(g.cert.fingerprint()) == signing {
            "signs, decrypts (publish this one)"
        } else {
            "decrypts"
        };
        println!(
            "{}  created {}  {}{}",
            g.cert.fingerprint(),
            created.format("%Y-%m-%d"),
            role,
            if g.protected {
                "  passphrase-protected"
            } else {
                ""
            }
        );
        println!("    {}", g.path.display());
    }
    println!(
        "Reporter keys: {} (in {})",
        ring.reporters().len(),
        settings.keys.reporters_dir.display()
    );
    println!(
        "Maintainer keys: {} (in {})",
        ring.maintainers().len(),
        settings.keys.maintainers_dir.display()
    );
    Ok(())
}

fn check_config(settings: &Settings) -> anyhow::Result<()> {
    let ring = Keyring::load(&settings.keys)?;
    let team = crate::crypto::Team::load(&settings.maintainers)?;
    // Password files and certificates are checked too; nothing is connected to, and
    // nothing is created (issue 18): a missing store or outbox directory is reported.
    if let crate::config::Inbox::Imap(imap) = &settings.inbox {
        crate::source::imap::ImapInbox::new(imap.clone())?;
    }
    if !matches!(settings.outbox, crate::config::Outbox::File { .. }) {
        crate::outbox::Transport::from_settings(&settings.outbox)?;
    }
    let store = super::ops::store_summary(settings)?;
    // Nothing is printed before every check passed: a failed check-config shows no
    // "configuration OK".
    require_signing_key(settings, &ring)?;
    let problems = super::ops::setup_problems(settings, Some(&ring));
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        bail!("{}", lines.join("\n"));
    }
    println!(
        "configuration OK{}",
        settings
            .source
            .as_ref()
            .map(|p| format!(" ({})", p.display()))
            .unwrap_or_else(|| " (built-in defaults)".into())
    );
    println!("  gateway address: {}", settings.gateway.address);
    println!("  maintainers: {}", team.members().len());
    println!("  store: {store}");
    match ring.signing_cert() {
        Some(c) => println!("  signing key: {}", c.fingerprint()),
        None => println!("  no gateway key yet: one is generated at first start"),
    }
    Ok(())
}

/// One rule for `check-config`, `serve` and `run-once`: gateway keys of which none can
/// sign (all revoked or expired) stop the start. Before issue 18 `serve` started on
/// them and left every acknowledgement pending. No key at all is fine: `serve`
/// generates one.
fn require_signing_key(settings: &Settings, ring: &Keyring) -> anyhow::Result<()> {
    if !ring.is_empty() && ring.signing_cert().is_none() {
        bail!(
            "the gateway keys in {} cannot sign (revoked or expired): no acknowledgement could be sent. Run `disclosured keys rotate` for a new key, or `disclosured keys import --sign FILE`",
            settings.keys.dir.display()
        );
    }
    Ok(())
}

/// How long `serve` and `run-once` wait at start for another process (a command run
/// a moment before) to let go of the store.
const START_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a command waits for a daemon that holds the store to answer on its
/// socket: one that is starting takes the store before it listens.
const SOCKET_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The daemon's answer on `socket`, waited for up to [`SOCKET_WAIT`].
fn daemon_answer(
    socket: &std::path::Path,
    request: &control::Request,
) -> Option<control::Response> {
    let started = std::time::Instant::now();
    while started.elapsed() < SOCKET_WAIT {
        if let Ok(Some(r)) = control::send(socket, request) {
            return Some(r);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::actor_of;

    #[test]
    fn the_cli_actor_names_the_maintainer_the_unix_user_is() {
        let m = |name: &str, address: &str| crate::config::Maintainer {
            name: name.into(),
            address: address.into(),
            key: "k.asc".into(),
        };
        let team = [
            m("Bob Maintainer", "bob@example.org"),
            m("carol", "cs@example.org"),
        ];
        assert_eq!(actor_of("bob", &team), "cli:bob (Bob Maintainer)");
        assert_eq!(actor_of("carol", &team), "cli:carol");
        assert_eq!(actor_of("disclosured", &team), "cli:disclosured");
    }
}
