//! Sealing at rest: what a report says is stored encrypted, under a key of its own.
//!
//! - The **store key** (32 random bytes, 64 hex digits in a file or a systemd
//!   credential) never reaches the store. Keys for each purpose are derived from it
//!   with HMAC-SHA256 and a label: the key that wraps data keys, the key of records
//!   that belong to no report, the secret of the keyed hashes, the check value.
//! - Each **report** (and each attachment) has a random **data key**, kept wrapped
//!   (XChaCha20-Poly1305 under the wrapping key) in one slot of the **key pool**, the
//!   file `sealed-keys/pool` beside sled's files, not in sled: sled keeps overwritten
//!   and removed values in its log segments until it happens to rewrite them, so a
//!   key removed from a tree could still be read back. The pool is a header and
//!   slots of [`SLOT`] bytes. Slots are filled ahead, [`BATCH`] at a time with one
//!   sync, so storing a report syncs no key file: a record only ever names a slot
//!   that was on disk before it was handed out. Each process hands out only slots it
//!   filled itself (those of earlier processes may be in use), and a slot handed out
//!   whose record was never stored is merely unused. `reports purge` overwrites the
//!   slot with zeros and syncs (crypto-shredding; what that does on copy-on-write
//!   filesystems and SSDs is in docs/security-model.md).
//! - A **sealed value** is `2`, its data key's slot (8 bytes, big-endian), a random
//!   24-byte nonce and the ciphertext of the clear value (schema byte and JSON).
//!   The associated data binds it to its record kind, its slot and its tree key: a
//!   value moved to another report or another tree does not open.
//!
//! A value that starts with the clear schema byte (`1`) was written before sealing;
//! it is read as it is, and [`Store::seal_existing`] rewrites it sealed.
//!
//! Nothing here touches sled: data keys may be drawn inside a transaction.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
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
/// The key pool's file in [`KEY_DIR`].
pub(crate) const POOL_FILE: &str = "pool";
/// First bytes of the key pool file (then a version byte and seven zeros).
const POOL_MAGIC: &[u8; 8] = b"dsdkpool";
const POOL_HEADER: u64 = 16;
/// Bytes of one slot: [`WRAPPED`], nonce, wrapped key and tag, zeros to 80.
pub(crate) const SLOT: u64 = 80;
/// Slots filled (and synced) at a time.
pub(crate) const BATCH: u64 = 256;
/// First byte of a slot holding a wrapped data key (a destroyed one is all zeros).
const WRAPPED: u8 = 1;
const NONCE: usize = 24;
const KEY: usize = 32;

/// A data key's place in the key pool.
pub(super) type Slot = u64;

/// The "slot" of the data key of records that belong to no report (jobs about
/// intake records, the digest): derived from the store key, never destroyed.
pub(super) const GENERAL: Slot = Slot::MAX;

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

/// How many unwrapped data keys a process keeps at most (about 100 bytes each).
const KEY_CACHE: usize = 4096;

/// The store's sealing: the wrapping key, the data keys met so far, the key pool.
pub(super) struct Sealer {
    dir: PathBuf,
    wrap: Key,
    general: Key,
    mac: Key,
    check: Key,
    /// Data keys unwrapped lately, by slot (at most [`KEY_CACHE`]).
    keys: Mutex<HashMap<Slot, Arc<Key>>>,
    /// Each report's slot, by its tree key, as met in its records or drawn for it.
    reports: Mutex<HashMap<Vec<u8>, Slot>>,
    pool: Mutex<Pool>,
    /// Writes records in clear, as versions before sealing did: only in debug builds
    /// with [`CLEAR_FOR_TESTS`] set, for the tests that make a store of an earlier
    /// version (the migration) or show that their search finds clear text.
    clear: bool,
}

/// The key pool file as this process uses it: opened at first need.
#[derive(Default)]
struct Pool {
    file: Option<File>,
    /// The next slot to hand out; filled ahead up to `end`.
    next: Slot,
    end: Slot,
    /// The keys of the slots this process filled and has not handed out yet.
    fresh: Vec<Key>,
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
            reports: Mutex::default(),
            pool: Mutex::default(),
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

    /// The key pool file, opened (and made, with its header, synced) at first need.
    fn pool_file<'a>(&self, pool: &'a mut Pool) -> Result<&'a File, StoreError> {
        use std::os::unix::fs::OpenOptionsExt;
        if pool.file.is_none() {
            let path = self.dir.join(POOL_FILE);
            self.create_dir()?;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(self.io(&path))?;
            let len = file.metadata().map_err(self.io(&path))?.len();
            if len < POOL_HEADER {
                let mut header = [0u8; POOL_HEADER as usize];
                header[..8].copy_from_slice(POOL_MAGIC);
                header[8] = 1;
                file.write_all_at(&header, 0).map_err(self.io(&path))?;
                file.sync_all().map_err(self.io(&path))?;
                sync_dir(&self.dir).map_err(self.io(&self.dir))?;
            } else {
                let mut magic = [0u8; 8];
                file.read_exact_at(&mut magic, 0).map_err(self.io(&path))?;
                if &magic != POOL_MAGIC {
                    return Err(StoreError::Decode(format!(
                        "{} is not a key pool",
                        path.display()
                    )));
                }
            }
            // Slots of earlier processes may be in use: hand out only new ones (a
            // partly written last slot is passed over too).
            let end = len.saturating_sub(POOL_HEADER).div_ceil(SLOT);
            pool.next = end;
            pool.end = end;
            pool.fresh.clear();
            pool.file = Some(file);
        }
        pool.file
            .as_ref()
            .ok_or_else(|| StoreError::Decode("the key pool is not open".into()))
    }

    /// A new data key for a report or an attachment: its slot. The key itself is on
    /// disk (synced) before this returns; a batch of them is filled at most once per
    /// [`BATCH`] calls.
    pub(super) fn new_slot(&self) -> Result<Slot, StoreError> {
        if self.clear {
            return Ok(GENERAL);
        }
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        self.pool_file(&mut pool)?;
        if pool.next >= pool.end || pool.fresh.is_empty() {
            self.fill(&mut pool)?;
        }
        let slot = pool.next;
        // `fresh` holds the keys of slots next..end, last slot last.
        let key = pool
            .fresh
            .first()
            .cloned()
            .ok_or_else(|| StoreError::Decode("the key pool has no fresh slot".into()))?;
        pool.fresh.remove(0);
        pool.next += 1;
        drop(pool);
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(slot, Arc::new(key));
        Ok(slot)
    }

    /// Writes [`BATCH`] new wrapped keys after the last slot, with one sync.
    fn fill(&self, pool: &mut Pool) -> Result<(), StoreError> {
        let path = self.dir.join(POOL_FILE);
        let start = pool.end;
        let mut bytes = Vec::with_capacity((BATCH * SLOT) as usize);
        let mut fresh = Vec::with_capacity(BATCH as usize);
        for slot in start..start + BATCH {
            let mut key = Key::default();
            rand::rng().fill_bytes(key.as_mut_slice());
            let mut wrapped = self.wrap_key(slot, &key)?;
            wrapped.resize(SLOT as usize, 0);
            bytes.extend_from_slice(&wrapped);
            fresh.push(key);
        }
        let file = self.pool_file(pool)?;
        file.write_all_at(&bytes, POOL_HEADER + start * SLOT)
            .map_err(self.io(&path))?;
        file.sync_data().map_err(self.io(&path))?;
        pool.next = start;
        pool.end = start + BATCH;
        pool.fresh = fresh;
        Ok(())
    }

    /// The data key of `slot`, unwrapped; [`StoreError::Purged`] once destroyed.
    fn data_key(&self, slot: Slot) -> Result<Arc<Key>, StoreError> {
        if slot == GENERAL {
            return Ok(Arc::new(self.general.clone()));
        }
        if let Some(k) = self
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&slot)
        {
            return Ok(k.clone());
        }
        let mut bytes = [0u8; SLOT as usize];
        {
            let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            let file = self.pool_file(&mut pool)?;
            let at = slot
                .checked_mul(SLOT)
                .and_then(|o| o.checked_add(POOL_HEADER))
                .ok_or_else(|| StoreError::Decode(format!("no data key slot {slot}")))?;
            match file.read_exact_at(&mut bytes, at) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(StoreError::Decode(format!(
                        "data key slot {slot} is past the end of the key pool"
                    )));
                }
                Err(e) => return Err(self.io(&self.dir.join(POOL_FILE))(e)),
            }
        }
        if bytes.first() != Some(&WRAPPED) {
            return Err(StoreError::Purged(format!("slot {slot}")));
        }
        let key = Arc::new(self.unwrap_key(slot, &bytes)?);
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        // Bounded: a listing unwraps every report's key once, and a cache of them all
        // would grow with the store. Unwrapping again costs a read of the pool file
        // (in the page cache) and one AEAD open of 32 bytes.
        if keys.len() >= KEY_CACHE {
            keys.clear();
        }
        keys.insert(slot, key.clone());
        Ok(key)
    }

    fn wrap_key(&self, slot: Slot, key: &Key) -> Result<Vec<u8>, StoreError> {
        let mut out = vec![WRAPPED];
        out.extend_from_slice(&aead_seal(&self.wrap, &wrap_ad(slot), key.as_slice())?);
        Ok(out)
    }

    fn unwrap_key(&self, slot: Slot, bytes: &[u8]) -> Result<Key, StoreError> {
        let bad =
            || StoreError::Decode(format!("the wrapped data key of slot {slot} does not open"));
        let Some((&WRAPPED, rest)) = bytes.split_first() else {
            return Err(bad());
        };
        let rest = rest.get(..NONCE + KEY + 16).ok_or_else(bad)?;
        let plain = Zeroizing::new(aead_open(&self.wrap, &wrap_ad(slot), rest).ok_or_else(bad)?);
        let mut key = Key::default();
        if plain.len() != KEY {
            return Err(bad());
        }
        key.copy_from_slice(&plain);
        Ok(key)
    }

    /// The slot a sealed value names (none for a clear value).
    pub(super) fn slot_of(value: &[u8]) -> Option<Slot> {
        let (&SEALED, rest) = value.split_first()? else {
            return None;
        };
        let bytes: [u8; 8] = rest.get(..8)?.try_into().ok()?;
        Some(Slot::from_be_bytes(bytes))
    }

    /// The slot of the report at `report_key`, when met in this process.
    pub(super) fn known(&self, report_key: &[u8]) -> Option<Slot> {
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(report_key)
            .copied()
    }

    /// Notes the slot of the report at `report_key`.
    pub(super) fn remember(&self, report_key: &[u8], slot: Slot) {
        if slot != GENERAL {
            self.reports
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(report_key.to_vec(), slot);
        }
    }

    /// Seals `clear` (a value as [`super::encode`] makes it) as a record of `kind`
    /// under the data key of `slot`, at `tree_key`.
    pub(super) fn seal(
        &self,
        kind: Kind,
        slot: Slot,
        tree_key: &[u8],
        clear: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        if self.clear {
            return Ok(clear.to_vec());
        }
        let key = self.data_key(slot)?;
        let mut out = Vec::with_capacity(clear.len() + 64);
        out.push(SEALED);
        out.extend_from_slice(&slot.to_be_bytes());
        out.extend_from_slice(&aead_seal(&key, &record_ad(kind, slot, tree_key), clear)?);
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
        let (slot, sealed) = rest
            .split_at_checked(8)
            .ok_or_else(|| bad("is cut short"))?;
        let slot = Slot::from_be_bytes(slot.try_into().map_err(|_| bad("is cut short"))?);
        let key = self.data_key(slot)?;
        let clear = aead_open(&key, &record_ad(kind, slot, tree_key), sealed)
            .ok_or_else(|| bad("does not open (altered, or moved from another record)"))?;
        // A whole report is opened to be changed, and its jobs then need its slot; a
        // head is opened by listings, which read every report once: remembering those
        // would keep a map of the whole store in memory.
        if matches!(kind, Kind::Report) {
            self.remember(tree_key, slot);
        }
        Ok(clear)
    }

    /// Destroys a data key: its slot is overwritten with zeros and the pool synced.
    /// What it sealed cannot be opened any more, wherever a copy of it lies.
    pub(super) fn destroy(&self, slot: Slot) -> Result<bool, StoreError> {
        if slot == GENERAL {
            return Ok(false);
        }
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&slot);
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, s| *s != slot);
        let path = self.dir.join(POOL_FILE);
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let file = self.pool_file(&mut pool)?;
        let Some(at) = slot
            .checked_mul(SLOT)
            .and_then(|o| o.checked_add(POOL_HEADER))
        else {
            return Ok(false);
        };
        let mut first = [0u8; 1];
        match file.read_exact_at(&mut first, at) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(self.io(&path)(e)),
        }
        if first[0] != WRAPPED {
            return Ok(false);
        }
        file.write_all_at(&[0u8; SLOT as usize], at)
            .map_err(self.io(&path))?;
        file.sync_data().map_err(self.io(&path))?;
        Ok(true)
    }

    /// The files of the key directory (name, bytes) for a backup: the check file
    /// first, then the key pool.
    pub(super) fn wrapped_files(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for name in [CHECK_FILE, POOL_FILE] {
            let path = self.dir.join(name);
            match std::fs::read(&path) {
                Ok(bytes) => out.push((name.to_string(), bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io(&path)(e)),
            }
        }
        Ok(out)
    }

    /// Writes a file of the key directory from a backup being restored, after
    /// checking that this store key opens it (the check file must match).
    pub(super) fn restore_file(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        match name {
            CHECK_FILE => {
                if bytes != hmac(self.check.as_slice(), b"check").as_slice() {
                    return Err(StoreError::WrongKey);
                }
            }
            POOL_FILE => {
                if bytes.get(..8) != Some(POOL_MAGIC.as_slice()) {
                    return Err(StoreError::Decode(
                        "the backup's key pool has no key pool header".into(),
                    ));
                }
            }
            _ => {
                return Err(StoreError::Decode(format!(
                    "a backup names a data key file {name:?}"
                )));
            }
        }
        self.create_dir()?;
        self.write_file(name, bytes)?;
        // The pool is read again from the restored file.
        *self.pool.lock().unwrap_or_else(PoisonError::into_inner) = Pool::default();
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        Ok(())
    }

    /// How many slots the key pool has, and how many of them hold a key (for the
    /// tests and `doctor`).
    #[cfg(test)]
    pub(super) fn pool_counts(&self) -> Result<(u64, u64), StoreError> {
        let bytes = match std::fs::read(self.dir.join(POOL_FILE)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
            Err(e) => return Err(self.io(&self.dir)(e)),
        };
        let slots = bytes
            .get(POOL_HEADER as usize..)
            .unwrap_or_default()
            .chunks(SLOT as usize);
        let total = slots.len() as u64;
        let live = slots.filter(|s| s.first() == Some(&WRAPPED)).count() as u64;
        Ok((total, live))
    }
}

/// How many slots a file of the key directory holds (none but in the pool).
pub(super) fn pool_slots(name: &str, bytes: &[u8]) -> u64 {
    if name != POOL_FILE {
        return 0;
    }
    (bytes.len() as u64)
        .saturating_sub(POOL_HEADER)
        .div_ceil(SLOT)
}

fn wrap_ad(slot: Slot) -> Vec<u8> {
    let mut ad = b"disclosured data key slot\0".to_vec();
    ad.extend_from_slice(&slot.to_be_bytes());
    ad
}

fn record_ad(kind: Kind, slot: Slot, tree_key: &[u8]) -> Vec<u8> {
    let mut ad = b"disclosured record\0".to_vec();
    ad.push(kind as u8);
    ad.extend_from_slice(&slot.to_be_bytes());
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
        let slot = s.new_slot().unwrap();
        let sealed = s
            .seal(Kind::Report, slot, b"k1", b"\x01{\"canary\":1}")
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
        // A fresh handle with the right key reads the slot from the pool file.
        let again = Sealer::new(dir.path(), &StoreKey::for_tests(7));
        assert!(again.open(Kind::Report, b"k1", &sealed).is_ok());
        // Destroyed: gone for good, also for a fresh handle with the right key.
        assert!(s.destroy(slot).unwrap());
        assert!(!s.destroy(slot).unwrap(), "destroyed once");
        let fresh = Sealer::new(dir.path(), &StoreKey::for_tests(7));
        assert!(matches!(
            fresh.open(Kind::Report, b"k1", &sealed),
            Err(StoreError::Purged(_))
        ));
    }

    /// A listing opens every head once: the process keeps at most [`KEY_CACHE`] data
    /// keys and remembers no report's slot from a head, so its memory does not grow
    /// with the store; every value still opens, from the pool file when not cached.
    #[test]
    fn reading_every_head_keeps_a_bounded_key_cache_and_no_slot_map() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sealer::new(dir.path(), &StoreKey::for_tests(7));
        s.check_or_adopt().unwrap();
        let n = KEY_CACHE + 300;
        let heads: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
            .map(|i| {
                let key = format!("r{i}").into_bytes();
                let slot = s.new_slot().unwrap();
                let sealed = s.seal(Kind::Head, slot, &key, b"\x01{}").unwrap();
                (key, sealed)
            })
            .collect();
        let reader = Sealer::new(dir.path(), &StoreKey::for_tests(7));
        for _ in 0..2 {
            for (key, sealed) in &heads {
                assert_eq!(reader.open(Kind::Head, key, sealed).unwrap(), b"\x01{}");
            }
        }
        assert!(reader.keys.lock().unwrap().len() <= KEY_CACHE);
        assert!(reader.reports.lock().unwrap().is_empty());
        // A whole report opened (to be changed) is remembered: its jobs need its slot.
        let slot = reader.new_slot().unwrap();
        let report = reader
            .seal(Kind::Report, slot, b"r-full", b"\x01{}")
            .unwrap();
        reader.open(Kind::Report, b"r-full", &report).unwrap();
        assert_eq!(reader.known(b"r-full"), Some(slot));
    }

    #[test]
    fn the_pool_is_filled_a_batch_at_a_time_and_a_new_process_never_reuses_a_slot() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sealer::new(dir.path(), &StoreKey::for_tests(7));
        s.check_or_adopt().unwrap();
        let first: Vec<Slot> = (0..3).map(|_| s.new_slot().unwrap()).collect();
        assert_eq!(first, vec![0, 1, 2]);
        // One batch on disk, every slot holding a wrapped key.
        assert_eq!(s.pool_counts().unwrap(), (BATCH, BATCH));
        let path = dir.path().join(KEY_DIR).join(POOL_FILE);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            POOL_HEADER + BATCH * SLOT
        );
        for _ in 3..BATCH + 1 {
            s.new_slot().unwrap();
        }
        assert_eq!(s.pool_counts().unwrap(), (2 * BATCH, 2 * BATCH));
        // The next process (after a crash, say) starts after every slot on disk,
        // even after a batch cut short by the crash.
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all_at(&[1u8; 30], POOL_HEADER + 2 * BATCH * SLOT)
            .unwrap();
        drop(f);
        let next = Sealer::new(dir.path(), &StoreKey::for_tests(7));
        assert_eq!(next.new_slot().unwrap(), 2 * BATCH + 1);
        // Its keys are its own: each slot's key opens only what it sealed.
        let a = next
            .seal(Kind::Job, 2 * BATCH + 1, b"j", b"\x01{}")
            .unwrap();
        let b = s.seal(Kind::Job, 0, b"j", b"\x01{}").unwrap();
        assert_ne!(a.get(1..9), b.get(1..9));
        assert!(next.open(Kind::Job, b"j", &b).is_ok());
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
