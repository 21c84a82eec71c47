//! Sealing at rest: what a report says is stored encrypted, under a key of its own.
//!
//! - The **store key** (32 random bytes, 64 hex digits in a file or a systemd
//!   credential) never reaches the store. Keys for each purpose are derived from it
//!   with HMAC-SHA256 and a label: the key that wraps data keys, the key of records
//!   that belong to no report, the secret of the keyed hashes, the check value.
//! - Each **report** (and each attachment) has a random **data key**, kept wrapped
//!   (XChaCha20-Poly1305 under the wrapping key) in a small file of its own in
//!   `sealed-keys/` beside sled's files, not in sled: sled keeps overwritten and
//!   removed values in its log segments until it happens to rewrite them, so a key
//!   removed from a tree could still be read back. Deleting the file is final; that
//!   is what `reports purge` does (crypto-shredding).
//! - A **sealed value** is `2`, the length and name of its data key, a random
//!   24-byte nonce and the ciphertext of the clear value (schema byte and JSON).
//!   The associated data binds it to its record kind, its data key's name and its
//!   tree key: a value moved to another report or another tree does not open.
//!
//! A value that starts with the clear schema byte (`1`) was written before sealing;
//! it is read as it is, and [`Store::seal_existing`] rewrites it sealed.
//!
//! Nothing here touches sled: data keys may be looked up inside a transaction.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::StoreError;

/// First byte of a sealed value (a clear one starts with [`super::SCHEMA`]).
pub(super) const SEALED: u8 = 2;
/// The directory of wrapped data keys, inside the store's directory.
pub(crate) const KEY_DIR: &str = "sealed-keys";
/// The file in [`KEY_DIR`] that tells the right store key from a wrong one; its
/// presence marks a store whose records are sealed.
pub(crate) const CHECK_FILE: &str = "check";
/// Version byte of a wrapped data key file.
const WRAPPED: u8 = 1;
const NONCE: usize = 24;
const KEY: usize = 32;
/// The name of the data key of records that belong to no report (jobs about intake
/// records, the digest): derived from the store key, never destroyed.
const GENERAL: &str = "";

/// What kind of record a sealed value is (part of its associated data).
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Report = 1,
    Head = 2,
    Job = 3,
    Attachment = 4,
    Intake = 5,
}

/// First byte of an index key that is a keyed hash (see [`Sealer::index_key`]).
pub(super) const KEYED: u8 = b'#';

/// A 256-bit key, wiped from memory when dropped.
type Key = Zeroizing<[u8; KEY]>;

/// The store key. Never in the configuration text, never logged.
pub struct StoreKey(Key);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

/// Why a text is not a store key (the text itself is never repeated).
#[derive(Debug, thiserror::Error)]
#[error(
    "is not a store key: expected 64 hex digits (32 random bytes), as `disclosured keys generate` writes"
)]
pub struct NotAStoreKey;

impl StoreKey {
    /// A store key as written in its file: 64 hex digits, surrounding space ignored.
    pub fn parse(text: &str) -> Result<StoreKey, NotAStoreKey> {
        let text = text.trim();
        let mut key = Key::default();
        hex::decode_to_slice(text, key.as_mut_slice()).map_err(|_| NotAStoreKey)?;
        Ok(StoreKey(key))
    }

    /// A new random store key and its text (for its file).
    pub fn generate() -> (StoreKey, Zeroizing<String>) {
        let mut key = Key::default();
        rand::rng().fill_bytes(key.as_mut_slice());
        let text = Zeroizing::new(format!("{}\n", hex::encode(key.as_slice())));
        (StoreKey(key), text)
    }

    /// Writes a new store key to `path` (mode 0600, refused if the file exists).
    pub fn create_file(path: &Path) -> std::io::Result<StoreKey> {
        use std::os::unix::fs::OpenOptionsExt;
        let (key, text) = StoreKey::generate();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))?;
        Ok(key)
    }

    /// The key for one purpose: HMAC-SHA256 of the label under the store key.
    fn derive(&self, label: &str) -> Key {
        let mut out = Key::default();
        out.copy_from_slice(&hmac(self.0.as_slice(), label.as_bytes()));
        out
    }

    /// A key like this one, for the tests.
    #[cfg(test)]
    pub(crate) fn for_tests(byte: u8) -> StoreKey {
        StoreKey(Zeroizing::new([byte; KEY]))
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The store's sealing: the wrapping key, the data keys met so far, their directory.
pub(super) struct Sealer {
    dir: PathBuf,
    wrap: Key,
    general: Key,
    mac: Key,
    check: Key,
    /// Data keys unwrapped so far (listings read every head).
    keys: Mutex<HashMap<String, Arc<Key>>>,
    /// Writes records in clear, as versions before sealing did: only in debug builds
    /// with [`CLEAR_FOR_TESTS`] set, for the tests that make a store of an earlier
    /// version (the migration) or show that their search finds clear text.
    clear: bool,
}

/// Set (to anything) in a debug build: the store writes in clear, as before sealing.
#[cfg(debug_assertions)]
pub(crate) const CLEAR_FOR_TESTS: &str = "DISCLOSURED_TEST_WRITE_CLEAR";

impl Sealer {
    pub(super) fn new(store_dir: &Path, key: &StoreKey) -> Sealer {
        Sealer {
            dir: store_dir.join(KEY_DIR),
            wrap: key.derive("disclosured wrap data keys v1"),
            general: key.derive("disclosured records of no report v1"),
            mac: key.derive("disclosured keyed hashes v1"),
            check: key.derive("disclosured store key check v1"),
            keys: Mutex::default(),
            #[cfg(debug_assertions)]
            clear: std::env::var_os(CLEAR_FOR_TESTS).is_some(),
            #[cfg(not(debug_assertions))]
            clear: false,
        }
    }

    /// The same, writing in clear: for the tests of the migration and the baseline
    /// of `benches/seal_cost.rs`.
    pub(super) fn writing_clear(mut self) -> Sealer {
        self.clear = true;
        self
    }

    /// Whether this store writes in clear (see [`CLEAR_FOR_TESTS`]).
    pub(super) fn writes_clear(&self) -> bool {
        self.clear
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.display().to_string();
        move |source| StoreError::Io { path, source }
    }

    /// Whether the store holds sealed records (its check file exists).
    pub(super) fn is_sealed_store(store_dir: &Path) -> bool {
        store_dir.join(KEY_DIR).join(CHECK_FILE).is_file()
    }

    /// Refuses a store key that is not the one the store was sealed with; on a
    /// store not sealed yet, records this key as its own.
    pub(super) fn check_or_adopt(&self) -> Result<(), StoreError> {
        let path = self.dir.join(CHECK_FILE);
        if self.clear && !path.exists() {
            return Ok(());
        }
        match std::fs::read(&path) {
            Ok(bytes) => {
                let expected = hmac(self.check.as_slice(), b"check");
                if bytes.as_slice() == expected.as_slice() {
                    Ok(())
                } else {
                    Err(StoreError::WrongKey)
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.create_dir()?;
                let value = hmac(self.check.as_slice(), b"check");
                self.write_file(CHECK_FILE, &value)
            }
            Err(e) => Err(self.io(&path)(e)),
        }
    }

    fn create_dir(&self) -> Result<(), StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(self.io(&self.dir)(e)),
        }
    }

    /// Writes a file of the key directory whole or not at all, durably.
    fn write_file(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.new"));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            sync_dir(&self.dir)
        };
        write().map_err(self.io(&path))
    }

    /// The keyed hash (hex) of a value kept only to be found again: an address, a
    /// Message-ID, a content hash.
    pub(super) fn keyed_hash(&self, value: &[u8]) -> String {
        hex::encode(hmac(self.mac.as_slice(), value))
    }

    /// The key, in an index tree (`msgids`, `hashes`, `threads`, `notice_times`), of a
    /// Message-ID, content hash or address: `#` and its keyed hash, so the store
    /// finds it again without holding it (the value itself when writing in clear).
    pub(super) fn index_key(&self, value: &[u8]) -> Vec<u8> {
        if self.clear {
            return value.to_vec();
        }
        let mut k = Vec::with_capacity(33);
        k.push(KEYED);
        k.extend_from_slice(&hmac(self.mac.as_slice(), value));
        k
    }

    /// Whether `key` of an index tree is a keyed hash (else a value an earlier
    /// version wrote in clear).
    pub(super) fn is_index_key(key: &[u8]) -> bool {
        key.len() == 33 && key.first() == Some(&KEYED)
    }

    /// The data key called `name`, unwrapped; created when `create` and missing.
    fn data_key(&self, name: &str, create: bool) -> Result<Option<Arc<Key>>, StoreError> {
        if name == GENERAL {
            return Ok(Some(Arc::new(self.general.clone())));
        }
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = keys.get(name) {
            return Ok(Some(k.clone()));
        }
        let path = self.dir.join(name);
        let key = match std::fs::read(&path) {
            Ok(bytes) => self.unwrap_key(name, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let mut key = Key::default();
                rand::rng().fill_bytes(key.as_mut_slice());
                self.create_dir()?;
                self.write_file(name, &self.wrap_key(name, &key)?)?;
                key
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(&path)(e)),
        };
        let key = Arc::new(key);
        keys.insert(name.to_string(), key.clone());
        Ok(Some(key))
    }

    fn wrap_key(&self, name: &str, key: &Key) -> Result<Vec<u8>, StoreError> {
        let mut out = vec![WRAPPED];
        out.extend_from_slice(&aead_seal(&self.wrap, &wrap_ad(name), key.as_slice())?);
        Ok(out)
    }

    fn unwrap_key(&self, name: &str, bytes: &[u8]) -> Result<Key, StoreError> {
        let bad = || StoreError::Decode(format!("the wrapped data key {name} does not open"));
        let Some((&WRAPPED, rest)) = bytes.split_first() else {
            return Err(bad());
        };
        let plain = Zeroizing::new(aead_open(&self.wrap, &wrap_ad(name), rest).ok_or_else(bad)?);
        let mut key = Key::default();
        if plain.len() != KEY {
            return Err(bad());
        }
        key.copy_from_slice(&plain);
        Ok(key)
    }

    /// Seals `clear` (a value as [`super::encode`] makes it) as a record of `kind`
    /// under the data key `name`, at `tree_key`; the key is created if need be.
    pub(super) fn seal(
        &self,
        kind: Kind,
        name: &str,
        tree_key: &[u8],
        clear: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        if self.clear {
            return Ok(clear.to_vec());
        }
        let key = self
            .data_key(name, true)?
            .ok_or_else(|| StoreError::Decode(format!("no data key {name}")))?;
        let name_len = u8::try_from(name.len())
            .map_err(|_| StoreError::Decode(format!("data key name {name} too long")))?;
        let mut out = Vec::with_capacity(clear.len() + 64);
        out.push(SEALED);
        out.push(name_len);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&aead_seal(&key, &record_ad(kind, name, tree_key), clear)?);
        Ok(out)
    }

    /// The clear value of a sealed one (a clear value is returned as it is).
    /// [`StoreError::Purged`] when its data key was destroyed.
    pub(super) fn open(
        &self,
        kind: Kind,
        tree_key: &[u8],
        value: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let Some((&SEALED, rest)) = value.split_first() else {
            return Ok(value.to_vec());
        };
        let bad = |what: &str| StoreError::Decode(format!("a sealed value {what}"));
        let (&len, rest) = rest.split_first().ok_or_else(|| bad("is cut short"))?;
        let (name, sealed) = rest
            .split_at_checked(usize::from(len))
            .ok_or_else(|| bad("is cut short"))?;
        let name = std::str::from_utf8(name).map_err(|_| bad("names no data key"))?;
        let key = self
            .data_key(name, false)?
            .ok_or_else(|| StoreError::Purged(name.to_string()))?;
        aead_open(&key, &record_ad(kind, name, tree_key), sealed)
            .ok_or_else(|| bad("does not open (altered, or moved from another record)"))
    }

    /// Destroys a data key: its file is removed and the directory synced. What it
    /// sealed cannot be opened any more, wherever a copy of it lies.
    pub(super) fn destroy(&self, name: &str) -> Result<bool, StoreError> {
        if name == GENERAL {
            return Ok(false);
        }
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        let path = self.dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(&self.dir).map_err(self.io(&self.dir))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io(&path)(e)),
        }
    }

    /// Every wrapped data key file (name, bytes), for a backup; the check file
    /// included.
    pub(super) fn wrapped_files(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&self.dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(self.io(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let bytes = std::fs::read(entry.path()).map_err(self.io(&entry.path()))?;
            out.push((name, bytes));
        }
        out.sort();
        Ok(out)
    }

    /// Writes a wrapped key file of a backup being restored, after checking that it
    /// opens with this store key (the check file must match).
    pub(super) fn restore_file(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        if name.is_empty() || name.starts_with('.') || name.contains('/') {
            return Err(StoreError::Decode(format!(
                "a backup names a data key file {name:?}"
            )));
        }
        if name == CHECK_FILE {
            if bytes != hmac(self.check.as_slice(), b"check").as_slice() {
                return Err(StoreError::WrongKey);
            }
        } else {
            self.unwrap_key(name, bytes)?;
        }
        self.create_dir()?;
        self.write_file(name, bytes)
    }
}

/// The data key name of a report (by its tree key).
pub(super) fn report_key_name(key: &[u8]) -> String {
    format!("r-{}", hex::encode(key))
}

/// The data key name of an attachment (by its keyed hash).
pub(super) fn attachment_key_name(keyed: &str) -> String {
    format!("a-{keyed}")
}

/// The data key name of records that belong to no report.
pub(super) fn general_key_name() -> &'static str {
    GENERAL
}

fn wrap_ad(name: &str) -> Vec<u8> {
    let mut ad = b"disclosured data key\0".to_vec();
    ad.extend_from_slice(name.as_bytes());
    ad
}

fn record_ad(kind: Kind, name: &str, tree_key: &[u8]) -> Vec<u8> {
    let mut ad = b"disclosured record\0".to_vec();
    ad.push(kind as u8);
    ad.extend_from_slice(name.as_bytes());
    ad.push(0);
    ad.extend_from_slice(tree_key);
    ad
}

fn aead_seal(key: &Key, ad: &[u8], clear: &[u8]) -> Result<Vec<u8>, StoreError> {
    let cipher = XChaCha20Poly1305::new(key.as_slice().into());
    let mut nonce = [0u8; NONCE];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: clear,
                aad: ad,
            },
        )
        .map_err(|_| StoreError::Decode("sealing a value failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn aead_open(key: &Key, ad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let (nonce, ct) = sealed.split_at_checked(NONCE)?;
    let cipher = XChaCha20Poly1305::new(key.as_slice().into());
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: ad })
        .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_where_it_was_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sealer::new(dir.path(), &StoreKey::for_tests(7));
        s.check_or_adopt().unwrap();
        let name = report_key_name(b"\x07\xea\0\0\0\x01");
        let sealed = s
            .seal(Kind::Report, &name, b"k1", b"\x01{\"canary\":1}")
            .unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"canary"));
        assert_eq!(
            s.open(Kind::Report, b"k1", &sealed).unwrap(),
            b"\x01{\"canary\":1}"
        );
        // Another record's place, or another kind: refused.
        assert!(s.open(Kind::Report, b"k2", &sealed).is_err());
        assert!(s.open(Kind::Head, b"k1", &sealed).is_err());
        // Another store key: the wrapped data key does not open.
        let other = Sealer::new(dir.path(), &StoreKey::for_tests(8));
        assert!(matches!(other.check_or_adopt(), Err(StoreError::WrongKey)));
        assert!(other.open(Kind::Report, b"k1", &sealed).is_err());
        // Destroyed: gone for good, also for a fresh handle with the right key.
        assert!(s.destroy(&name).unwrap());
        let fresh = Sealer::new(dir.path(), &StoreKey::for_tests(7));
        assert!(matches!(
            fresh.open(Kind::Report, b"k1", &sealed),
            Err(StoreError::Purged(_))
        ));
    }

    #[test]
    fn store_key_text_round_trips_and_junk_is_refused() {
        let (key, text) = StoreKey::generate();
        let again = StoreKey::parse(&text).unwrap();
        assert_eq!(key.0.as_slice(), again.0.as_slice());
        assert!(StoreKey::parse("not a key").is_err());
        assert!(StoreKey::parse(&"ab".repeat(31)).is_err());
    }
}
