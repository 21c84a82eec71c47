//! Opening incoming mail: find the OpenPGP layers of a message (RFC 3156 PGP/MIME,
//! inline armored blocks, signed-only forms), decrypt them with any gateway key, verify
//! every signature against the keys we know, and return the innermost content.
//!
//! Signatures are judged in one place, [`Helper::check`], and the verdict is recorded,
//! not enforced: a report with a bad signature is still a report, marked `bad`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::rc::Rc;

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};
use sequoia_openpgp as openpgp;

use openpgp::parse::Parse;
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, DetachedVerifierBuilder, MessageLayer, MessageStructure,
    VerificationError, VerificationHelper, VerifierBuilder,
};
use openpgp::{Cert, KeyHandle};

use super::certs::signs_with;
use super::{KeySource, Keyring, POLICY, SignatureStatus};
use crate::config::{LimitExceeded, Limits};

/// Most OpenPGP blocks (decryptions and verifications) one message may ask for.
const MAX_BLOCKS: usize = 32;

const BEGIN_MESSAGE: &str = "-----BEGIN PGP MESSAGE-----";
const END_MESSAGE: &str = "-----END PGP MESSAGE-----";
const BEGIN_SIGNED: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";
const BEGIN_PUBKEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const END_PUBKEY: &str = "-----END PGP PUBLIC KEY BLOCK-----";

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Nothing we hold can decrypt it: say which keys it was for, so the reporter can
    /// see they used an old or wrong key.
    #[error("encrypted to a key this gateway does not have (recipients: {recipients})")]
    NoKey { recipients: String },
    #[error("the encrypted data is corrupt or truncated ({0})")]
    Corrupt(String),
    #[error("malformed OpenPGP/MIME structure ({0})")]
    Malformed(String),
    #[error("more than {MAX_BLOCKS} OpenPGP blocks in one message")]
    TooManyBlocks,
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
}

/// A file that came with the report.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub name: Option<String>,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// The shape the message arrived in, for maintainers and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    PgpMime,
    Inline,
    Plain,
}

/// The content of a message after every OpenPGP layer was removed.
#[derive(Debug, Clone)]
pub struct Opened {
    pub form: Form,
    pub encrypted: bool,
    pub signature: SignatureStatus,
    /// Whether the good signature covers everything the message says: text or files
    /// outside the signed part (before or after a clearsigned block, say) could have
    /// been added by anyone.
    pub signature_covers_all: bool,
    /// Primary fingerprint of the key that made the good (or bad) signature.
    pub signer_fingerprint: Option<String>,
    /// That key, when we have it.
    pub signer_cert: Option<Cert>,
    pub signer_key_source: Option<KeySource>,
    /// The gateway key that decrypted it.
    pub decrypted_with: Option<String>,
    /// Protected (inner) Subject; wins over an outer placeholder such as "...".
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Keys the message carried (attachments and pasted key blocks), with the source.
    pub keys: Vec<Cert>,
    /// The certificate this message proves its sender holds (see [`Proven`]).
    pub proven: Option<Proven>,
    /// A good signature by one of the gateway's own keys: a copy of mail the gateway
    /// sent, never a report.
    pub gateway_signed: bool,
}

/// The one certificate whose key made a good signature over everything the message
/// says, inside the encryption when the message was encrypted. Only such a
/// certificate is ever answered to: a signature outside the encryption can be put
/// around anyone's ciphertext, and one over part of a message says nothing of the
/// rest.
#[derive(Debug, Clone)]
pub struct Proven {
    /// Primary fingerprint, upper-case hex.
    pub fingerprint: String,
    pub cert: Cert,
    /// Where the certificate was found.
    pub source: KeySource,
}

/// Looks up reporters' certificates by the issuer named in a signature: every
/// certificate that holds that issuer as a validly bound signing key
/// ([`super::certs::signs_with`]), never one that merely contains the key.
pub trait CertLookup {
    fn lookup(&self, handle: &KeyHandle) -> Vec<(Cert, KeySource)>;
}

impl<F: Fn(&KeyHandle) -> Vec<(Cert, KeySource)>> CertLookup for F {
    fn lookup(&self, handle: &KeyHandle) -> Vec<(Cert, KeySource)> {
        self(handle)
    }
}

/// Opens a raw message. `extra` are keys the envelope offered (Autocrypt); keys the
/// message itself carries are used too, so a first message that attaches its sender's
/// key verifies.
pub fn open(
    raw: &[u8],
    keyring: &Keyring,
    lookup: &dyn CertLookup,
    extra: &[(Cert, KeySource)],
    limits: &Limits,
) -> Result<Opened, OpenError> {
    let mut ctx = Ctx {
        keyring,
        lookup,
        limits,
        extra: extra.to_vec(),
        out: Opened {
            form: Form::Plain,
            encrypted: false,
            signature: SignatureStatus::None,
            signature_covers_all: false,
            signer_fingerprint: None,
            signer_cert: None,
            signer_key_source: None,
            decrypted_with: None,
            subject: None,
            text: String::new(),
            html: None,
            attachments: Vec::new(),
            keys: Vec::new(),
            proven: None,
            gateway_signed: false,
        },
        signed_depth: 0,
        attachment_bytes: 0,
        unsigned_content: false,
        encrypted_depth: 0,
        proven_depth: 0,
        unproven_content: false,
        proof_signers: Vec::new(),
        budget: limits.max_decompressed_bytes,
        blocks: 0,
    };
    ctx.entity(raw, 0)?;
    let good = ctx.out.signature == SignatureStatus::Good;
    ctx.out.signature_covers_all = good && !ctx.unsigned_content;
    ctx.out.proven = ctx.proof();
    Ok(ctx.out)
}

struct Ctx<'a> {
    keyring: &'a Keyring,
    lookup: &'a dyn CertLookup,
    limits: &'a Limits,
    /// Total size of the attachments kept so far.
    attachment_bytes: u64,
    extra: Vec<(Cert, KeySource)>,
    out: Opened,
    /// How many good signatures the content being read now is under.
    signed_depth: usize,
    /// Whether any text or file was read outside every good signature.
    unsigned_content: bool,
    /// How many decrypted layers the content being read now is inside.
    encrypted_depth: usize,
    /// How many good signatures made inside the encryption it is under.
    proven_depth: usize,
    /// Whether any text or file was read outside every such signature.
    unproven_content: bool,
    /// The signers of the good signatures made inside the encryption (or, for a
    /// message that was not encrypted, of every good signature).
    proof_signers: Vec<GoodSigner>,
    /// Plaintext bytes the remaining decryptions may still produce.
    budget: u64,
    /// OpenPGP blocks handled so far.
    blocks: usize,
}

/// The signer of a good signature, and whether it was made inside the encryption.
struct GoodSigner {
    fingerprint: String,
    source: Option<KeySource>,
    cert: Option<Cert>,
    inside: bool,
}

/// The verdict of one signature layer.
#[derive(Default)]
struct Verdict {
    status: SignatureStatus,
    signer: Option<(String, Option<KeySource>, Option<Cert>)>,
    /// A good signature was made by one of the gateway's own keys.
    gateway: bool,
}

impl Ctx<'_> {
    /// Handles one MIME entity (a whole message, or decrypted/signed content).
    fn entity(&mut self, bytes: &[u8], depth: usize) -> Result<(), OpenError> {
        self.limits.check(
            crate::config::Limit::MaxOpenpgpLayers,
            "nested layers",
            depth as u64,
        )?;
        let Some(mut msg) = MessageParser::default().parse(bytes) else {
            self.push_text(&String::from_utf8_lossy(bytes));
            return Ok(());
        };
        if depth > 0 {
            // Decrypted or signed content gets the same structure limits as mail.
            crate::intake::check_structure(&msg, self.limits)?;
        }
        let root = msg.root_part();
        // Keys the message carries must be known before any signature is checked: a
        // first message often signs with the key it attaches.
        self.prescan_keys(&msg);
        if depth > 0 && self.out.subject.is_none() {
            // Protected headers (draft-autocrypt-lamps-protected-headers): the inner
            // Subject is the real one.
            if let Some(s) = msg.subject().map(str::trim).filter(|s| !s.is_empty()) {
                self.out.subject = Some(crate::intake::cap(s));
            }
        }
        let ct = root.content_type();
        let kind = ct.map(|c| {
            (
                c.ctype().to_ascii_lowercase(),
                c.subtype().unwrap_or_default().to_ascii_lowercase(),
                c.attribute("protocol")
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
            )
        });
        match kind
            .as_ref()
            .map(|(t, s, p)| (t.as_str(), s.as_str(), p.as_str()))
        {
            Some(("multipart", "encrypted", _)) => self.pgp_mime_encrypted(&msg, depth),
            Some(("multipart", "signed", "application/pgp-signature")) => {
                self.pgp_mime_signed(&msg, depth)
            }
            _ if root.headers.is_empty() => {
                // Decrypted content with no MIME headers at all is plain text.
                self.text_part(bytes, None, depth)
            }
            _ => self.collect(&mut msg, depth),
        }
    }

    /// RFC 3156 section 4: multipart/encrypted with a version part and the armored
    /// OpenPGP message.
    fn pgp_mime_encrypted(&mut self, msg: &Message<'_>, depth: usize) -> Result<(), OpenError> {
        let children = children(msg, msg.root_part());
        let payload = children
            .iter()
            .filter(|p| !is_type(p, "application", "pgp-encrypted"))
            .find(|p| {
                find(contents_of(p), BEGIN_MESSAGE.as_bytes()).is_some()
                    || is_type(p, "application", "octet-stream")
            })
            .ok_or_else(|| {
                OpenError::Malformed("multipart/encrypted without an encrypted part".into())
            })?;
        let ciphertext = contents_of(payload);
        self.out.form = Form::PgpMime;
        let (plaintext, status, decrypted) = self.decrypt_verified(ciphertext)?;
        self.opened_layer(status, decrypted, |ctx| ctx.entity(&plaintext, depth + 1))
    }

    /// RFC 3156 section 5: the first part is signed as it stands on the wire, with
    /// CRLF line ends, up to but not including the CRLF before the boundary.
    fn pgp_mime_signed(&mut self, msg: &Message<'_>, depth: usize) -> Result<(), OpenError> {
        let children = children(msg, msg.root_part());
        let (Some(signed), Some(sig)) = (children.first(), children.get(1)) else {
            return Err(OpenError::Malformed(
                "multipart/signed without two parts".into(),
            ));
        };
        let raw = msg.raw_message();
        let signed_bytes = raw
            .get(signed.offset_header as usize..signed.offset_end as usize)
            .ok_or_else(|| OpenError::Malformed("multipart/signed part out of range".into()))?;
        let verdict = self.verify_detached(&canonical_crlf(signed_bytes), contents_of(sig))?;
        let status = verdict.status;
        self.apply(verdict, self.encrypted_depth > 0);
        if self.out.form == Form::Plain {
            self.out.form = Form::PgpMime;
        }
        self.under(status, |ctx| ctx.entity(signed_bytes, depth + 1))
    }

    /// Runs `f` with the content it reads counted as covered by a signature when
    /// `status` is good (and as proven when that signature is inside the encryption).
    fn under<T>(&mut self, status: SignatureStatus, f: impl FnOnce(&mut Self) -> T) -> T {
        self.opened_layer(status, false, f)
    }

    /// As [`Ctx::under`], for the content of an OpenPGP message: `decrypted` when one
    /// of our keys decrypted it, and then a good signature in it was made inside the
    /// encryption.
    fn opened_layer<T>(
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
    fn content_read(&mut self) {
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
    fn proof(&self) -> Option<Proven> {
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
        let mut signers = self.proof_signers.iter().filter(|s| s.inside || !encrypted);
        let first = signers.next()?;
        if signers.any(|s| s.fingerprint != first.fingerprint) {
            return None;
        }
        Some(Proven {
            fingerprint: first.fingerprint.clone(),
            cert: first.cert.clone()?,
            source: first.source?,
        })
    }

    /// An ordinary message: its text, HTML, attachments, keys, and any inline
    /// OpenPGP blocks in the text.
    fn collect(&mut self, msg: &mut Message<'_>, depth: usize) -> Result<(), OpenError> {
        let mut texts = Vec::new();
        let mut html = Vec::new();
        for id in &msg.text_body {
            if let Some(part) = msg.part(*id) {
                match &part.body {
                    PartType::Text(t) => texts.push((part, t.to_string())),
                    PartType::Html(h) => {
                        html.push(h.to_string());
                    }
                    _ => {}
                }
            }
        }
        if texts.is_empty() {
            for id in &msg.html_body {
                if let Some(PartType::Html(h)) = msg.part(*id).map(|p| &p.body) {
                    html.push(h.to_string());
                }
            }
        }
        // An HTML part is content like any other: outside the signature, it means
        // the signature does not cover all.
        for h in html {
            if h.trim().is_empty() {
                continue;
            }
            self.content_read();
            if self.out.html.is_none() {
                self.out.html = Some(h);
            }
        }
        for (part, text) in texts {
            if text.contains(BEGIN_MESSAGE) || text.contains(BEGIN_SIGNED) {
                let bytes = transfer_decoded(msg, part);
                self.text_part(
                    &bytes,
                    part.content_type().and_then(|c| c.attribute("charset")),
                    depth,
                )?;
            } else {
                self.push_text(&text);
            }
        }
        // Each attachment's bytes are moved out of the parsed message, not copied: a
        // large one is held once.
        for id in msg.attachments.clone() {
            if let Some(part) = msg.parts.get_mut(id as usize) {
                self.attachment(part, depth)?;
            }
        }
        Ok(())
    }

    fn attachment(&mut self, part: &mut MessagePart<'_>, depth: usize) -> Result<(), OpenError> {
        let content_type = part
            .content_type()
            .map(|c| match c.subtype() {
                Some(s) => format!("{}/{}", c.ctype(), s),
                None => c.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".into())
            .to_ascii_lowercase();
        let data = contents_of(part);
        if content_type == "application/pgp-keys" {
            // A key outside the signed part is a part like any other.
            self.content_read();
            let certs = self.offered_keys(data);
            self.add_keys(certs, KeySource::Attached);
            return Ok(());
        }
        // Some mailers attach the inline-PGP message as a file (`encrypted.asc`).
        if content_type != "application/pgp-signature"
            && !matches!(part.body, PartType::Message(_))
            && data.len() < 64 * 1024 * 1024
            && find(data, BEGIN_MESSAGE.as_bytes()).is_some()
            && !self.out.encrypted
        {
            return self.text_part(data, None, depth);
        }
        // Every other part, a forwarded message (`message/rfc822`) included, is
        // content: outside the signature it means the signature does not cover all,
        // and it counts against the attachment limits. A forwarded message is kept
        // as a file, never opened as ours.
        self.content_read();
        self.attachment_bytes += data.len() as u64;
        self.limits.check(
            crate::config::Limit::MaxAttachments,
            "attachments",
            self.out.attachments.len() as u64 + 1,
        )?;
        self.limits.check(
            crate::config::Limit::MaxAttachmentBytes,
            "attachment bytes",
            self.attachment_bytes,
        )?;
        let name = part.attachment_name().map(str::to_string);
        let data = match std::mem::replace(&mut part.body, PartType::Multipart(Vec::new())) {
            PartType::Text(t) | PartType::Html(t) => t.into_owned().into_bytes(),
            PartType::Binary(b) | PartType::InlineBinary(b) => b.into_owned(),
            PartType::Message(m) => m.raw_message.into_owned(),
            PartType::Multipart(_) => Vec::new(),
        };
        self.out.attachments.push(Attachment {
            name,
            content_type,
            data,
        });
        Ok(())
    }

    /// A text body that may hold inline OpenPGP blocks, as transfer-decoded bytes in
    /// the part's own charset (clearsigned text is signed in that charset).
    fn text_part(
        &mut self,
        bytes: &[u8],
        charset: Option<&str>,
        depth: usize,
    ) -> Result<(), OpenError> {
        self.limits.check(
            crate::config::Limit::MaxOpenpgpLayers,
            "nested layers",
            depth as u64,
        )?;
        let mut rest = bytes;
        loop {
            let msg_at = find(rest, BEGIN_MESSAGE.as_bytes());
            let signed_at = find(rest, BEGIN_SIGNED.as_bytes());
            match (msg_at, signed_at) {
                (Some(m), s) if s.is_none_or(|s| m < s) => {
                    let block_end = find_from(rest, END_MESSAGE.as_bytes(), m)
                        .map(|e| e + END_MESSAGE.len())
                        .ok_or_else(|| {
                            OpenError::Corrupt("armored message has no END line".into())
                        })?;
                    let (before, block, after) = split3(rest, m, block_end);
                    self.push_decoded(before, charset);
                    if self.out.form == Form::Plain {
                        self.out.form = Form::Inline;
                    }
                    let (plaintext, status, decrypted) = self.decrypt_verified(block)?;
                    // What was encrypted inline is text, possibly clearsigned again.
                    self.opened_layer(status, decrypted, |ctx| {
                        ctx.text_part(&plaintext, None, depth + 1)
                    })?;
                    rest = after;
                }
                (_, Some(s)) => {
                    let block_end = find_from(rest, END_SIGNATURE.as_bytes(), s)
                        .map(|e| e + END_SIGNATURE.len())
                        .ok_or_else(|| {
                            OpenError::Malformed("clearsigned text has no signature".into())
                        })?;
                    let (before, block, after) = split3(rest, s, block_end);
                    self.push_decoded(before, charset);
                    if self.out.form == Form::Plain {
                        self.out.form = Form::Inline;
                    }
                    let (verdict, text) = self.verify_inline(block)?;
                    let status = verdict.status;
                    self.apply(verdict, self.encrypted_depth > 0);
                    self.under(status, |ctx| ctx.push_decoded(&text, charset));
                    rest = after;
                }
                _ => {
                    self.push_decoded(rest, charset);
                    return Ok(());
                }
            }
        }
    }

    fn push_decoded(&mut self, bytes: &[u8], charset: Option<&str>) {
        let text = decode_charset(bytes, charset);
        self.push_text(&text);
    }

    fn push_text(&mut self, text: &str) {
        // A public key pasted into the body is the sender offering it.
        if let Some(start) = text.find(BEGIN_PUBKEY)
            && let Some(end) = text.get(start..).and_then(|t| t.find(END_PUBKEY))
            && let Some(block) = text.get(start..start + end + END_PUBKEY.len())
        {
            let certs = self.offered_keys(block.as_bytes());
            self.add_keys(certs, KeySource::Attached);
        }
        let trimmed = text.trim_matches(['\r', '\n']);
        if trimmed.trim().is_empty() {
            return;
        }
        self.content_read();
        if !self.out.text.is_empty() {
            self.out.text.push_str("\n\n");
        }
        self.out.text.push_str(trimmed);
    }

    /// Parses keys a message offers, within the size limit; keys over it are
    /// ignored, not an error (the report itself is still good).
    fn offered_keys(&self, bytes: &[u8]) -> Vec<Cert> {
        if bytes.len() as u64 > self.limits.max_key_bytes {
            return Vec::new();
        }
        super::parse_certs(bytes).0
    }

    fn add_keys(&mut self, certs: Vec<Cert>, source: KeySource) {
        for cert in certs {
            if self.out.keys.len() as u64 >= self.limits.max_keys {
                break;
            }
            let cert = cert.strip_secret_key_material();
            if self
                .out
                .keys
                .iter()
                .any(|c| c.fingerprint() == cert.fingerprint())
            {
                continue;
            }
            if !self
                .extra
                .iter()
                .any(|(c, _)| c.fingerprint() == cert.fingerprint())
            {
                self.extra.push((cert.clone(), source));
            }
            self.out.keys.push(cert);
        }
    }

    /// Records a signature layer's verdict; `inside` when it was made inside the
    /// encryption.
    fn apply(&mut self, v: Verdict, inside: bool) {
        self.out.gateway_signed |= v.gateway;
        if v.status == SignatureStatus::Good
            && let Some((fpr, source, cert)) = &v.signer
        {
            self.proof_signers.push(GoodSigner {
                fingerprint: fpr.clone(),
                source: *source,
                cert: cert.clone(),
                inside,
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

    /// A verification/decryption helper sharing its findings through `state`, which
    /// outlives the helper: sequoia drops the helper with a decryptor that fails.
    fn helper(&self, state: &Rc<RefCell<HelperState>>) -> Helper<'_> {
        Helper {
            keyring: self.keyring,
            max_recipients: usize::try_from(self.limits.max_recipients).unwrap_or(usize::MAX),
            lookup: self.lookup,
            extra: &self.extra,
            state: Rc::clone(state),
        }
    }

    /// Decrypts, and when the signature inside was by a key we lacked but the plaintext
    /// carries keys, checks it again with them (signed-and-encrypted messages are
    /// verified while decrypting, before their attachments can be seen).
    /// Returns the plaintext, the signature verdict and whether one of our keys
    /// decrypted it (a signed-only OpenPGP message opens here too).
    fn decrypt_verified(
        &mut self,
        ciphertext: &[u8],
    ) -> Result<(Vec<u8>, SignatureStatus, bool), OpenError> {
        let known = self.extra.len();
        let (plaintext, mut status, decrypted) = self.decrypt(ciphertext)?;
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
        Ok((plaintext, status, decrypted))
    }

    fn count_block(&mut self) -> Result<(), OpenError> {
        self.blocks += 1;
        if self.blocks > MAX_BLOCKS {
            return Err(OpenError::TooManyBlocks);
        }
        Ok(())
    }

    fn prescan_keys(&mut self, msg: &Message<'_>) {
        let mut found = Vec::new();
        for part in &msg.parts {
            if is_type(part, "application", "pgp-keys") {
                found.extend(self.offered_keys(contents_of(part)));
            }
        }
        self.add_keys(found, KeySource::Attached);
    }

    fn decrypt(
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
            let mut decryptor = DecryptorBuilder::from_bytes(ciphertext)?
                .buffer_size(64 * 1024)
                .with_policy(&POLICY, None, self.helper(&state))?;
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
                }
                let status = state.verdict.status;
                // A signature in the same OpenPGP message as the encryption was
                // made inside it.
                self.apply(state.verdict, decrypted || self.encrypted_depth > 0);
                Ok((out, status, decrypted))
            }
            Err(e) => Err(classify_decrypt_error(&state, &e)),
        }
    }

    fn verify_detached(&mut self, data: &[u8], signature: &[u8]) -> Result<Verdict, OpenError> {
        self.count_block()?;
        let state = Rc::new(RefCell::new(HelperState::default()));
        let ok = DetachedVerifierBuilder::from_bytes(signature)
            .and_then(|b| b.with_policy(&POLICY, None, self.helper(&state)))
            .and_then(|mut v| v.verify_bytes(data));
        Ok(match ok {
            Ok(()) => state.take().verdict,
            Err(_) => bad_unverifiable(),
        })
    }

    /// Verifies a cleartext-signed block; returns the verdict and the signed text with
    /// the dash-escaping removed.
    fn verify_inline(&mut self, block: &[u8]) -> Result<(Verdict, Vec<u8>), OpenError> {
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

/// A signature we could not even check (garbage in the signature part, or the signed
/// data altered so the framing broke) is bad, not absent: the sender claimed one.
fn bad_unverifiable() -> Verdict {
    Verdict {
        status: SignatureStatus::Bad,
        signer: None,
        gateway: false,
    }
}

#[derive(Default)]
struct HelperState {
    verdict: Verdict,
    decrypted_with: Option<String>,
    /// Key IDs the message was encrypted to.
    recipients: Vec<String>,
    /// Whether one of the recipients is a key we hold (then a failure is corruption).
    addressed_to_us: bool,
    sources: HashMap<openpgp::Fingerprint, KeySource>,
    /// The certificates handed to the verifier.
    certs: Vec<Cert>,
    /// Fingerprints of the gateway's own certificates among them.
    gateway: Vec<openpgp::Fingerprint>,
}

struct Helper<'a> {
    keyring: &'a Keyring,
    max_recipients: usize,
    lookup: &'a dyn CertLookup,
    extra: &'a [(Cert, KeySource)],
    state: Rc<RefCell<HelperState>>,
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
                let (status, cert) = match result {
                    Ok(good) => {
                        let fpr = good.ka.cert().fingerprint();
                        let mut state = self.state.borrow_mut();
                        if state.gateway.contains(&fpr) {
                            state.verdict.gateway = true;
                        }
                        (SignatureStatus::Good, Some(fpr))
                    }
                    Err(VerificationError::MissingKey { .. })
                    | Err(VerificationError::UnknownSignature { .. }) => {
                        (SignatureStatus::UnknownKey, None)
                    }
                    Err(VerificationError::BadKey { ka, .. })
                    | Err(VerificationError::BadSignature { ka, .. }) => {
                        (SignatureStatus::Bad, Some(ka.cert().fingerprint()))
                    }
                    Err(VerificationError::UnboundKey { cert, .. }) => {
                        (SignatureStatus::Bad, Some(cert.fingerprint()))
                    }
                    Err(_) => (SignatureStatus::Bad, None),
                };
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
        _skesks: &[openpgp::packet::SKESK],
        sym_algo: Option<openpgp::types::SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(
            Option<openpgp::types::SymmetricAlgorithm>,
            &openpgp::crypto::SessionKey,
        ) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        let keys = self.keyring.decryption_keys();
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
            let candidates = keys.iter().filter(|k| match &recipient {
                Some(r) => r.aliases(k.key_handle()),
                None => true,
            });
            for key in candidates {
                if recipient.is_some() {
                    self.state.borrow_mut().addressed_to_us = true;
                }
                let Ok(mut pair) = key.clone().into_keypair() else {
                    continue;
                };
                if let Some((algo, sk)) = pkesk.decrypt(&mut pair, sym_algo)
                    && decrypt(algo, &sk)
                {
                    let cert = self.keyring.gateway_cert_of(&key.key_handle()).cloned();
                    self.state.borrow_mut().decrypted_with =
                        cert.as_ref().map(|c| c.fingerprint().to_hex());
                    return Ok(cert);
                }
            }
        }
        Err(anyhow::anyhow!("no gateway key decrypts this message"))
    }
}

fn classify_decrypt_error(state: &HelperState, err: &anyhow::Error) -> OpenError {
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

fn children<'m>(msg: &'m Message<'m>, part: &MessagePart<'_>) -> Vec<&'m MessagePart<'m>> {
    match &part.body {
        PartType::Multipart(ids) => ids.iter().filter_map(|id| msg.part(*id)).collect(),
        _ => Vec::new(),
    }
}

fn is_type(part: &MessagePart<'_>, t: &str, s: &str) -> bool {
    part.content_type().is_some_and(|c| {
        c.ctype().eq_ignore_ascii_case(t) && c.subtype().is_some_and(|x| x.eq_ignore_ascii_case(s))
    })
}

fn contents_of<'p>(part: &'p MessagePart<'_>) -> &'p [u8] {
    match &part.body {
        PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
        PartType::Binary(b) | PartType::InlineBinary(b) => b,
        PartType::Message(m) => m.raw_message(),
        PartType::Multipart(_) => &[],
    }
}

/// A text part's body after undoing the transfer encoding but before charset
/// conversion: the bytes a clearsignature was made over.
fn transfer_decoded<'m>(
    msg: &'m Message<'_>,
    part: &MessagePart<'_>,
) -> std::borrow::Cow<'m, [u8]> {
    use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};
    let Some(raw) = msg
        .raw_message()
        .get(part.offset_body as usize..part.offset_end as usize)
    else {
        return std::borrow::Cow::Owned(contents_of(part).to_vec());
    };
    match part.encoding {
        mail_parser::Encoding::None => std::borrow::Cow::Borrowed(raw),
        mail_parser::Encoding::Base64 => base64_decode(raw)
            .map(std::borrow::Cow::Owned)
            .unwrap_or_else(|| std::borrow::Cow::Owned(contents_of(part).to_vec())),
        mail_parser::Encoding::QuotedPrintable => quoted_printable_decode(raw)
            .map(std::borrow::Cow::Owned)
            .unwrap_or_else(|| std::borrow::Cow::Owned(contents_of(part).to_vec())),
    }
}

/// Bytes in a named charset to text; UTF-8 when unnamed or valid, lossy as a last
/// resort so a wrong label never loses a report.
fn decode_charset(bytes: &[u8], charset: Option<&str>) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    if let Some(decoder) =
        charset.and_then(|c| mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()))
    {
        return decoder(bytes);
    }
    String::from_utf8_lossy(bytes).into_owned()
}

/// Canonical form for signing (RFC 3156 section 5): every line ends in CRLF.
pub fn canonical_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut prev = 0u8;
    for &b in bytes {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    find_from(hay, needle, 0)
}

fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn split3(bytes: &[u8], start: usize, end: usize) -> (&[u8], &[u8], &[u8]) {
    let (head, tail) = bytes.split_at(start.min(bytes.len()));
    let (mid, rest) = tail.split_at(end.saturating_sub(start).min(tail.len()));
    (head, mid, rest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn crlf_canonicalisation() {
        assert_eq!(canonical_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(canonical_crlf(b""), b"");
    }

    #[test]
    fn find_and_split() {
        assert_eq!(find(b"xxabcxx", b"abc"), Some(2));
        assert_eq!(find_from(b"abcabc", b"abc", 1), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        let (a, b, c) = split3(b"0123456789", 2, 5);
        assert_eq!((a, b, c), (&b"01"[..], &b"234"[..], &b"56789"[..]));
    }

    #[test]
    fn plain_message_opens_as_text() {
        let ring = Keyring::default();
        let none = |_: &KeyHandle| Vec::new();
        let raw = b"From: a@example.net\r\nSubject: hi\r\n\r\nTitle: XSS in search\r\n";
        let o = open(raw, &ring, &none, &[], &Limits::default()).unwrap();
        assert_eq!(o.form, Form::Plain);
        assert!(!o.encrypted);
        assert_eq!(o.signature, SignatureStatus::None);
        assert!(o.text.contains("XSS in search"));
        assert_eq!(o.subject, None);
    }

    #[test]
    fn undecryptable_armor_is_an_error_not_a_panic() {
        let ring = Keyring::default();
        let none = |_: &KeyHandle| Vec::new();
        let raw = b"From: a@example.net\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA\r\n-----END PGP MESSAGE-----\r\n";
        assert!(open(raw, &ring, &none, &[], &Limits::default()).is_err());
        let raw = b"From: a@example.net\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nno end";
        assert!(matches!(
            open(raw, &ring, &none, &[], &Limits::default()),
            Err(OpenError::Corrupt(_))
        ));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "open_tests.rs"]
mod verdicts;
