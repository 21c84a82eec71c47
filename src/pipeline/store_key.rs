//! The store key, as the daemon and the commands get it: read from its file or
//! systemd credential, or created in its file for a store that holds no sealed record
//! yet (a new store, or one an earlier version wrote in clear, which is then sealed).
//! A store that holds sealed records is never given a new key: without its own the
//! daemon does not start, and nothing of the store is read or written.

use std::path::Path;

use crate::config::{Secret, SecretError, StoreSettings};
use crate::store::{Store, StoreError, StoreKey};

/// Why the store key could not be had; each names the file or credential.
#[derive(Debug, thiserror::Error)]
pub enum StoreKeyError {
    #[error(
        "store key {place}: missing; the store {store} is sealed with a store key (or is not made yet) and nothing of it is read or written without it: put the key back (from the copy kept apart from the backups), set store.key_file / store.key_credential to where it is, or, for a new gateway, run `disclosured keys generate`"
    )]
    Missing { place: String, store: String },
    #[error("store key {place}: {source}")]
    Read {
        place: String,
        #[source]
        source: SecretError,
    },
    #[error("store key {place}: {source}")]
    Invalid {
        place: String,
        #[source]
        source: crate::store::NotAStoreKey,
    },
    #[error(
        "store key {place}: it does not open the store {store}, which was sealed with another store key; nothing was read or written"
    )]
    Wrong { place: String, store: String },
    #[error("store key {place}: could not create it: {source}")]
    Create {
        place: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where the key is read from, as errors and logs name it (never the key itself).
pub(crate) fn place(secret: &Secret) -> String {
    match secret {
        Secret::File(p) => format!("file {} (store.key_file)", p.display()),
        Secret::Credential(name) => format!("credential {name:?} (store.key_credential)"),
    }
}

/// The store key of `settings`: read, or, when `create`, created in its file when
/// the store holds no sealed record (see the module doc).
pub(crate) fn load(settings: &StoreSettings, create: bool) -> Result<StoreKey, StoreKeyError> {
    let where_ = place(&settings.key);
    if let Secret::File(path) = &settings.key
        && std::fs::symlink_metadata(path).is_err()
    {
        if !create || Store::is_sealed(&settings.path) {
            return Err(StoreKeyError::Missing {
                place: where_,
                store: settings.path.display().to_string(),
            });
        }
        return create_file(path, where_);
    }
    let text =
        zeroize::Zeroizing::new(settings.key.read().map_err(|source| StoreKeyError::Read {
            place: where_.clone(),
            source,
        })?);
    StoreKey::parse(&text).map_err(|source| StoreKeyError::Invalid {
        place: where_,
        source,
    })
}

fn create_file(path: &Path, place: String) -> Result<StoreKey, StoreKeyError> {
    let key = StoreKey::create_file(path).map_err(|source| StoreKeyError::Create {
        place: place.clone(),
        source,
    })?;
    tracing::info!(
        file = %path.display(),
        "created the store key that seals reports at rest; keep a copy apart from the backups: a restore needs it"
    );
    Ok(key)
}

/// Turns the store's refusal of a key into an error naming where the key came from.
pub(crate) fn explain(settings: &StoreSettings, e: StoreError) -> super::PipelineError {
    match e {
        StoreError::WrongKey => super::PipelineError::StoreKey(StoreKeyError::Wrong {
            place: place(&settings.key),
            store: settings.path.display().to_string(),
        }),
        other => other.into(),
    }
}

/// Opens the store with its key, created if need be (see [`load`]).
pub(crate) fn open_store(settings: &StoreSettings) -> Result<Store, super::PipelineError> {
    let key = load(settings, true)?;
    Store::open_with_cache(&settings.path, &key, settings.cache_bytes)
        .map_err(|e| explain(settings, e))
}

/// Opens an existing store with its key, creating nothing (see
/// [`Store::open_existing`]): for the commands that only look.
pub(crate) fn open_existing(settings: &StoreSettings) -> Result<Store, super::PipelineError> {
    Store::check_exists(&settings.path)?;
    let key = load(settings, false)?;
    Store::open_with_cache(&settings.path, &key, settings.cache_bytes)
        .map_err(|e| explain(settings, e))
}
