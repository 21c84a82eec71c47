//! Publishing the channel: the static tree `disclosured publish DIR` writes and the
//! daemon keeps current, which any web server serves as it is.
//!
//! - `.well-known/security.txt` (RFC 9116), cleartext-signed by the gateway key.
//! - `.well-known/openpgpkey/`: the Web Key Directory, advanced and direct layouts
//!   ([`wkd`]), holding every gateway key with the gateway's address (the signing key
//!   first, then older ones revoked as superseded by it) with that user ID only.
//! - `security-key.asc`: the signing key, armored.
//! - `security-policy.md` and `security-policy.html`: the policy page ([`page`],
//!   rendered by [`markup`]) with the hall of fame ([`credits`]).
//!
//! Building the tree is pure ([`build`]); [`files`] writes it, each file atomically.
//! Nothing here touches the store but [`credits::credited_researchers`]; the pipeline
//! reads the credits and hands them in.

pub(crate) mod credits;
mod files;
pub(crate) mod markup;
pub(crate) mod page;
pub(crate) mod security_txt;
pub(crate) mod wkd;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::config::publish::{KEY_FILE, POLICY_HTML, POLICY_MD};
use crate::crypto::{Keyring, publication};

/// Where security.txt goes in the tree.
pub(crate) const SECURITY_TXT: &str = ".well-known/security.txt";

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the gateway has no signing key (run `disclosured keys generate`)")]
    NoSigningKey,
    #[error("cannot sign security.txt: {0}")]
    Sign(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The files of the tree, by path relative to its root.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    /// When the security.txt in it expires.
    pub expires: Option<DateTime<Utc>>,
    /// Fingerprints of the keys in the WKD, the signing key first.
    pub wkd_keys: Vec<String>,
    /// Those among them published revoked (superseded by the signing key).
    pub revoked: Vec<String>,
}

/// The whole tree as of `now`, signed by the keyring's signing key.
pub(crate) fn build(
    settings: &Settings,
    keyring: &Keyring,
    credits: &[credits::Credit],
    now: DateTime<Utc>,
) -> Result<Tree, PublishError> {
    let signing = keyring.signing_cert().ok_or(PublishError::NoSigningKey)?;
    let fingerprint = signing.fingerprint().to_hex();
    let address = &settings.gateway.address;
    let mut tree = Tree::default();

    let text = security_txt::text(&settings.publish, address, &fingerprint, now);
    tree.expires = security_txt::expires(&text);
    let signed =
        publication::clearsign(keyring, &text).map_err(|e| PublishError::Sign(e.to_string()))?;
    tree.files.insert(SECURITY_TXT.into(), signed);

    let armored = keyring
        .public_key_armored()
        .ok_or(PublishError::NoSigningKey)?;
    tree.files.insert(KEY_FILE.into(), armored);

    // The WKD: the signing key first, then every other gateway key for the address
    // (after `keys rotate`, the old key beside the new one), revoked as superseded by
    // the signing key so that clients encrypt to that one.
    let mut wkd = Vec::new();
    let others = keyring
        .gateway_keys()
        .iter()
        .map(|g| &g.cert)
        .filter(|c| c.fingerprint() != signing.fingerprint());
    for cert in std::iter::once(signing).chain(others) {
        let current = cert.fingerprint() == signing.fingerprint();
        let published = if current {
            None
        } else {
            publication::superseded(cert, &signing.fingerprint())
        };
        let only = publication::for_address(published.as_ref().unwrap_or(cert), address);
        if only.userids().next().is_none() {
            continue;
        }
        use sequoia_openpgp::serialize::Serialize as _;
        if only.serialize(&mut wkd).is_ok() {
            tree.wkd_keys.push(cert.fingerprint().to_hex());
            if published.is_some() {
                tree.revoked.push(cert.fingerprint().to_hex());
            }
        }
    }
    if let Some((keys, policies)) = wkd::paths(address)
        && !wkd.is_empty()
    {
        for k in keys {
            tree.files.insert(k, wkd.clone());
        }
        for p in policies {
            tree.files.insert(p, Vec::new());
        }
    }

    let page = page::policy_page(settings, Some(&fingerprint), Some(credits));
    let lang = settings
        .publish
        .languages
        .first()
        .map_or("en", String::as_str);
    tree.files
        .insert(POLICY_MD.into(), markup::markdown(&page).into_bytes());
    tree.files
        .insert(POLICY_HTML.into(), markup::html(&page, lang).into_bytes());
    Ok(tree)
}

/// Builds the tree and writes it into `dir`.
pub(crate) fn publish(
    settings: &Settings,
    keyring: &Keyring,
    credits: &[credits::Credit],
    dir: &Path,
    now: DateTime<Utc>,
) -> Result<Tree, PublishError> {
    let tree = build(settings, keyring, credits, now)?;
    files::write_tree(dir, &tree)?;
    Ok(tree)
}

/// What is wrong with a published security.txt, as `doctor` and the daemon see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Staleness {
    /// None was published in the directory (or it cannot be read).
    Missing,
    /// Its signature is not a good one by the current signing key (tampered, or the
    /// key was rotated since).
    SignatureMismatch,
    /// It has no `Expires:` that parses.
    NoExpiry,
    /// It expires at this time, which is within the window asked about.
    ExpiresSoon(DateTime<Utc>),
}

impl std::fmt::Display for Staleness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Staleness::Missing => write!(f, "no security.txt published"),
            Staleness::SignatureMismatch => write!(
                f,
                "its signature is not a good one by the current signing key"
            ),
            Staleness::NoExpiry => write!(f, "it has no Expires: field"),
            Staleness::ExpiresSoon(at) => write!(
                f,
                "it expires {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        }
    }
}

/// Checks the security.txt published in `dir` against the current signing key and
/// `now + within`. `Ok(expires)` when it is good beyond that window.
pub(crate) fn check(
    dir: &Path,
    keyring: &Keyring,
    now: DateTime<Utc>,
    within: chrono::TimeDelta,
) -> Result<DateTime<Utc>, Staleness> {
    let bytes = std::fs::read(dir.join(SECURITY_TXT)).map_err(|_| Staleness::Missing)?;
    let cert = keyring.signing_cert().ok_or(Staleness::SignatureMismatch)?;
    let text = publication::verify_clearsigned(&bytes, cert).ok_or(Staleness::SignatureMismatch)?;
    let expires =
        security_txt::expires(&String::from_utf8_lossy(&text)).ok_or(Staleness::NoExpiry)?;
    if expires <= now + within {
        return Err(Staleness::ExpiresSoon(expires));
    }
    Ok(expires)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;
