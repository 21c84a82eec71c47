//! Opening incoming mail: find the OpenPGP layers of a message (RFC 3156 PGP/MIME,
//! inline armored blocks, signed-only forms), decrypt them with any gateway key, verify
//! every signature against the keys we know, and return the innermost content.
//!
//! Signatures are judged in one place, [`sequoia::Helper`]'s `check`, and the verdict
//! is recorded, not enforced: a report with a bad signature is still a report, marked
//! `bad`.
//!
//! - [`walk`]: the MIME walk (which parts are text, files, keys or OpenPGP layers).
//! - [`armor`]: inline armored messages and cleartext signatures inside text.
//! - [`sequoia`]: decryption and verification with sequoia, and the verdicts.
//! - [`proof`]: what content was read under which signature, and what it proves.
//! - [`mime`]: byte-level MIME helpers and the canonical form for signing.

mod armor;
mod mime;
mod proof;
mod sequoia;
mod walk;

use sequoia_openpgp::{Cert, KeyHandle};

use super::{KeySource, Keyring, SignatureStatus};
use crate::config::{LimitExceeded, Limits};

pub use mime::canonical_crlf;

/// Most OpenPGP blocks (decryptions and verifications) one message may ask for.
const MAX_BLOCKS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Nothing we hold can decrypt it: say which keys it was for, so the reporter can
    /// see they used an old or wrong key.
    #[error("encrypted to a key this gateway does not have (recipients: {recipients})")]
    NoKey { recipients: String },
    #[error("the encrypted data is corrupt or truncated ({0})")]
    Corrupt(String),
    /// S/MIME mail: the gateway reads OpenPGP only. The sender is told so, with the
    /// gateway's OpenPGP key.
    #[error(
        "{0}: this gateway does not support S/MIME and reads OpenPGP only; please send it again encrypted to its OpenPGP key"
    )]
    Smime(&'static str),
    /// Symmetric (passphrase) encryption only: there is nothing our keys can open,
    /// and a gateway must not ask for or guess passphrases.
    #[error(
        "encrypted with a passphrase only, not to a public key: this gateway cannot read passphrase-encrypted mail; please send it again encrypted to its OpenPGP key"
    )]
    PassphraseOnly,
    /// Encrypted with a symmetric cipher this gateway cannot decrypt (one its
    /// OpenPGP library does not implement, or one no policy allows).
    #[error(
        "encrypted with {0}, a cipher this gateway cannot decrypt; please send it again encrypted to its OpenPGP key with a current OpenPGP program (AES)"
    )]
    Cipher(String),
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
    /// The legacy symmetric cipher (CAST5, 3DES) the report was encrypted with, which
    /// the gateway reads but never writes: something maintainers should know.
    pub legacy_cipher: Option<String>,
    /// Protected (inner) Subject; wins over an outer placeholder such as "...".
    pub subject: Option<String>,
    /// The body as read, text and HTML parts in order.
    pub body: Vec<Body>,
    pub attachments: Vec<Attachment>,
    /// Keys the message carried (attachments and pasted key blocks), with the source.
    pub keys: Vec<Cert>,
    /// Key and subkey revocation signatures the message carried on their own (a
    /// revocation certificate attached or pasted), not yet checked against any key.
    pub revocations: Vec<sequoia_openpgp::packet::Signature>,
    /// The certificate this message proves its sender holds (see [`Proven`]).
    pub proven: Option<Proven>,
    /// A good signature by one of the gateway's own keys: a copy of mail the gateway
    /// sent, never a report.
    pub gateway_signed: bool,
    /// Every good signature in the message, wherever it sits, with the primary
    /// fingerprint of its signer: what a refused message marks as used, so that no
    /// wrapping of it can be taken later.
    pub good_signatures: Vec<(String, SignatureMark)>,
    /// Issuers (fingerprints, else key IDs, in hex) of signatures by keys the
    /// gateway did not have: the key that may prove the message once it arrives.
    pub unknown_issuers: Vec<String>,
}

/// One piece of a message's body, in the order it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(String),
    Html(String),
}

impl Opened {
    /// The plain-text parts, joined.
    pub fn text(&self) -> String {
        self.pieces(|b| match b {
            Body::Text(t) => Some(t.clone()),
            Body::Html(_) => None,
        })
    }

    /// The HTML parts, joined.
    pub fn html(&self) -> Option<String> {
        Some(self.pieces(|b| match b {
            Body::Html(h) => Some(h.clone()),
            Body::Text(_) => None,
        }))
        .filter(|h| !h.is_empty())
    }

    /// The whole body as text, every part in order, HTML rendered by `render`
    /// (the extractor's renderer: crypto does not render HTML itself).
    pub fn body_text(&self, render: impl Fn(&str) -> String) -> String {
        self.pieces(|b| match b {
            Body::Text(t) => Some(t.clone()),
            Body::Html(h) => Some(render(h)),
        })
    }

    fn pieces(&self, f: impl Fn(&Body) -> Option<String>) -> String {
        let parts: Vec<String> = self
            .body
            .iter()
            .filter_map(f)
            .filter(|p| !p.trim().is_empty())
            .collect();
        parts.join("\n\n")
    }
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
    /// Every good signature by it that counts for the proof: what a maintainer's
    /// mail is dated by, and what makes a replay of it recognisable.
    pub signatures: Vec<SignatureMark>,
    /// Whether the signer made the message's encryption too: the message has one
    /// outermost encrypted layer, and the proving signature was made in the same
    /// OpenPGP message as that encryption (signed and encrypted in one step), so it
    /// covers all of the decrypted content. A signature found deeper (a message
    /// someone else wrapped in an encryption layer of their own, or signed content
    /// encrypted separately) cannot tell who encrypted it.
    pub outermost: bool,
    /// The headers of the signed entity itself (protected headers), when the signature
    /// is [`Proven::outermost`]: what the signer wrote, never a wrapper's headers.
    pub signed_headers: SignedHeaders,
}

/// Headers inside the signed entity (draft-autocrypt-lamps-protected-headers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedHeaders {
    pub subject: Option<String>,
    /// In-Reply-To, then References, newest last.
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
}

/// One good signature: when its signer says it was made, and its replay key (the
/// same signature sent again has the same key, whatever envelope, Message-ID,
/// encryption or unhashed subpackets it comes with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureMark {
    /// The replay key, lower-case hex: SHA-256 over what the signer signed and
    /// nothing anyone else can change: the signing key's fingerprint, the
    /// signature's version, type and algorithms, its hashed subpacket area, and the
    /// digest it was verified against (which covers the signed data). Unhashed
    /// subpackets are outside it, and so are the signature's MPIs (an ECDSA
    /// signature has two valid forms).
    pub digest: String,
    /// SHA-256 of the serialized signature packet as it came: the replay key of
    /// earlier versions, still looked up so that a signature used before an upgrade
    /// stays used.
    pub packet_digest: String,
    pub created: Option<std::time::SystemTime>,
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
            legacy_cipher: None,
            subject: None,
            body: Vec::new(),
            attachments: Vec::new(),
            keys: Vec::new(),
            revocations: Vec::new(),
            proven: None,
            gateway_signed: false,
            good_signatures: Vec::new(),
            unknown_issuers: Vec::new(),
        },
        signed_depth: 0,
        attachment_bytes: 0,
        unsigned_content: false,
        encrypted_depth: 0,
        proven_depth: 0,
        unproven_content: false,
        proof_signers: Vec::new(),
        outer_layers: 0,
        outer_headers: None,
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
    /// How many encrypted layers one of our keys opened outside every other one.
    outer_layers: usize,
    /// The headers of the content of the outermost encrypted layer, when a good
    /// signature made with that encryption covers it.
    outer_headers: Option<SignedHeaders>,
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
    /// Made in the same OpenPGP message as the outermost encryption.
    outermost: bool,
    marks: Vec<SignatureMark>,
}

/// The verdict of one signature layer.
#[derive(Default)]
struct Verdict {
    status: SignatureStatus,
    signer: Option<(String, Option<KeySource>, Option<Cert>)>,
    /// A good signature was made by one of the gateway's own keys.
    gateway: bool,
    /// The good signatures of this layer, with their signers' primary fingerprints.
    marks: Vec<(String, SignatureMark)>,
    /// Issuers of this layer's signatures by keys we lacked.
    unknown: Vec<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn plain_message_opens_as_text() {
        let ring = Keyring::default();
        let none = |_: &KeyHandle| Vec::new();
        let raw = b"From: a@example.net\r\nSubject: hi\r\n\r\nTitle: XSS in search\r\n";
        let o = open(raw, &ring, &none, &[], &Limits::default()).unwrap();
        assert_eq!(o.form, Form::Plain);
        assert!(!o.encrypted);
        assert_eq!(o.signature, SignatureStatus::None);
        assert!(o.text().contains("XSS in search"));
        assert_eq!(o.subject, None);
    }

    #[test]
    fn undecryptable_armor_is_an_error_not_a_panic() {
        let ring = Keyring::default();
        let none = |_: &KeyHandle| Vec::new();
        let raw = b"From: a@example.net\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA\r\n-----END PGP MESSAGE-----\r\n";
        assert!(open(raw, &ring, &none, &[], &Limits::default()).is_err());
        // Cut off after the data began: truncated.
        let raw = b"From: a@example.net\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA0Zk\r\n";
        assert!(matches!(
            open(raw, &ring, &none, &[], &Limits::default()),
            Err(OpenError::Corrupt(_))
        ));
        // The line quoted in prose, no data and no END line after it: text.
        for raw in [
            &b"From: a@example.net\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nno end"[..],
            b"From: a@example.net\r\n\r\nThe importer chokes on `-----BEGIN PGP MESSAGE-----` lines.\r\n",
        ] {
            let o = open(raw, &ring, &none, &[], &Limits::default()).unwrap();
            assert_eq!(o.form, Form::Plain);
            assert!(o.text().contains("-----BEGIN PGP MESSAGE-----"), "{}", o.text());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod verdicts;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod layout_verdicts;
