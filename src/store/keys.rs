//! Reporters' certificates learnt from mail that proved them, the index of who may
//! have made a signature, and which keys each address has used.
//!
//! Nothing here decides whom to answer: a report records the fingerprint its own
//! signature proved, and answers look that certificate up by that primary
//! fingerprint only. Learning a key for one message can therefore never change the
//! key another report is answered with.

use chrono::{DateTime, Utc};

use super::{LEGACY_KEY_ADDRS, LEGACY_KEY_IDS, Store, StoreError};

/// A key an address proved, and since when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AddressKey {
    pub fingerprint: String,
    /// When the address first proved it; `None` for what an earlier version recorded
    /// without a time.
    pub first_seen: Option<DateTime<Utc>>,
}

fn pair(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

fn prefix(a: &str) -> Vec<u8> {
    let mut k = a.as_bytes().to_vec();
    k.push(0);
    k
}

fn second(key: &[u8]) -> Option<String> {
    let at = key.iter().position(|b| *b == 0)?;
    let rest = key.get(at + 1..)?;
    String::from_utf8(rest.to_vec()).ok()
}

impl Store {
    /// Keeps `cert` (a bounded copy: callers merge it with [`Store::learnt_cert`]
    /// first) under its primary fingerprint, and indexes it under `signing_handles`,
    /// the handles of its validly bound signing keys. Returns whether it is new.
    pub fn learn_key(
        &self,
        fingerprint: &str,
        signing_handles: &[String],
        cert: &[u8],
    ) -> Result<bool, StoreError> {
        let _writing = self.writing()?;
        let new = !self.keys.contains_key(fingerprint.as_bytes())?;
        self.keys.insert(fingerprint.as_bytes(), cert)?;
        for handle in signing_handles {
            self.key_ids.insert(pair(handle, fingerprint), &[])?;
        }
        Ok(new)
    }

    /// The certificate learnt under this primary fingerprint (never a subkey's).
    pub fn learnt_cert(&self, fingerprint: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.keys.get(fingerprint.as_bytes())?.map(|v| v.to_vec()))
    }

    /// Every learnt certificate indexed as having a signing key with this handle
    /// (key ID or fingerprint, upper-case hex).
    pub fn learnt_signers(&self, handle_hex: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        for item in self.key_ids.scan_prefix(prefix(handle_hex))? {
            let (k, _) = item?;
            if let Some(fpr) = second(&k)
                && let Some(cert) = self.keys.get(fpr.as_bytes())?
            {
                out.push(cert.to_vec());
            }
        }
        Ok(out)
    }

    /// Records that `address` sent mail proving `fingerprint`; the first time is kept.
    pub fn note_address_key(
        &self,
        address: &str,
        fingerprint: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let key = pair(&address.to_ascii_lowercase(), fingerprint);
        let stamp = at.timestamp().to_be_bytes();
        let _ = self
            .key_addrs
            .compare_and_swap(key, None as Option<&[u8]>, Some(&stamp[..]))?;
        Ok(())
    }

    /// The keys `address` has proved, oldest first.
    pub fn address_keys(&self, address: &str) -> Result<Vec<AddressKey>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .key_addrs
            .scan_prefix(prefix(&address.to_ascii_lowercase()))?
        {
            let (k, v) = item?;
            let Some(fingerprint) = second(&k) else {
                continue;
            };
            let first_seen = <[u8; 8]>::try_from(v.as_ref())
                .ok()
                .map(i64::from_be_bytes)
                .filter(|t| *t > 0)
                .and_then(|t| DateTime::from_timestamp(t, 0));
            out.push(AddressKey {
                fingerprint,
                first_seen,
            });
        }
        out.sort_by(|a, b| {
            a.first_seen
                .cmp(&b.first_seen)
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        Ok(out)
    }

    /// A key an earlier version kept for answering one message, by fingerprint.
    pub fn offered_key(&self, fingerprint: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .offered
            .get(fingerprint.as_bytes())?
            .map(|v| v.to_vec()))
    }

    /// Replaces the trees of earlier versions: the handle index is rebuilt from the
    /// learnt certificates through the signing-key rule (the old one pointed any
    /// key ID, an encryption subkey's too, at the last certificate that named it), and
    /// the address of each learnt key is kept without a time. Done once.
    pub(super) fn migrate_key_trees(&self) -> Result<(), StoreError> {
        let names = self.db.tree_names()?;
        let has = |n: &str| names.iter().any(|t| t.as_ref() == n.as_bytes());
        if has(LEGACY_KEY_IDS) {
            tracing::info!("rebuilding the index of reporters' signing keys");
            for item in self.keys.iter()? {
                let (fpr, bytes) = item?;
                let fpr_hex = String::from_utf8_lossy(&fpr).into_owned();
                // Earlier versions merged every copy in without bound: keep the
                // bounded copy from now on.
                let (handles, small) = crate::crypto::certs::reindex(&bytes);
                for handle in handles {
                    self.key_ids.insert(pair(&handle, &fpr_hex), &[])?;
                }
                if let Some(small) = small {
                    self.keys.insert(&fpr, small)?;
                }
            }
            self.db.drop_tree(LEGACY_KEY_IDS)?;
        }
        if has(LEGACY_KEY_ADDRS) {
            let old = self.db.open_tree(LEGACY_KEY_ADDRS)?;
            for item in old.iter()? {
                let (addr, fpr) = item?;
                let key = pair(
                    &String::from_utf8_lossy(&addr),
                    &String::from_utf8_lossy(&fpr),
                );
                self.key_addrs.insert(key, &0i64.to_be_bytes())?;
            }
            drop(old);
            self.db.drop_tree(LEGACY_KEY_ADDRS)?;
        }
        Ok(())
    }

    /// Keeps a message whose signature was made by a key the gateway lacked (its raw
    /// bytes, by content hash, with the attachments: they hold report plaintext or
    /// ciphertext and are never logged), indexed under that signature's `issuer`, so
    /// that the key can still prove the report when it arrives. Written before the
    /// report is committed: a crash between the two leaves an entry that names no
    /// report, which [`Store::awaiting_proof`]'s callers skip.
    pub fn await_proof(&self, issuer: &str, sha256: &str, raw: &[u8]) -> Result<(), StoreError> {
        self.put_attachment(sha256, raw)?;
        let _writing = self.writing()?;
        self.late_proofs.insert(pair(issuer, sha256), &[])?;
        Ok(())
    }

    /// The content hashes of the messages waiting for the key with this handle (a
    /// fingerprint or key ID in hex).
    pub fn awaiting_proof(&self, handle_hex: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for item in self.late_proofs.scan_prefix(prefix(handle_hex))? {
            let (key, _) = item?;
            if let Some(sha) = second(&key) {
                out.push(sha);
            }
        }
        Ok(out)
    }

    /// Whether any message waits for a key; most stores have none.
    pub fn any_awaiting_proof(&self) -> Result<bool, StoreError> {
        Ok(self.late_proofs.iter()?.next().is_some())
    }

    /// The message no longer waits for the key with this handle (it was proved).
    pub fn proof_settled(&self, handle_hex: &str, sha256: &str) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.late_proofs.remove(pair(handle_hex, sha256))?;
        Ok(())
    }
}
