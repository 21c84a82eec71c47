//! Reporters' keys: the ones a message offers in its Autocrypt header, the
//! certificate a message proves (kept, bounded, under its fingerprint), and the
//! look-up of signers for signature checks. Whom an answer is encrypted to is not
//! decided here: each report names the key it proved (see `outbox::answer_cert`).

use chrono::Utc;
use sequoia_openpgp::{Cert, KeyHandle};
use tracing::{info, warn};

use super::Pipeline;
use crate::crypto::{self, KeySource, Keyring, open::CertLookup};
use crate::intake::Envelope;
use crate::store::{Store, StoreError};

impl Pipeline {
    /// Keys from the Autocrypt header, if it is for the sender's own address, within
    /// the same limits as keys a message attaches (`limits.max_key_bytes`, `max_keys`).
    pub(super) fn autocrypt_keys(&self, env: &Envelope) -> Vec<(Cert, KeySource)> {
        let (Some(ac), Some(from)) = (&env.autocrypt, &env.from) else {
            return Vec::new();
        };
        let limits = &self.settings.limits;
        if !ac.addr.eq_ignore_ascii_case(&from.address)
            || ac.keydata.len() as u64 > limits.max_key_bytes
        {
            return Vec::new();
        }
        crypto::parse_certs(&ac.keydata)
            .0
            .into_iter()
            .take(usize::try_from(limits.max_keys).unwrap_or(usize::MAX))
            .map(|c| (c.strip_secret_key_material(), KeySource::Autocrypt))
            .collect()
    }

    /// Keeps the certificate this message proved (a bounded copy, merged with what
    /// is kept under its fingerprint) so that later signatures by it verify and
    /// answers to this report can be encrypted to it, and notes that the sender's
    /// address used it. Nothing here changes the key any other report is answered
    /// with: reports name their own proven key.
    pub(super) fn learn_proven(
        &self,
        address: &str,
        proven: Option<&crypto::Proven>,
        now: chrono::DateTime<Utc>,
    ) -> Result<(), StoreError> {
        use sequoia_openpgp::serialize::SerializeInto;
        let Some(proven) = proven else {
            return Ok(());
        };
        self.store
            .note_address_key(address, &proven.fingerprint, now)?;
        // Pre-loaded keys and maintainers' keys are the sysadmin's to manage.
        if matches!(
            proven.source,
            KeySource::ReportersDir | KeySource::Maintainers
        ) {
            return Ok(());
        }
        let before = self.store.learnt_cert(&proven.fingerprint)?;
        let stored = before.as_deref().and_then(|bytes| {
            crypto::parse_certs(bytes)
                .0
                .into_iter()
                .find(|c| c.fingerprint() == proven.cert.fingerprint())
        });
        let Some(merged) = crypto::certs::merge_bounded(stored, &proven.cert, address) else {
            return Ok(());
        };
        let Ok(bytes) = merged.to_vec() else {
            return Ok(());
        };
        if before.as_deref() == Some(bytes.as_slice()) {
            return Ok(());
        }
        let handles = crypto::certs::signing_handles(&merged);
        if self
            .store
            .learn_key(&proven.fingerprint, &handles, &bytes)?
        {
            info!(fingerprint = %proven.fingerprint, "learnt a reporter key");
        }
        Ok(())
    }
}

impl Pipeline {
    /// Merges into the certificates the gateway holds (learnt, or pre-loaded in
    /// `keys/reporters/`) every revocation this message carries that their primary
    /// key validly made: a revocation certificate attached or pasted, or a revoked
    /// copy attached or in the Autocrypt header. From any message, signed or not: a
    /// revocation can only take trust away. A revoked pre-loaded key is kept revoked
    /// among the learnt ones (the file is the sysadmin's).
    pub(super) fn merge_revocations(
        &self,
        opened: &crypto::Opened,
        env: &Envelope,
    ) -> Result<(), StoreError> {
        use sequoia_openpgp::serialize::SerializeInto;
        let mut copies: Vec<Cert> = opened.keys.clone();
        copies.extend(self.autocrypt_keys(env).into_iter().map(|(c, _)| c));
        if opened.revocations.is_empty()
            && !copies.iter().any(|c| {
                c.primary_key().self_revocations().next().is_some()
                    || c.keys()
                        .subkeys()
                        .any(|k| k.self_revocations().next().is_some())
            })
        {
            return Ok(());
        }
        // Which kept certificates the revocations may be for: by the copies'
        // fingerprints, and by the revocations' issuers.
        let mut targets: Vec<String> = copies.iter().map(|c| c.fingerprint().to_hex()).collect();
        for sig in &opened.revocations {
            for issuer in sig.get_issuers() {
                match &issuer {
                    KeyHandle::Fingerprint(f) => targets.push(f.to_hex()),
                    KeyHandle::KeyID(_) => {
                        for bytes in self.store.learnt_signers(&issuer.to_hex())? {
                            targets.extend(
                                crypto::parse_certs(&bytes)
                                    .0
                                    .iter()
                                    .map(|c| c.fingerprint().to_hex()),
                            );
                        }
                        targets.extend(
                            self.keyring
                                .reporters()
                                .iter()
                                .filter(|c| c.keys().key_handle(issuer.clone()).next().is_some())
                                .map(|c| c.fingerprint().to_hex()),
                        );
                    }
                }
            }
        }
        targets.sort();
        targets.dedup();
        for fpr in targets {
            let kept = match self.store.learnt_cert(&fpr)? {
                Some(bytes) => crypto::parse_certs(&bytes)
                    .0
                    .into_iter()
                    .find(|c| c.fingerprint().to_hex() == fpr),
                None => self
                    .keyring
                    .reporters()
                    .iter()
                    .find(|c| c.fingerprint().to_hex() == fpr)
                    .cloned(),
            };
            let Some(kept) = kept else {
                continue;
            };
            let Some(revoked) =
                crypto::certs::with_revocations(&kept, &opened.revocations, &copies)
            else {
                continue;
            };
            let Ok(bytes) = revoked.to_vec() else {
                continue;
            };
            let handles = crypto::certs::signing_handles(&revoked);
            self.store.learn_key(&fpr, &handles, &bytes)?;
            info!(fingerprint = %fpr, "merged a revocation into a reporter key");
        }
        Ok(())
    }
}

/// Keys for signature checks: maintainers' keys, pre-loaded reporters' keys, then
/// learnt ones.
pub(super) struct StoreLookup<'a> {
    pub(super) keyring: &'a Keyring,
    pub(super) store: &'a Store,
    pub(super) team: &'a crypto::Team,
}
impl CertLookup for StoreLookup<'_> {
    /// Every certificate that may have made a signature by `handle`: pre-loaded ones
    /// and learnt ones that hold it as a bound signing key.
    fn lookup(&self, handle: &KeyHandle) -> Vec<(Cert, KeySource)> {
        let mut found: Vec<(Cert, KeySource)> = self
            .team
            .members()
            .iter()
            .map(|m| &m.cert)
            .filter(|c| crypto::certs::signs_with(c, handle))
            .map(|c| (c.clone(), KeySource::Maintainers))
            .collect();
        for c in self.keyring.reporters() {
            if crypto::certs::signs_with(c, handle)
                && !found
                    .iter()
                    .any(|(f, _)| f.fingerprint() == c.fingerprint())
            {
                found.push((c.clone(), KeySource::ReportersDir));
            }
        }
        match self.store.learnt_signers(&handle.to_hex()) {
            Ok(certs) => {
                for bytes in certs {
                    for cert in crypto::parse_certs(&bytes).0 {
                        if crypto::certs::signs_with(&cert, handle)
                            && !found
                                .iter()
                                .any(|(c, _)| c.fingerprint() == cert.fingerprint())
                        {
                            found.push((cert, KeySource::Learnt));
                        }
                    }
                }
            }
            // The signature is then judged as by an unknown key: the report is kept
            // and says so; the store's trouble shows in the log and at the commit.
            Err(e) => warn!(error = %e, "could not read the learnt keys"),
        }
        found
    }
}

impl Pipeline {
    /// Proves reports that were signed by a key the gateway lacked, with a key that
    /// arrived since (attached to any message, in an Autocrypt header, or pre-loaded
    /// in `keys/reporters/`): the report's message, kept as it came, is opened again
    /// with that key, and when its signature is now good over everything inside the
    /// encryption that key is the report's proven key, because it signed the
    /// question. Who brought the key does not matter; the signature decides. A key
    /// that only shares the address or user ID, or whose signature does not verify,
    /// proves nothing and leaves the report waiting.
    pub(super) fn prove_late(
        &self,
        offered: &[(Cert, KeySource)],
        now: chrono::DateTime<Utc>,
    ) -> Result<Vec<crate::store::ReportId>, StoreError> {
        let mut proved = Vec::new();
        if offered.is_empty() || !self.store.any_awaiting_proof()? {
            return Ok(proved);
        }
        for (cert, source) in offered {
            let mut handles: Vec<String> = Vec::new();
            for key in cert.keys() {
                handles.push(key.key().fingerprint().to_hex());
                handles.push(key.key().keyid().to_hex());
            }
            handles.sort();
            handles.dedup();
            for handle in &handles {
                for sha in self.store.awaiting_proof(handle)? {
                    if let Some(id) = self.prove_one(cert, *source, handle, &sha, now)? {
                        proved.push(id);
                    }
                }
            }
        }
        Ok(proved)
    }

    /// Opens the message kept under `sha` again with `cert` and, when that proves
    /// it, records the key on its report.
    fn prove_one(
        &self,
        cert: &Cert,
        source: KeySource,
        handle: &str,
        sha: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<Option<crate::store::ReportId>, StoreError> {
        use crate::store::{Event, OutcomeRef};
        // Written before its report was committed; no report: nothing to prove (yet).
        let Some(OutcomeRef::Report(id)) = self.store.seen(None, sha)? else {
            return Ok(None);
        };
        let Some(report) = self.store.report(&id)? else {
            return Ok(None);
        };
        if report.data.unknown_signer.is_none() || report.proven_key().is_some() {
            self.store.proof_settled(handle, sha)?;
            return Ok(None);
        }
        let Some(raw) = self.store.attachment(sha)? else {
            self.store.proof_settled(handle, sha)?;
            return Ok(None);
        };
        let lookup = StoreLookup {
            keyring: &self.keyring,
            store: &self.store,
            team: &self.team,
        };
        let extra = [(cert.clone(), source)];
        let opened = match crypto::open(&raw, &self.keyring, &lookup, &extra, &self.settings.limits)
        {
            Ok(o) => o,
            Err(_) => {
                // It opened when it arrived: a gateway key is missing now.
                warn!(report = %id, "a report waiting for its signer's key no longer opens");
                return Ok(None);
            }
        };
        let fpr = cert.fingerprint().to_hex();
        let Some(proven) = opened
            .proven
            .as_ref()
            .filter(|p| p.fingerprint == fpr && opened.signature == crypto::SignatureStatus::Good)
        else {
            info!(report = %id, fingerprint = %fpr, "an offered key did not prove the report it names");
            // The signature names this very key by fingerprint and does not verify
            // with it: it is bad, for good. (A key ID alone may be shared by another
            // key, which may still come.)
            let by_fingerprint = handle.len() >= 40;
            if by_fingerprint && opened.signature == crypto::SignatureStatus::Bad {
                let note = format!(
                    "{handle}, which the signature names, arrived and the signature does not verify with it"
                );
                self.store.modify_report(&id, |r| {
                    if r.data.unknown_signer.is_none() {
                        return Ok(Vec::new());
                    }
                    r.data.signature = crypto::SignatureStatus::Bad;
                    r.data.signer_fingerprint = Some(fpr.clone());
                    r.data.unknown_signer = None;
                    r.events.push(Event::new(
                        now,
                        "system",
                        "signature checked later",
                        Some(note.clone()),
                    ));
                    Ok(Vec::new())
                })?;
                self.store.proof_settled(handle, sha)?;
            }
            return Ok(None);
        };
        let address = report.data.from.address.clone();
        self.learn_proven(&address, Some(proven), now)?;
        let can_encrypt = crypto::can_encrypt_to(&proven.cert);
        let matches_from = crypto::cert_has_address(&proven.cert, &address);
        let covers_all = opened.signature_covers_all;
        let note = if can_encrypt {
            format!("{fpr} signed the report; answers are encrypted to it from now on")
        } else {
            format!("{fpr} signed the report, but it cannot receive encrypted mail")
        };
        self.store.modify_report(&id, |r| {
            if r.proven_key().is_some() {
                return Ok(Vec::new());
            }
            let d = &mut r.data;
            d.signature = crypto::SignatureStatus::Good;
            d.signature_covers_all = covers_all;
            d.signer_fingerprint = Some(fpr.clone());
            d.signer_key_source = Some(source);
            d.signer_matches_from = matches_from;
            d.proven_key = Some(fpr.clone());
            d.reporter_key = can_encrypt.then(|| fpr.clone());
            d.proof_checked = true;
            d.unknown_signer = None;
            r.events.push(Event::new(
                now,
                "system",
                "key proven later",
                Some(note.clone()),
            ));
            Ok(Vec::new())
        })?;
        self.store.proof_settled(handle, sha)?;
        info!(report = %id, fingerprint = %fpr, "key proven later");
        Ok(Some(id))
    }
}
