//! `backup` and `restore`: the whole store and the gateway's keys in one OpenPGP
//! message (issue 18: a backup without the keys restored into a gateway with a new
//! key, which broke every reporter's encryption, and it held the reports in clear).
//!
//! The plaintext is the line `disclosured-backup 2`, then one `F` record per file of
//! keys.dir (relative path, mode, contents; lengths u32 big-endian), then `S` and the
//! store's own export (`disclosured-backup 1`, see `store::backup`). It is signed by
//! the gateway and encrypted to the gateway and to keys the operator keeps elsewhere
//! (see `crypto::archive`).
//!
//! `restore` trusts a backup only when a key it trusts signed it: a gateway key in
//! keys.dir, or a key given with `--trust FILE` (on a new host, the gateway's public
//! key the operator kept). Even then it installs key files only of the kinds named
//! with `--install-keys` (the gateway's keys, maintainers', reporters'), and never
//! replaces one: a backup that installs `maintainers/bob.asc` makes its maker Bob.

use std::io::{BufRead, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, bail};
use sequoia_openpgp::Cert;

use crate::config::Settings;
use crate::crypto::archive;
use crate::crypto::{Keyring, parse_certs};
use crate::pipeline::Pipeline;
use crate::store::{Exported, Store};

/// The first line of this version's plaintext.
const HEADER: &str = "disclosured-backup 2";
const TAG_FILE: u8 = b'F';
const TAG_STORE: u8 = b'S';
/// Larger key files than this are not keys: refused on both sides.
const MAX_KEY_FILE: u32 = 16 * 1024 * 1024;

/// What a backup held.
pub(super) struct Summary {
    pub store: Exported,
    pub key_files: usize,
    /// Key files of the backup installed by `restore`, by kind.
    pub installed: Vec<(KeyKind, usize)>,
    /// Key files of the backup `restore` left alone, by kind (not named with
    /// `--install-keys`).
    pub left: Vec<(KeyKind, usize)>,
}

/// The kinds of key file a backup may hold, as `--install-keys` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum KeyKind {
    /// The gateway's secret keys, their public halves and the signing-key choice.
    Gateway,
    /// Maintainers' public keys (keys.maintainers_dir).
    Maintainers,
    /// Pre-loaded reporters' public keys (keys.reporters_dir).
    Reporters,
}

impl KeyKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            KeyKind::Gateway => "gateway",
            KeyKind::Maintainers => "maintainers",
            KeyKind::Reporters => "reporters",
        }
    }

    /// The kind of the file `rel` of keys.dir, by where this configuration reads
    /// maintainers' and reporters' keys.
    fn of(settings: &Settings, rel: &Path) -> KeyKind {
        let path = settings.keys.dir.join(rel);
        if path.starts_with(&settings.keys.maintainers_dir) {
            KeyKind::Maintainers
        } else if path.starts_with(&settings.keys.reporters_dir) {
            KeyKind::Reporters
        } else {
            KeyKind::Gateway
        }
    }
}

/// The certificates of `--to FILE`, armored, to travel to the daemon in a request.
pub(super) fn recipients_file(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    archive::armored_certs(&bytes)?
        .with_context(|| format!("{}: no OpenPGP certificate in it", path.display()))
}

/// Every certificate in the file `path`, or an error naming it: `what` says which
/// setting or option named it.
fn certs_in(path: &Path, what: &str) -> anyhow::Result<Vec<Cert>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("{what}: cannot read {}", path.display()))?;
    let certs = parse_certs(&bytes).0;
    if certs.is_empty() {
        bail!("{what}: {}: no OpenPGP certificate in it", path.display());
    }
    Ok(certs)
}

/// Writes the backup into `out`, signed by the gateway and encrypted to its key and
/// to the operator's: the certificates in `to` (armored, from [`recipients_file`])
/// and those of `backup.recipients`. Refused when the operator names none.
pub(super) fn write(
    p: &Pipeline,
    to: Option<&str>,
    out: &mut (dyn Write + Send + Sync),
) -> anyhow::Result<Summary> {
    let mut operator: Vec<(Cert, String)> = Vec::new();
    if let Some(text) = to {
        for c in parse_certs(text.as_bytes()).0 {
            let name = format!("the --to key {}", c.fingerprint());
            operator.push((c, name));
        }
        if operator.is_empty() {
            bail!("--to: no OpenPGP certificate given");
        }
    }
    for path in &p.settings.backup.recipients {
        for c in certs_in(path, "backup.recipients")? {
            let name = format!(
                "the backup.recipients key {} ({})",
                c.fingerprint(),
                path.display()
            );
            operator.push((c, name));
        }
    }
    if operator.is_empty() {
        bail!(
            "no key to encrypt the backup to besides the gateway's own, which is inside the \
             backup: a new host could not open it. Give a key you keep off this host with \
             --to KEYFILE, or set backup.recipients in the configuration (docs/operators.md, backup)"
        );
    }
    let gateway = p
        .keyring
        .signing_cert()
        .context("no gateway key to sign the backup with: run `disclosured keys generate`")?;
    let mut recipients: Vec<(&Cert, String)> = vec![(
        gateway,
        format!("the gateway key {}", gateway.fingerprint()),
    )];
    recipients.extend(operator.iter().map(|(c, n)| (c, n.clone())));
    // Every key file but the store key: the backup holds sealed content, and a
    // restore needs the store key kept apart from it.
    let store_key = match &p.settings.store.key {
        crate::config::Secret::File(f) => Some(f.clone()),
        crate::config::Secret::Credential(_) => None,
    };
    let files: Vec<_> = key_files(&p.settings.keys.dir)?
        .into_iter()
        .filter(|(rel, _, _)| store_key.as_deref() != Some(p.settings.keys.dir.join(rel).as_path()))
        .collect();
    let store = archive::seal(out, &p.keyring, &recipients, |w| -> anyhow::Result<_> {
        writeln!(w, "{HEADER}")?;
        for (rel, mode, bytes) in &files {
            w.write_all(&[TAG_FILE])?;
            put(w, rel.to_string_lossy().as_bytes())?;
            w.write_all(&mode.to_be_bytes())?;
            put(w, bytes)?;
        }
        w.write_all(&[TAG_STORE])?;
        Ok(p.store.export(w)?)
    })?;
    Ok(Summary {
        store,
        key_files: files.len(),
        installed: Vec::new(),
        left: Vec::new(),
    })
}

fn put(w: &mut dyn Write, bytes: &[u8]) -> anyhow::Result<()> {
    let len = u32::try_from(bytes.len()).context("a file over 4 GiB")?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(bytes)?;
    Ok(())
}

/// Every regular file under keys.dir: relative path, permission bits, contents.
fn key_files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u32, Vec<u8>)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let entries = match std::fs::read_dir(dir.join(&rel)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && rel.as_os_str().is_empty() => {
                return Ok(out);
            }
            Err(e) => return Err(e).with_context(|| dir.join(&rel).display().to_string()),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push(rel.join(entry.file_name()));
            } else if kind.is_file() {
                let bytes = std::fs::read(&path).with_context(|| path.display().to_string())?;
                let mode = entry.metadata()?.permissions().mode() & 0o777;
                out.push((rel.join(entry.file_name()), mode, bytes));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// How `restore` was asked to trust and install.
pub(super) struct RestoreOptions<'a> {
    /// Files of keys whose signature on a backup is trusted, beside the gateway's.
    pub trust: &'a [PathBuf],
    /// The kinds of key file to install from the backup.
    pub install: &'a [KeyKind],
}

/// `restore FILE|-`: reads a backup signed by a trusted key, encrypted or already
/// decrypted, into a new store at store.path, and the key files of the kinds named
/// into keys.dir. Nothing stays behind when it is refused.
pub(super) fn restore(
    settings: &Settings,
    input: Box<dyn Read + Send + Sync>,
    options: &RestoreOptions<'_>,
) -> anyhow::Result<(Summary, PathBuf)> {
    let path = &settings.store.path;
    // Checked here as well as by the store's import: what is cleaned up after a
    // refusal must be only what this restore wrote.
    let existed = match std::fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} is not empty: a restore never overwrites a store; move it away first",
                    path.display()
                );
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| path.display().to_string()),
    };
    let result = restore_into(settings, input, options);
    if result.is_err() {
        remove_partial(path, existed);
    }
    result
}

/// Removes what a refused restore wrote at `path` (a directory that did not exist,
/// or was empty, before it).
fn remove_partial(path: &Path, existed: bool) {
    if !path.join("db").exists() {
        return;
    }
    if existed {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                let p = entry.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    } else {
        let _ = std::fs::remove_dir_all(path);
    }
}

fn restore_into(
    settings: &Settings,
    input: Box<dyn Read + Send + Sync>,
    options: &RestoreOptions<'_>,
) -> anyhow::Result<(Summary, PathBuf)> {
    let path = &settings.store.path;
    let mut input = std::io::BufReader::new(input);
    if !archive::is_openpgp(input.fill_buf().context("cannot read the backup")?) {
        bail!(
            "not a signed backup: restore reads only backups signed by a key this host \
             trusts (a plain backup of an earlier version is refused: make a new one with \
             `disclosured backup` where the store is)"
        );
    }
    // Secret keys when there are any (to decrypt); none on a new host.
    let keyring = Keyring::load(&settings.keys)?;
    let mut trusted: Vec<Cert> = keyring
        .gateway_keys()
        .iter()
        .map(|k| k.cert.clone().strip_secret_key_material())
        .collect();
    for file in options.trust {
        trusted.extend(certs_in(file, "--trust")?);
    }
    let (mut plain, signers) = archive::open(input, &keyring, &trusted)
        .map_err(|e| anyhow::Error::from(e).context(untrusted_hint(&trusted)))?;
    let header = read_line(&mut plain)?;
    if header != HEADER {
        bail!("not a disclosured backup: the first line is not {HEADER:?}");
    }
    let files = read_key_files(&mut plain)?;
    let keys = &settings.keys.dir;
    let install = |kind: KeyKind| options.install.contains(&kind);
    // Key files that would replace different ones are refused before anything is
    // written.
    for (rel, _, bytes) in &files {
        if !install(KeyKind::of(settings, rel)) {
            continue;
        }
        let dest = keys.join(rel);
        match std::fs::read(&dest) {
            Ok(old) if &old == bytes => {}
            Ok(_) => bail!(
                "{} exists and differs from the backup's: a restore never replaces a key file; move it away first",
                dest.display(),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| dest.display().to_string()),
        }
    }
    let key = crate::pipeline::store_key::load(&settings.store, false).context(
        "a restore needs the store key that sealed the backup (a backup of an earlier version, made before sealing: create one with `disclosured keys generate`)",
    )?;
    let (store, done) = Store::import(path, &key, &mut plain)
        .map_err(|e| match e {
            crate::store::StoreError::WrongKey => anyhow::anyhow!(
                "the backup was sealed with another store key than {}: a restore needs the store key of the gateway that made it",
                crate::pipeline::store_key::place(&settings.store.key)
            ),
            e => e.into(),
        })
        .with_context(|| format!("restoring into {}", path.display()))?;
    // An encrypted file is only proven whole, and a signature checked, at its end.
    let mut rest = Vec::new();
    plain
        .read_to_end(&mut rest)
        .map_err(anyhow::Error::from)
        .map_err(|e| e.context(untrusted_hint(&trusted)))
        .context("the backup does not read to its end (modified, cut short, or not signed by a trusted key)")?;
    let signers = signers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if signers.trusted.is_none() {
        let by = if signers.untrusted.is_empty() {
            "it is not signed".to_string()
        } else {
            format!("it is signed by {}", signers.untrusted.join(", "))
        };
        bail!(
            "{by}, not by a key this host trusts: {}",
            untrusted_hint(&trusted)
        );
    }
    let reports = store
        .reports()
        .with_context(|| format!("the restored store {} does not read back", path.display()))?
        .len();
    if reports as u64 != done.reports {
        bail!(
            "the restored store {} holds {reports} reports, the backup {}",
            path.display(),
            done.reports
        );
    }
    drop(store);
    let mut installed = std::collections::BTreeMap::new();
    let mut left = std::collections::BTreeMap::new();
    for (rel, mode, bytes) in &files {
        let kind = KeyKind::of(settings, rel);
        if install(kind) {
            write_key_file(&keys.join(rel), *mode, bytes)?;
            *installed.entry(kind).or_insert(0) += 1;
        } else {
            *left.entry(kind).or_insert(0) += 1;
        }
    }
    Ok((
        Summary {
            store: done,
            key_files: files.len(),
            installed: installed.into_iter().collect(),
            left: left.into_iter().collect(),
        },
        keys.clone(),
    ))
}

/// What to do when no trusted key signed the backup.
fn untrusted_hint(trusted: &[Cert]) -> String {
    let known: Vec<String> = trusted.iter().map(|c| c.fingerprint().to_hex()).collect();
    format!(
        "restore accepts a backup signed by a gateway key in keys.dir or by a key given \
         with --trust FILE (on a new host: the gateway's public key you kept); trusted here: {}",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )
}

/// The key files at the head of a version 2 backup, up to the store's record.
fn read_key_files(plain: &mut dyn BufRead) -> anyhow::Result<Vec<(PathBuf, u32, Vec<u8>)>> {
    let mut files = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        plain
            .read_exact(&mut tag)
            .context("the backup is cut short")?;
        match tag {
            [TAG_FILE] => {
                let rel = PathBuf::from(
                    String::from_utf8(get(plain)?).context("a key file name is not UTF-8")?,
                );
                let mut mode = [0u8; 4];
                plain
                    .read_exact(&mut mode)
                    .context("the backup is cut short")?;
                let bytes = get(plain)?;
                files.push((
                    safe_relative(&rel)?,
                    u32::from_be_bytes(mode) & 0o700,
                    bytes,
                ));
            }
            [TAG_STORE] => return Ok(files),
            _ => bail!("not a disclosured backup: an unknown record"),
        }
    }
}

fn read_line(input: &mut dyn BufRead) -> anyhow::Result<String> {
    let mut line = Vec::new();
    input
        .take(64)
        .read_until(b'\n', &mut line)
        .context("cannot read the backup")?;
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}

fn get(input: &mut dyn BufRead) -> anyhow::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    input
        .read_exact(&mut len)
        .context("the backup is cut short")?;
    let len = u32::from_be_bytes(len);
    if len > MAX_KEY_FILE {
        bail!("not a disclosured backup: a key file of {len} bytes");
    }
    let mut out = Vec::new();
    input.take(u64::from(len)).read_to_end(&mut out)?;
    if out.len() as u64 != u64::from(len) {
        bail!("the backup is cut short");
    }
    Ok(out)
}

/// A path from the backup, to be joined to keys.dir: relative, without `..`.
fn safe_relative(rel: &Path) -> anyhow::Result<PathBuf> {
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!(
            "not a disclosured backup: a key file named {}",
            rel.display()
        );
    }
    Ok(rel.to_path_buf())
}

/// Writes a key file with the owner's bits of its original mode (secret keys stay
/// 0600), its directories 0700.
fn write_key_file(dest: &Path, mode: u32, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if dest.exists() {
        return Ok(());
    }
    if let Some(dir) = dest.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| dir.display().to_string())?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode.max(0o400))
        .open(dest)
        .with_context(|| format!("cannot create {}", dest.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| dest.display().to_string())?;
    Ok(())
}
