//! Proof tracking: which content was read under which signature, and what the
//! message proves (see [`super::Proven`]).

use super::{Ctx, GoodSigner, Proven, SignedHeaders, Verdict};
use crate::crypto::SignatureStatus;

impl Ctx<'_> {
    /// Runs `f` with the content it reads counted as covered by a signature when
    /// `status` is good (and as proven when that signature is inside the encryption).
    pub(super) fn under<T>(
        &mut self,
        status: SignatureStatus,
        f: impl FnOnce(&mut Self) -> T,
    ) -> T {
        self.opened_layer(status, false, f)
    }

    /// As [`Ctx::under`], for the content of an OpenPGP message: `decrypted` when one
    /// of our keys decrypted it, and then a good signature in it was made inside the
    /// encryption.
    pub(super) fn opened_layer<T>(
        &mut self,
        status: SignatureStatus,
        decrypted: bool,
        f: impl FnOnce(&mut Self) -> T,
    ) -> T {
        let covered = status == SignatureStatus::Good;
        let inside = decrypted || self.encrypted_depth > 0;
        let proven = covered && inside;
        self.signed_depth += usize::from(covered);
        self.proven_depth += usize::from(proven);
        self.encrypted_depth += usize::from(decrypted);
        let r = f(self);
        self.signed_depth -= usize::from(covered);
        self.proven_depth -= usize::from(proven);
        self.encrypted_depth -= usize::from(decrypted);
        r
    }

    /// Notes that text or a file was read: content outside the signatures (or
    /// outside those made inside the encryption) that nobody vouched for.
    pub(super) fn content_read(&mut self) {
        if self.signed_depth == 0 {
            self.unsigned_content = true;
        }
        if self.proven_depth == 0 {
            self.unproven_content = true;
        }
    }

    /// The certificate the message proves its sender holds: one signer for all
    /// the good signatures that count, and nothing read outside them. For an
    /// encrypted message only signatures made inside the encryption count.
    pub(super) fn proof(&self) -> Option<Proven> {
        if self.out.signature != SignatureStatus::Good {
            return None;
        }
        let encrypted = self.out.encrypted;
        let unvouched = if encrypted {
            self.unproven_content
        } else {
            self.unsigned_content
        };
        if unvouched {
            return None;
        }
        let signers: Vec<&GoodSigner> = self
            .proof_signers
            .iter()
            .filter(|s| s.inside || !encrypted)
            .collect();
        let first = signers.first()?;
        if signers.iter().any(|s| s.fingerprint != first.fingerprint) {
            return None;
        }
        // One outermost encrypted layer, whose own signature (same OpenPGP message)
        // is the prover's: then the signer made the encryption, or at least chose
        // to send this content encrypted to us. Two such layers side by side are
        // two messages glued together.
        let outermost = encrypted && self.outer_layers == 1 && signers.iter().any(|s| s.outermost);
        Some(Proven {
            fingerprint: first.fingerprint.clone(),
            cert: first.cert.clone()?,
            source: first.source?,
            signatures: signers
                .iter()
                .flat_map(|s| s.marks.iter().cloned())
                .collect(),
            outermost,
            signed_headers: if outermost {
                self.outer_headers.clone().unwrap_or_default()
            } else {
                SignedHeaders::default()
            },
        })
    }

    /// Records a signature layer's verdict; `inside` when it was made inside the
    /// encryption, `outermost` when in the same OpenPGP message as the outermost
    /// encryption.
    pub(super) fn apply(&mut self, v: Verdict, inside: bool, outermost: bool) {
        self.out.gateway_signed |= v.gateway;
        self.out.good_signatures.extend(v.marks.iter().cloned());
        for issuer in &v.unknown {
            if !self.out.unknown_issuers.contains(issuer) {
                self.out.unknown_issuers.push(issuer.clone());
            }
        }
        if v.status == SignatureStatus::Good
            && let Some((fpr, source, cert)) = &v.signer
        {
            self.proof_signers.push(GoodSigner {
                fingerprint: fpr.clone(),
                source: *source,
                cert: cert.clone(),
                inside,
                outermost,
                marks: v
                    .marks
                    .iter()
                    .filter(|(f, _)| f.eq_ignore_ascii_case(fpr))
                    .map(|(_, m)| m.clone())
                    .collect(),
            });
        }
        let before = self.out.signature;
        self.out.signature = before.merge(v.status);
        // The fingerprint shown is the one behind the status that won.
        if (self.out.signature != before || self.out.signer_fingerprint.is_none())
            && let Some((fpr, source, cert)) = v.signer
        {
            self.out.signer_fingerprint = Some(fpr);
            self.out.signer_key_source = source;
            self.out.signer_cert = cert;
        }
    }
}
