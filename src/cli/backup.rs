//! `backup` and `restore`: the whole store and the gateway's keys in one OpenPGP
//! message (issue 18: a backup without the keys restored into a gateway with a new
//! key, which broke every reporter's encryption, and it held the reports in clear).
//!
//! The plaintext, inside the encryption, is the line `disclosured-backup 2`, then one
//! `F` record per file of keys.dir (relative path, mode, contents; lengths u32
//! big-endian), then `S` and the store's own export (`disclosured-backup 1`, see
//! `store::backup`). `restore` also reads a plain version 1 or 2 file: older backups,
//! and what `gpg --decrypt` gives for a backup made `--to` someone else's key.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::config::Settings;
use crate::crypto::archive;
use crate::crypto::{Keyring, parse_certs};
use crate::pipeline::Pipeline;
use crate::store::{BACKUP_HEADER, Exported, Store};

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
}

/// The certificates of `--to FILE`, armored, to travel to the daemon in a request.
pub(super) fn recipients_file(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    archive::armored_certs(&bytes)?
        .with_context(|| format!("{}: no OpenPGP certificate in it", path.display()))
}

/// Writes the encrypted backup into `out`: to the certificates in `to` (armored, from
/// [`recipients_file`]) or else to the gateway's signing key.
pub(super) fn write(
    p: &Pipeline,
    to: Option<&str>,
    out: &mut (dyn Write + Send + Sync),
) -> anyhow::Result<Summary> {
    let certs = match to {
        Some(text) => parse_certs(text.as_bytes()).0,
        None => Vec::new(),
    };
    let mut recipients: Vec<(&_, String)> = certs
        .iter()
        .map(|c| (c, format!("the --to key {}", c.fingerprint())))
        .collect();
    if to.is_none() {
        let cert = p.keyring.signing_cert().context(
            "no gateway key to encrypt the backup to: run `disclosured keys generate`, or give a key with --to FILE",
        )?;
        recipients.push((cert, format!("the gateway key {}", cert.fingerprint())));
    }
    if recipients.is_empty() {
        bail!("--to: no OpenPGP certificate given");
    }
    let mut w = archive::encrypt_to(out, &recipients)?;
    writeln!(w, "{HEADER}")?;
    let files = key_files(&p.settings.keys.dir)?;
    for (rel, mode, bytes) in &files {
        w.write_all(&[TAG_FILE])?;
        put(&mut w, rel.to_string_lossy().as_bytes())?;
        w.write_all(&mode.to_be_bytes())?;
        put(&mut w, bytes)?;
    }
    w.write_all(&[TAG_STORE])?;
    let store = p.store.export(&mut w)?;
    archive::finish(w)?;
    Ok(Summary {
        store,
        key_files: files.len(),
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

/// `restore FILE|-`: reads a backup of any version, encrypted or not, into a new
/// store at store.path and its key files into keys.dir.
pub(super) fn restore(
    settings: &Settings,
    input: Box<dyn Read + Send + Sync>,
) -> anyhow::Result<(Summary, PathBuf)> {
    let mut input = BufReader::new(input);
    let encrypted = archive::is_openpgp(input.fill_buf().context("cannot read the backup")?);
    let keyring;
    let mut plain: Box<dyn BufRead + '_> = if encrypted {
        keyring = Keyring::load(&settings.keys)?;
        Box::new(BufReader::new(archive::decrypt(input, &keyring)?))
    } else {
        Box::new(input)
    };
    let header = read_line(&mut plain)?;
    let files = if header == HEADER {
        read_key_files(&mut plain)?
    } else if header == BACKUP_HEADER {
        Vec::new()
    } else {
        bail!(
            "not a disclosured backup: the first line is not {HEADER:?} or {BACKUP_HEADER:?}{}",
            if encrypted {
                ""
            } else {
                " (and it is not OpenPGP-encrypted)"
            }
        );
    };
    // Keys that would replace different ones are refused before anything is written.
    let keys = &settings.keys.dir;
    for (rel, _, bytes) in &files {
        let dest = keys.join(rel);
        match std::fs::read(&dest) {
            Ok(old) if &old == bytes => {}
            Ok(_) => bail!(
                "{} exists and differs from the backup's: move {} away to restore the gateway keys",
                dest.display(),
                keys.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| dest.display().to_string()),
        }
    }
    let path = &settings.store.path;
    let store_stream: &mut dyn BufRead = if header == HEADER {
        &mut plain
    } else {
        // A version 1 file: the store's export, whose header was read here.
        &mut std::io::Cursor::new(format!("{BACKUP_HEADER}\n").into_bytes()).chain(&mut plain)
    };
    let (store, done) = Store::import(path, store_stream)
        .with_context(|| format!("restoring into {}", path.display()))?;
    // An encrypted file is only proven whole at its end: read to it.
    let mut rest = Vec::new();
    plain
        .read_to_end(&mut rest)
        .context("the backup does not decrypt to its end (modified or cut short)")?;
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
    for (rel, mode, bytes) in &files {
        write_key_file(&keys.join(rel), *mode, bytes)?;
    }
    Ok((
        Summary {
            store: done,
            key_files: files.len(),
        },
        keys.clone(),
    ))
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
