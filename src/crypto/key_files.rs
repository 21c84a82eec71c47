//! Gateway key files on disk: which files are keys, the signing-key marker, and
//! writing new key files with exact modes in a directory we own.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sequoia_openpgp::serialize::SerializeInto;
use sequoia_openpgp::{Cert, Fingerprint};

use super::key_error::{KeyError, SIGNING_KEY_FILE, io};

/// File name endings we read as OpenPGP keys.
const KEY_EXTENSIONS: [&str; 5] = ["asc", "pgp", "gpg", "key", "sec"];

/// The fingerprint in `dir/signing-key`, if the file exists.
pub(super) fn read_signing_choice(dir: &Path) -> Result<Option<Fingerprint>, KeyError> {
    let path = dir.join(SIGNING_KEY_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    match Fingerprint::from_hex(text.trim()) {
        Ok(f @ (Fingerprint::V4(_) | Fingerprint::V6(_))) => Ok(Some(f)),
        _ => Err(KeyError::BadSigningKeyFile { path }),
    }
}

/// Replaces `dir/signing-key` atomically: a crash leaves the old choice or the new.
pub(super) fn write_signing_choice(dir: &Path, fpr: &Fingerprint) -> Result<(), KeyError> {
    let path = dir.join(SIGNING_KEY_FILE);
    let tmp = dir.join(format!(".{SIGNING_KEY_FILE}.tmp"));
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, format!("{}\n", fpr.to_hex()).as_bytes(), 0o644)?;
    fs::rename(&tmp, &path).map_err(io(&path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Writes `cert`'s secret key (mode 0600) and public key into `dir`.
pub(super) fn write_cert(dir: &Path, cert: &Cert) -> Result<(PathBuf, PathBuf), KeyError> {
    let fpr = cert.fingerprint().to_hex();
    let secret = cert
        .as_tsk()
        .armored()
        .to_vec()
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let public = cert
        .armored()
        .to_vec()
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let secret_path = dir.join(format!("gateway-{fpr}.sec.asc"));
    let public_path = dir.join(format!("gateway-{fpr}.pub.asc"));
    write_new(&secret_path, &secret, 0o600)?;
    write_new(&public_path, &public, 0o644)?;
    Ok((secret_path, public_path))
}

pub(super) fn key_files(dir: &Path) -> Result<Vec<PathBuf>, KeyError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let is_file = entry.file_type().map_err(io(&path))?.is_file();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| KEY_EXTENSIONS.contains(&e));
        if is_file && wanted {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

pub(super) fn load_public_dir(dir: &Path) -> Result<Vec<Cert>, KeyError> {
    let mut certs = Vec::new();
    for path in key_files(dir)? {
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read public key file; skipped");
                continue;
            }
        };
        let (found, bad) = super::parse_certs(&bytes);
        if bad > 0 {
            tracing::warn!(path = %path.display(), skipped = bad, "part of a public key file does not parse; skipped");
        }
        // A public directory must not hold secrets: keep only the public half in memory.
        certs.extend(found.into_iter().map(|c| c.strip_secret_key_material()));
    }
    Ok(certs)
}

/// Creates `dir` (mode 0700) when missing, and refuses one that belongs to another
/// user: files written there would belong to us, and the daemon refuses secret key
/// files it does not own (`sudo disclosured keys import` as root is the usual slip).
pub(super) fn prepare_dir(dir: &Path) -> Result<(), KeyError> {
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
    }
    let owner = fs::metadata(dir).map_err(io(dir))?.uid();
    let me = rustix::process::geteuid().as_raw();
    if owner != me {
        return Err(KeyError::ForeignDirectory {
            dir: dir.to_path_buf(),
            owner,
            me,
        });
    }
    Ok(())
}

pub(super) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))?;
    // The umask may have removed bits, never added them; set the mode exactly anyway.
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io(path))
}
