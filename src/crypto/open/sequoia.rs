//! The sequoia side: the decryption and verification helper, and the one place
//! signatures are judged ([`Helper::check`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::rc::Rc;

use mail_parser::MessageParser;
use sequoia_openpgp as openpgp;

use openpgp::parse::Parse;
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, DetachedVerifierBuilder, MessageLayer, MessageStructure,
    VerificationError, VerificationHelper, VerifierBuilder,
};
use openpgp::{Cert, KeyHandle};

use super::mime::{canonical_crlf, gnupg_text_canonical};
use super::{CertLookup, Ctx, MAX_BLOCKS, OpenError, SignatureMark, Verdict};
use crate::config::LimitExceeded;
use crate::crypto::certs::signs_with;
use crate::crypto::{DECRYPTION_POLICY, KeySource, Keyring, POLICY, SignatureStatus};

impl Ctx<'_> {
    /// A verification/decryption helper sharing its findings through `state`, which
    /// outlives the helper: sequoia drops the helper with a decryptor that fails.
    pub(super) fn helper(&self, state: &Rc<RefCell<HelperState>>) -> Helper<'_> {
        Helper {
            keyring: self.keyring,
            max_recipients: usize::try_from(self.limits.max_recipients).unwrap_or(usize::MAX),
            lookup: self.lookup,
            extra: &self.extra,
            state: Rc::clone(state),
            signed_entity: None,
            text_canonical: None,
        }
    }

    /// Decrypts, and when the signature inside was by a key we lacked but the plaintext
    /// carries keys, checks it again with them (signed-and-encrypted messages are
    /// verified while decrypting, before their attachments can be seen).
    /// Returns the plaintext, the signature verdict and whether one of our keys
    /// decrypted it (a signed-only OpenPGP message opens here too).
    pub(super) fn decrypt_verified(
        &mut self,
        ciphertext: &[u8],
    ) -> Result<(Vec<u8>, SignatureStatus, bool), OpenError> {
        let known = self.extra.len();
        let (plaintext, mut status, decrypted) = self.decrypt(ciphertext)?;
        let outermost = decrypted && self.encrypted_depth == 0;
        if outermost {
            self.outer_layers += 1;
        }
        if status == SignatureStatus::UnknownKey {
            if let Some(inner) = MessageParser::default().parse(&plaintext) {
                self.prescan_keys(&inner);
            }
            if self.extra.len() > known {
                // The second pass only re-checks the signature; its plaintext is
                // the same and is not counted again.
                self.budget = self.budget.saturating_add(plaintext.len() as u64);
                status = self.decrypt(ciphertext)?.1;
            }
        }
        if outermost && status == SignatureStatus::Good {
            // What the signer signed with the encryption: its own headers.
            self.outer_headers = Some(signed_headers(&plaintext));
        }
        Ok((plaintext, status, decrypted))
    }

    pub(super) fn count_block(&mut self) -> Result<(), OpenError> {
        self.blocks += 1;
        if self.blocks > MAX_BLOCKS {
            return Err(OpenError::TooManyBlocks);
        }
        Ok(())
    }

    pub(super) fn decrypt(
        &mut self,
        ciphertext: &[u8],
    ) -> Result<(Vec<u8>, SignatureStatus, bool), OpenError> {
        self.count_block()?;
        let budget = self.budget;
        let state = Rc::new(RefCell::new(HelperState::default()));
        let result = (|| -> openpgp::Result<Vec<u8>> {
            // sequoia holds back up to 25 MiB of plaintext until the signatures are
            // checked, so that a streaming reader never acts on unverified data.
            // This one reads everything first and looks at the verdict (and at a
            // failed integrity check, which is a read error) only after the end, so
            // that holding back is a third copy of a large report for nothing.
            // The decryption policy also reads the legacy ciphers GnuPG reads; it
            // differs from POLICY in nothing else, so signatures are judged alike.
            let mut decryptor = DecryptorBuilder::from_bytes(ciphertext)?
                .buffer_size(64 * 1024)
                .with_policy(&*DECRYPTION_POLICY, None, self.helper(&state))?;
            // Sized up front: grown by doubling, a 30 MB plaintext would hold 64 MiB
            // and, while it moves, 96. The plaintext is rarely larger than the
            // (armored) ciphertext; capacity never touched costs no memory.
            let expected = u64::try_from(ciphertext.len()).unwrap_or(u64::MAX);
            let mut out =
                Vec::with_capacity(usize::try_from(expected.min(budget + 1)).unwrap_or(0));
            (&mut decryptor).take(budget + 1).read_to_end(&mut out)?;
            Ok(out)
        })();
        let state = state.take();
        match result {
            Ok(out) if out.len() as u64 > budget => Err(LimitExceeded {
                key: crate::config::Limit::MaxDecompressedBytes,
                limit: self.limits.max_decompressed_bytes,
                what: "decrypted bytes, at least",
                actual: self.limits.max_decompressed_bytes - budget + out.len() as u64,
            }
            .into()),
            Ok(out) => {
                self.budget -= out.len() as u64;
                // A signed-only OpenPGP message opens here too; it is not encrypted
                // unless one of our keys decrypted it.
                let decrypted = state.decrypted_with.is_some();
                if decrypted {
                    self.out.encrypted = true;
                    if self.out.decrypted_with.is_none() {
                        self.out.decrypted_with = state.decrypted_with;
                    }
                    if self.out.legacy_cipher.is_none() {
                        self.out.legacy_cipher =
                            state.cipher.and_then(crate::crypto::legacy_cipher_name);
                    }
                }
                let status = state.verdict.status;
                // A signature in the same OpenPGP message as the encryption was
                // made inside it; when that encryption is the outermost one, it was
                // made with it.
                let outermost = decrypted && self.encrypted_depth == 0;
                self.apply(
                    state.verdict,
                    decrypted || self.encrypted_depth > 0,
                    outermost,
                );
                Ok((out, status, decrypted))
            }
            Err(e) => Err(classify_decrypt_error(&state, &e)),
        }
    }

    /// Verifies a detached signature over `entity`, the signed part of a
    /// `multipart/signed` as received: a binary signature over its bytes with CRLF
    /// line ends, a text signature over them as GnuPG hashes text (see
    /// [`Helper::check`]).
    pub(super) fn verify_detached(
        &mut self,
        entity: &[u8],
        signature: &[u8],
    ) -> Result<Verdict, OpenError> {
        self.count_block()?;
        let state = Rc::new(RefCell::new(HelperState::default()));
        let data = canonical_crlf(entity);
        let ok = DetachedVerifierBuilder::from_bytes(signature)
            .and_then(|b| {
                let helper = Helper {
                    signed_entity: Some(entity),
                    ..self.helper(&state)
                };
                b.with_policy(&POLICY, None, helper)
            })
            .and_then(|mut v| v.verify_bytes(&data));
        Ok(match ok {
            Ok(()) => state.take().verdict,
            Err(_) => bad_unverifiable(),
        })
    }

    /// Verifies a cleartext-signed block; returns the verdict and the signed text with
    /// the dash-escaping removed.
    pub(super) fn verify_inline(&mut self, block: &[u8]) -> Result<(Verdict, Vec<u8>), OpenError> {
        self.count_block()?;
        let budget = self.budget;
        let state = Rc::new(RefCell::new(HelperState::default()));
        let text = VerifierBuilder::from_bytes(block)
            .and_then(|b| b.with_policy(&POLICY, None, self.helper(&state)))
            .and_then(|mut v| {
                let mut text = Vec::new();
                (&mut v).take(budget).read_to_end(&mut text)?;
                Ok(text)
            });
        Ok(match text {
            Ok(text) => {
                self.budget = self.budget.saturating_sub(text.len() as u64);
                (state.take().verdict, text)
            }
            // Unverifiable: keep the text as it stands so nothing is lost.
            Err(_) => (bad_unverifiable(), block.to_vec()),
        })
    }
}

/// What identifies one good signature (see [`SignatureMark`]), made by `key`.
pub(super) fn mark(sig: &openpgp::packet::Signature, key: &openpgp::Fingerprint) -> SignatureMark {
    mark_over(sig, key, sig.computed_digest())
}

/// [`mark`] with the digest the signature was verified against, when the gateway
/// hashed the signed data itself (a text signature over a `multipart/signed` entity).
fn mark_over(
    sig: &openpgp::packet::Signature,
    key: &openpgp::Fingerprint,
    digest: Option<&[u8]>,
) -> SignatureMark {
    use openpgp::serialize::MarshalInto;
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"disclosured signature replay key v2\0");
    h.update(key.as_bytes());
    h.update([
        sig.version(),
        u8::from(sig.typ()),
        u8::from(sig.pk_algo()),
        u8::from(sig.hash_algo()),
    ]);
    // A subpacket area that does not serialize cannot have been parsed; it then adds
    // nothing, and the digest below still names the signed data.
    let hashed = sig.hashed_area().to_vec().unwrap_or_default();
    h.update((hashed.len() as u64).to_be_bytes());
    h.update(&hashed);
    match digest {
        // Set by the parser for every signature it verified: the hash over the
        // signed data and the hashed area, which is what the signer signed.
        Some(d) => {
            h.update(b"D");
            h.update(d);
        }
        // Not reached for a verified signature; the MPIs stand in for it.
        None => {
            h.update(b"M");
            h.update(sig.mpis().to_vec().unwrap_or_default());
        }
    }
    // A signature that does not serialize cannot have been parsed; its digest is then
    // that of nothing, which still names it for the replay check.
    let packet = sig.to_vec().unwrap_or_default();
    SignatureMark {
        digest: hex::encode(h.finalize()),
        packet_digest: hex::encode(sha2::Sha256::digest(&packet)),
        created: sig.signature_creation_time(),
    }
}

/// The headers of decrypted content that is a MIME entity; none for bare text.
fn signed_headers(plaintext: &[u8]) -> super::SignedHeaders {
    if !super::armor::starts_with_mime_headers(plaintext) {
        return super::SignedHeaders::default();
    }
    let Some(msg) = MessageParser::default().parse_headers(plaintext) else {
        return super::SignedHeaders::default();
    };
    super::SignedHeaders {
        subject: msg
            .subject()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(crate::intake::cap),
        in_reply_to: crate::intake::id_list(msg.in_reply_to()),
        references: crate::intake::id_list(msg.references()),
    }
}

/// A signature we could not even check (garbage in the signature part, or the signed
/// data altered so the framing broke) is bad, not absent: the sender claimed one.
pub(super) fn bad_unverifiable() -> Verdict {
    Verdict {
        status: SignatureStatus::Bad,
        signer: None,
        gateway: false,
        marks: Vec::new(),
        unknown: Vec::new(),
    }
}

#[derive(Default)]
pub(super) struct HelperState {
    verdict: Verdict,
    decrypted_with: Option<String>,
    /// Key IDs the message was encrypted to.
    recipients: Vec<String>,
    /// Whether one of the recipients is a key we hold (then a failure is corruption).
    addressed_to_us: bool,
    /// Encrypted to a passphrase (SKESK) and to no public key at all.
    passphrase_only: bool,
    /// The symmetric cipher a session key we decrypted names.
    cipher: Option<openpgp::types::SymmetricAlgorithm>,
    sources: HashMap<openpgp::Fingerprint, KeySource>,
    /// The certificates handed to the verifier.
    certs: Vec<Cert>,
    /// Fingerprints of the gateway's own certificates among them.
    gateway: Vec<openpgp::Fingerprint>,
}

pub(super) struct Helper<'a> {
    keyring: &'a Keyring,
    max_recipients: usize,
    lookup: &'a dyn CertLookup,
    extra: &'a [(Cert, KeySource)],
    state: Rc<RefCell<HelperState>>,
    /// The signed entity of a `multipart/signed`, as received, when this helper
    /// checks its detached signature: what a text signature is judged over.
    signed_entity: Option<&'a [u8]>,
    /// [`gnupg_text_canonical`] of it, made when a text signature first needs it.
    text_canonical: Option<Vec<u8>>,
}

impl Helper<'_> {
    /// One signature's verdict, and the certificate behind it when there is one.
    fn judge(
        &mut self,
        result: &openpgp::parse::stream::VerificationResult<'_>,
    ) -> (SignatureStatus, Option<openpgp::Fingerprint>) {
        match result {
            Ok(good) => match self.text_verdict(good.sig, &good.ka) {
                None => self.good(good.sig, &good.ka, None),
                Some(Ok(digest)) => self.good(good.sig, &good.ka, Some(&digest)),
                Some(Err(_)) => (SignatureStatus::Bad, Some(good.ka.cert().fingerprint())),
            },
            // A text signature sequoia's hashing of line ends made bad may be
            // good over the bytes GnuPG signed.
            Err(VerificationError::BadSignature { sig, ka, .. }) => {
                match self.text_verdict(sig, ka) {
                    Some(Ok(digest)) => self.good(sig, ka, Some(&digest)),
                    _ => (SignatureStatus::Bad, Some(ka.cert().fingerprint())),
                }
            }
            Err(VerificationError::UnknownSignature { .. }) => (SignatureStatus::UnknownKey, None),
            Err(VerificationError::MissingKey { sig }) => {
                if let Some(fpr) = self.fails_with_named_key(sig) {
                    return (SignatureStatus::Bad, Some(fpr));
                }
                // The best handle first: a fingerprint names the key.
                let mut issuers = sig.get_issuers();
                issuers.sort_by_key(|h| !matches!(h, KeyHandle::Fingerprint(_)));
                if let Some(issuer) = issuers.first() {
                    let hex = issuer.to_hex();
                    let mut state = self.state.borrow_mut();
                    if !state.verdict.unknown.contains(&hex) {
                        state.verdict.unknown.push(hex);
                    }
                }
                (SignatureStatus::UnknownKey, None)
            }
            Err(VerificationError::BadKey { ka, .. }) => {
                (SignatureStatus::Bad, Some(ka.cert().fingerprint()))
            }
            Err(VerificationError::UnboundKey { cert, .. }) => {
                (SignatureStatus::Bad, Some(cert.fingerprint()))
            }
            Err(_) => (SignatureStatus::Bad, None),
        }
    }

    /// A signature no usable key was found for, whose issuer fingerprint names a key
    /// in a certificate the message itself carries (its Autocrypt header, an
    /// attached or pasted key) that the policy does not let sign: bound by a SHA-1
    /// self-signature, as older clients' keys are, or not flagged for signing. Such a
    /// key makes no signature good; but when the signature does not even verify with
    /// that key's own material, the signed data is not what the key signed, and the
    /// signature is bad, as GnuPG (which still reads such keys) says. Returns that
    /// certificate's fingerprint. A signature that does verify with it stays one by a
    /// key the gateway cannot use (unknown), and a key ID alone, which another key may
    /// share, names no key.
    fn fails_with_named_key(
        &mut self,
        sig: &openpgp::packet::Signature,
    ) -> Option<openpgp::Fingerprint> {
        let named = sig.issuer_fingerprints().cloned().collect::<Vec<_>>();
        let (cert, key) = self.extra.iter().find_map(|(cert, _)| {
            named.iter().find_map(|fpr| {
                cert.keys()
                    .key_handle(fpr.clone())
                    .next()
                    .map(|ka| (cert.clone(), ka.key().clone()))
            })
        })?;
        let verifies = match self.text_data_digest(sig) {
            Some(Ok(digest)) => sig.verify_digest(&key, &digest).is_ok(),
            Some(Err(_)) => false,
            // The parser hashes the data for every signature it reads; without
            // that digest nothing can be told.
            None if sig.computed_digest().is_none() => return None,
            None => sig.verify_document(&key).is_ok(),
        };
        if verifies {
            return None;
        }
        let fpr = cert.fingerprint();
        let mut state = self.state.borrow_mut();
        if let Some((_, source)) = self.extra.iter().find(|(c, _)| c.fingerprint() == fpr) {
            state.sources.entry(fpr.clone()).or_insert(*source);
        }
        if !state.certs.iter().any(|c| c.fingerprint() == fpr) {
            state.certs.push(cert);
        }
        Some(fpr)
    }

    /// The digest of a text signature over the signed entity of a
    /// `multipart/signed`, hashed as GnuPG hashes text; `None` for any other
    /// signature (whose digest the parser computed).
    fn text_data_digest(
        &mut self,
        sig: &openpgp::packet::Signature,
    ) -> Option<openpgp::Result<Vec<u8>>> {
        if sig.typ() != openpgp::types::SignatureType::Text {
            return None;
        }
        let entity = self.signed_entity?;
        let canonical = self
            .text_canonical
            .get_or_insert_with(|| gnupg_text_canonical(entity));
        Some(text_digest(sig, canonical))
    }

    /// A good signature by `ka`, verified against `digest` when the gateway hashed
    /// the data itself.
    fn good(
        &mut self,
        sig: &openpgp::packet::Signature,
        ka: &openpgp::cert::prelude::ValidErasedKeyAmalgamation<
            '_,
            openpgp::packet::key::PublicParts,
        >,
        digest: Option<&[u8]>,
    ) -> (SignatureStatus, Option<openpgp::Fingerprint>) {
        let fpr = ka.cert().fingerprint();
        let mut state = self.state.borrow_mut();
        if state.gateway.contains(&fpr) {
            state.verdict.gateway = true;
        }
        let key = ka.key().fingerprint();
        let m = match digest {
            Some(d) => mark_over(sig, &key, Some(d)),
            None => mark(sig, &key),
        };
        state.verdict.marks.push((fpr.to_hex(), m));
        (SignatureStatus::Good, Some(fpr))
    }

    /// The verdict on a text signature (type 0x01) over the signed entity of a
    /// `multipart/signed`, by a key sequoia's verifier found and accepted (valid
    /// under the policy at the signature's time, alive, not revoked, signing
    /// capable: a `GoodChecksum` or a `BadSignature` carries only such a key).
    /// sequoia hashed the data with its own text mode, which also takes a lone CR
    /// for a line end; GnuPG, which made the signature, keeps it as data. So the
    /// checks that follow the key's are made again here over GnuPG's canonical form,
    /// each as sequoia's verifier makes it: the signature alive now (with the same
    /// clock skew tolerance), the signature over the digest by that key, and the
    /// policy's rules for the signature (its hash algorithm). `None` when the
    /// signature is not such a one (binary signatures are hashed as they stand).
    /// Returns the digest the signature was verified against.
    fn text_verdict(
        &mut self,
        sig: &openpgp::packet::Signature,
        ka: &openpgp::cert::prelude::ValidErasedKeyAmalgamation<
            '_,
            openpgp::packet::key::PublicParts,
        >,
    ) -> Option<openpgp::Result<Vec<u8>>> {
        use openpgp::policy::Policy as _;
        let digest = self.text_data_digest(sig)?;
        Some((|| {
            sig.signature_alive(None, None)?;
            let digest = digest?;
            sig.verify_digest(ka.key(), &digest)?;
            POLICY.signature(sig, openpgp::policy::HashAlgoSecurity::CollisionResistance)?;
            Ok(digest)
        })())
    }
}

/// The digest a signature over `data` is made over: `data` hashed as it stands (after
/// a v6 signature's salt), then the signature's own trailer.
fn text_digest(sig: &openpgp::packet::Signature, data: &[u8]) -> openpgp::Result<Vec<u8>> {
    use openpgp::crypto::hash::Hash as _;
    let mut ctx = sig.hash_algo().context()?.for_signature(sig.version());
    if let Some(salt) = sig.salt() {
        ctx.update(salt);
    }
    ctx.update(data);
    sig.hash(&mut ctx)?;
    ctx.into_digest()
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        let mut certs: Vec<Cert> = Vec::new();
        for id in ids {
            // Every certificate that holds the issuer as a bound signing key: a
            // certificate that only contains the key (bound as an encryption subkey,
            // which needs no back-signature) is not a candidate.
            let mut found: Vec<(Cert, KeySource)> = self
                .lookup
                .lookup(id)
                .into_iter()
                .filter(|(c, _)| signs_with(c, id))
                .collect();
            for (offered, source) in self.extra.iter().filter(|(c, _)| signs_with(c, id)) {
                match found
                    .iter_mut()
                    .find(|(c, _)| c.fingerprint() == offered.fingerprint())
                {
                    // The copy we hold may carry a revocation the offered copy left
                    // out; merging keeps both, so a stripped copy cannot undo it.
                    Some((stored, _)) => {
                        *stored = stored
                            .clone()
                            .merge_public(offered.clone())
                            .unwrap_or_else(|_| stored.clone());
                    }
                    None => found.push((offered.clone(), *source)),
                }
            }
            // The gateway's own keys, so that a copy of its own mail is recognised.
            for gateway in self.keyring.gateway_keys() {
                if signs_with(&gateway.cert, id) {
                    self.state
                        .borrow_mut()
                        .gateway
                        .push(gateway.cert.fingerprint());
                    found.push((
                        gateway.cert.clone().strip_secret_key_material(),
                        KeySource::ReportersDir,
                    ));
                }
            }
            for (cert, source) in found {
                let mut state = self.state.borrow_mut();
                state.sources.entry(cert.fingerprint()).or_insert(source);
                if !certs.iter().any(|c| c.fingerprint() == cert.fingerprint()) {
                    state.certs.push(cert.clone());
                    certs.push(cert);
                }
            }
        }
        Ok(certs)
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        for layer in structure.iter() {
            let MessageLayer::SignatureGroup { results } = layer else {
                continue;
            };
            for result in results {
                let (status, cert) = self.judge(result);
                let mut state = self.state.borrow_mut();
                let merged = state.verdict.status.merge(status);
                if (merged != state.verdict.status || state.verdict.signer.is_none())
                    && let Some(fpr) = cert
                {
                    let source = state.sources.get(&fpr).copied();
                    let signer = state.certs.iter().find(|c| c.fingerprint() == fpr).cloned();
                    state.verdict.signer = Some((fpr.to_hex(), source, signer));
                }
                state.verdict.status = merged;
            }
        }
        Ok(())
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[openpgp::packet::PKESK],
        skesks: &[openpgp::packet::SKESK],
        sym_algo: Option<openpgp::types::SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(
            Option<openpgp::types::SymmetricAlgorithm>,
            &openpgp::crypto::SessionKey,
        ) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        if pkesks.is_empty() && !skesks.is_empty() {
            self.state.borrow_mut().passphrase_only = true;
        }
        if pkesks.len() > self.max_recipients {
            self.state.borrow_mut().recipients.push(format!(
                "only the first {} of {} tried (limits.max_recipients)",
                self.max_recipients,
                pkesks.len()
            ));
        }
        for pkesk in pkesks.iter().take(self.max_recipients) {
            let recipient = pkesk.recipient();
            self.state.borrow_mut().recipients.push(
                recipient
                    .as_ref()
                    .map_or_else(|| "anonymous".to_string(), |r| r.to_hex()),
            );
            // An anonymous recipient (hidden key ID) may be any of our keys.
            // The cipher the session key names is noted, so that a report in a
            // legacy cipher is marked and one in a cipher we cannot read is
            // refused by name, not as corrupt data.
            let state = &self.state;
            let mut noting = |algo: Option<openpgp::types::SymmetricAlgorithm>,
                              key: &openpgp::crypto::SessionKey| {
                if algo.is_some() {
                    state.borrow_mut().cipher = algo;
                }
                decrypt(algo, key)
            };
            let attempt = self.keyring.open_session(pkesk, sym_algo, &mut noting);
            if attempt.addressed_to_us {
                self.state.borrow_mut().addressed_to_us = true;
            }
            if let Some(key) = attempt.opened_by {
                let cert = self.keyring.gateway_cert_of(&key).cloned();
                self.state.borrow_mut().decrypted_with =
                    cert.as_ref().map(|c| c.fingerprint().to_hex());
                return Ok(cert);
            }
        }
        Err(anyhow::anyhow!("no gateway key decrypts this message"))
    }
}

pub(super) fn classify_decrypt_error(state: &HelperState, err: &anyhow::Error) -> OpenError {
    if state.passphrase_only {
        return OpenError::PassphraseOnly;
    }
    // One of our keys opened the session key, but its cipher is one we cannot
    // decrypt with: that is the reason, not corruption.
    if let Some(algo) = state.cipher {
        use openpgp::policy::Policy as _;
        if !algo.is_supported() || DECRYPTION_POLICY.symmetric_algorithm(algo).is_err() {
            return OpenError::Cipher(algo.to_string());
        }
    }
    if state.decrypted_with.is_none() && !state.addressed_to_us && !state.recipients.is_empty() {
        return OpenError::NoKey {
            recipients: state.recipients.join(", "),
        };
    }
    // sequoia's messages name packets and checks, never plaintext or key material.
    let mut why = err.to_string();
    if let Some(cause) = err.chain().nth(1) {
        why = format!("{why}: {cause}");
    }
    if state.addressed_to_us && state.decrypted_with.is_none() {
        why = format!("addressed to our key, but the session key does not decrypt: {why}");
    }
    OpenError::Corrupt(crate::intake::cap(&why))
}
