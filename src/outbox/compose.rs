//! Composing outgoing mail as RFC 3156 PGP/MIME: `multipart/signed` with a detached
//! signature, or `multipart/encrypted` holding a signed and encrypted inner part with
//! protected headers.
//!
//! Values that came from a report (titles, names, Message-IDs) are sanitised before they
//! reach a header: control characters removed, length capped, and lettre encodes what
//! is not ASCII.

use chrono::{DateTime, Utc};
use lettre::message::header::{self, ContentDisposition, ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use sequoia_openpgp::Cert;

use super::OutboxError;
use crate::config::Settings;
use crate::crypto::{Keyring, seal};

/// Longest subject text taken from a report.
pub(crate) const MAX_SUBJECT_TEXT: usize = 120;

/// A message ready to hand to a transport.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub bytes: Vec<u8>,
    pub message_id: String,
}

/// The parts of a message that do not depend on its content.
pub(crate) struct Envelope<'a> {
    pub to: &'a str,
    /// The addressee's display name: a maintainer's configured `name`.
    pub to_name: Option<&'a str>,
    pub subject: String,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    pub message_id: &'a str,
    pub date: DateTime<Utc>,
    /// `Auto-Submitted` (RFC 3834): `auto-replied` for answers to the reporter,
    /// `auto-generated` for notifications; none for a person's message.
    pub auto_submitted: Option<&'static str>,
}

/// What is attached beside the text, inside the signed (and encrypted) part.
pub(crate) enum Extra<'a> {
    /// The gateway's current public key.
    GatewayKey,
    /// A file that came with a report.
    File {
        name: &'a str,
        content_type: &'a str,
        data: &'a [u8],
    },
}

/// Removes what must never reach a header from text that came from a report: line
/// breaks (header injection), other control characters, and excess length.
pub(crate) fn sanitize_header_text(text: &str, max_chars: usize) -> String {
    crate::intake::one_line(text, max_chars)
}

/// The report's title, made safe for a Subject header, or `fallback`.
pub(crate) fn subject_title(report: &crate::store::Report, fallback: &str) -> String {
    // A maintainer's corrected title (`reports set --title`, `X-TITLE`) first.
    report
        .detail(crate::store::Detail::Title)
        .map(|t| sanitize_header_text(t, MAX_SUBJECT_TEXT))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| fallback.to_string())
}

/// A Message-ID from incoming mail, if it is safe to repeat in our headers.
pub(crate) fn safe_msgid(id: &str) -> Option<String> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let ok = !id.is_empty()
        && id.len() <= 250
        && id.contains('@')
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>' && b != b'"' && b != b'\\');
    ok.then(|| id.to_string())
}

fn content_type(value: &str) -> Result<ContentType, OutboxError> {
    ContentType::parse(value).map_err(|e| OutboxError::Compose(e.to_string()))
}

fn text_part(text: &str, protected_subject: Option<&str>) -> Result<SinglePart, OutboxError> {
    let ct = if protected_subject.is_some() {
        "text/plain; charset=utf-8; protected-headers=\"v1\""
    } else {
        "text/plain; charset=utf-8"
    };
    let mut builder = SinglePart::builder()
        .header(content_type(ct)?)
        // Signed content must survive any relay unchanged: 7-bit only.
        .header(ContentTransferEncoding::QuotedPrintable);
    if let Some(subject) = protected_subject {
        builder = builder.header(header::Subject::from(subject.to_string()));
    }
    Ok(builder.body(text.replace("\r\n", "\n")))
}

fn key_part(armored_key: &[u8], fingerprint: &str) -> Result<SinglePart, OutboxError> {
    let name = format!("{}.asc", fingerprint);
    Ok(SinglePart::builder()
        .header(content_type(&format!(
            "application/pgp-keys; name=\"{name}\""
        ))?)
        .header(ContentDisposition::attachment(&name))
        .header(ContentTransferEncoding::SevenBit)
        .body(String::from_utf8_lossy(armored_key).into_owned()))
}

/// A report's file for maintainers, base64 so any bytes survive signing.
fn file_part(name: &str, content_type: &str, data: &[u8]) -> Result<SinglePart, OutboxError> {
    let name = sanitize_header_text(name, 100).replace(['"', '\\', '/'], "_");
    let ct = ContentType::parse(content_type)
        .or_else(|_| ContentType::parse("application/octet-stream"))
        .map_err(|e| OutboxError::Compose(e.to_string()))?;
    Ok(SinglePart::builder()
        .header(ct)
        .header(ContentDisposition::attachment(&name))
        .header(ContentTransferEncoding::Base64)
        .body(data.to_vec()))
}

/// The bytes RFC 3156 signs: the part as it goes on the wire, without the CRLF that
/// belongs to the following boundary.
fn signed_bytes(formatted: Vec<u8>) -> Vec<u8> {
    let mut b = formatted;
    if b.ends_with(b"\r\n") {
        b.truncate(b.len() - 2);
    }
    b
}

enum Inner {
    Single(SinglePart),
    Multi(MultiPart),
}

impl Inner {
    fn formatted(&self) -> Vec<u8> {
        match self {
            Inner::Single(p) => p.formatted(),
            Inner::Multi(p) => p.formatted(),
        }
    }
}

/// Builds the final message: signed, or signed and encrypted to `recipient`.
pub(crate) fn seal_message(
    settings: &Settings,
    keyring: &Keyring,
    env: &Envelope<'_>,
    body: &str,
    extras: &[Extra<'_>],
    recipient: Option<&Cert>,
    protected_subject: &str,
) -> Result<Rendered, OutboxError> {
    let gateway = keyring.signing_cert().ok_or(OutboxError::NoSigningKey)?;
    let fingerprint = gateway.fingerprint().to_hex();
    let protected = recipient.map(|_| protected_subject);
    let inner = inner_part(keyring, &fingerprint, body, extras, protected)?;
    let builder = headers(settings, keyring, env)?;
    let outer = outer_part(keyring, inner, recipient)?;
    let message = builder
        .multipart(outer)
        .map_err(|e| OutboxError::Compose(e.to_string()))?;
    Ok(Rendered {
        bytes: message.formatted(),
        message_id: env.message_id.to_string(),
    })
}

/// What is signed (and encrypted): the text, then any extras beside it.
fn inner_part(
    keyring: &Keyring,
    fingerprint: &str,
    body: &str,
    extras: &[Extra<'_>],
    protected: Option<&str>,
) -> Result<Inner, OutboxError> {
    Ok(if extras.is_empty() {
        Inner::Single(text_part(body, protected)?)
    } else {
        // The protected headers go on the root of what is signed and encrypted (the
        // "protected headers" draft): here the multipart/mixed, not its text part,
        // or clients show the outer placeholder subject.
        let boundary = MultiPart::mixed().build().boundary();
        let mut root = MultiPart::builder().header(content_type(&format!(
            "multipart/mixed; boundary=\"{boundary}\"{}",
            if protected.is_some() {
                "; protected-headers=\"v1\""
            } else {
                ""
            }
        ))?);
        if let Some(subject) = protected {
            root = root.header(header::Subject::from(subject.to_string()));
        }
        let mut mixed = root.singlepart(text_part(body, None)?);
        for extra in extras {
            mixed = mixed.singlepart(match extra {
                Extra::GatewayKey => {
                    let key = keyring
                        .public_key_armored()
                        .ok_or(OutboxError::NoSigningKey)?;
                    key_part(&key, fingerprint)?
                }
                Extra::File {
                    name,
                    content_type,
                    data,
                } => file_part(name, content_type, data)?,
            });
        }
        Inner::Multi(mixed)
    })
}

/// The outer headers, from the envelope, and the gateway's Autocrypt header.
fn headers(
    settings: &Settings,
    keyring: &Keyring,
    env: &Envelope<'_>,
) -> Result<lettre::message::MessageBuilder, OutboxError> {
    let from = Mailbox::new(
        Some(settings.gateway.name.clone()),
        settings
            .gateway
            .address
            .parse()
            .map_err(|e: lettre::address::AddressError| OutboxError::Compose(e.to_string()))?,
    );
    let to: lettre::Address = env
        .to
        .parse()
        .map_err(|e: lettre::address::AddressError| OutboxError::BadRecipient(e.to_string()))?;

    let mut builder = lettre::Message::builder()
        .from(from)
        .to(Mailbox::new(
            env.to_name
                .map(|n| sanitize_header_text(n, 100))
                .filter(|n| !n.is_empty()),
            to,
        ))
        .subject(env.subject.clone())
        .message_id(Some(format!("<{}>", env.message_id)))
        .date(env.date.into());
    if let Some(value) = env.auto_submitted {
        builder = builder.header(AutoSubmitted(value));
    }
    if let Some(autocrypt) = keyring
        .signing_cert()
        .and_then(|cert| Autocrypt::of(cert, &settings.gateway.address))
    {
        builder = builder.header(autocrypt);
    }
    if let Some(parent) = env.in_reply_to.and_then(safe_msgid) {
        builder = builder.in_reply_to(format!("<{parent}>"));
    }
    let refs: Vec<String> = env
        .references
        .iter()
        .filter_map(|r| safe_msgid(r))
        .map(|r| format!("<{r}>"))
        .collect();
    if !refs.is_empty() {
        builder = builder.references(refs.join(" "));
    }
    Ok(builder)
}

/// The PGP/MIME structure around `inner`: signed (RFC 3156 section 5), or signed and
/// encrypted to `recipient` (section 4).
fn outer_part(
    keyring: &Keyring,
    inner: Inner,
    recipient: Option<&Cert>,
) -> Result<MultiPart, OutboxError> {
    Ok(match recipient {
        None => {
            let data = signed_bytes(inner.formatted());
            let signature = seal::sign_detached(keyring, &data)?;
            let sig_part = SinglePart::builder()
                .header(content_type(
                    "application/pgp-signature; name=\"signature.asc\"",
                )?)
                .header(ContentDisposition::attachment("signature.asc"))
                .header(ContentTransferEncoding::SevenBit)
                .body(String::from_utf8_lossy(&signature).into_owned());
            let signed = MultiPart::signed(
                "application/pgp-signature".to_string(),
                seal::MICALG.to_string(),
            );
            match inner {
                Inner::Single(p) => signed.singlepart(p).singlepart(sig_part),
                Inner::Multi(p) => signed.multipart(p).singlepart(sig_part),
            }
        }
        Some(cert) => {
            let ciphertext = seal::sign_and_encrypt(keyring, &[cert], &inner.formatted())?;
            MultiPart::encrypted("application/pgp-encrypted".to_string())
                .singlepart(
                    SinglePart::builder()
                        .header(content_type("application/pgp-encrypted")?)
                        .header(ContentDisposition::inline())
                        .header(ContentTransferEncoding::SevenBit)
                        .body("Version: 1\r\n".to_string()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(content_type(
                            "application/octet-stream; name=\"encrypted.asc\"",
                        )?)
                        .header(ContentDisposition::inline_with_name("encrypted.asc"))
                        .header(ContentTransferEncoding::SevenBit)
                        .body(String::from_utf8_lossy(&ciphertext).into_owned()),
                )
        }
    })
}

/// `Auto-Submitted` (RFC 3834 section 5): other automatic responders must not answer
/// us.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted(&'static str);

impl header::Header for AutoSubmitted {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(value: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted(if value.trim() == "auto-generated" {
            "auto-generated"
        } else {
            "auto-replied"
        }))
    }

    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), self.0.to_string())
    }
}

/// The `Autocrypt:` header (Autocrypt Level 1, section 2.1): our address, which is
/// the From of everything we send, `prefer-encrypt=mutual`, and the minimal key, so
/// that a researcher's client can encrypt to the gateway without a key server.
#[derive(Debug, Clone)]
struct Autocrypt {
    addr: String,
    keydata: String,
}

impl Autocrypt {
    fn of(cert: &Cert, address: &str) -> Option<Autocrypt> {
        use base64::Engine as _;
        let key = crate::crypto::publication::autocrypt_keydata(cert, address)?;
        Some(Autocrypt {
            addr: address.to_string(),
            keydata: base64::engine::general_purpose::STANDARD.encode(key),
        })
    }

    /// The value, folded: the base64 key runs over many short continuation lines
    /// (folding whitespace inside `keydata` is ignored by readers).
    fn folded(&self) -> String {
        let mut out = format!("addr={}; prefer-encrypt=mutual; keydata=", self.addr);
        // base64 is ASCII: every chunk boundary is a character boundary.
        for chunk in self.keydata.as_bytes().chunks(72) {
            out.push_str("\r\n ");
            out.push_str(&String::from_utf8_lossy(chunk));
        }
        out
    }
}

impl header::Header for Autocrypt {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("Autocrypt")
    }

    fn parse(value: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let mut addr = None;
        let mut keydata = None;
        for attr in value.split(';') {
            match attr.trim().split_once('=') {
                Some(("addr", v)) => addr = Some(v.trim().to_string()),
                Some(("keydata", v)) => keydata = Some(v.split_whitespace().collect()),
                _ => {}
            }
        }
        match (addr, keydata) {
            (Some(addr), Some(keydata)) => Ok(Autocrypt { addr, keydata }),
            _ => Err("Autocrypt header without addr or keydata".into()),
        }
    }

    fn display(&self) -> header::HeaderValue {
        let raw = format!(
            "addr={}; prefer-encrypt=mutual; keydata={}",
            self.addr, self.keydata
        );
        // Pre-encoded: the address passed lettre's address check (no spaces, no line
        // breaks) and the rest is base64, so there is nothing to escape.
        header::HeaderValue::dangerous_new_pre_encoded(Self::name(), raw, self.folded())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn header_text_is_sanitised() {
        let cases = [
            ("plain", "plain"),
            (
                "evil\r\nBcc: victim@example.com",
                "evil Bcc: victim@example.com",
            ),
            ("tab\tand\u{7}bell", "tab and bell"),
            ("  spaced   out  ", "spaced out"),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize_header_text(input, 100), want);
        }
        let long = sanitize_header_text(&"é".repeat(500), 50);
        assert_eq!(long.chars().count(), 50);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn message_ids_are_checked() {
        assert_eq!(safe_msgid("<a@b>").as_deref(), Some("a@b"));
        assert_eq!(safe_msgid("a@b"), Some("a@b".to_string()));
        assert_eq!(safe_msgid("a b@c"), None);
        assert_eq!(safe_msgid("a@b>\r\nBcc: x"), None);
        assert_eq!(safe_msgid("no-at-sign"), None);
        assert_eq!(safe_msgid(""), None);
    }

    #[test]
    fn every_message_carries_the_gateway_autocrypt_header() {
        use base64::Engine as _;
        let tmp = tempfile::tempdir().unwrap();
        let settings =
            Settings::parse_toml("[gateway]\naddress = \"security@example.org\"").unwrap();
        let ring = crate::crypto::test_keyring(tmp.path(), "security@example.org");
        let env = Envelope {
            to: "alice@example.net",
            to_name: None,
            subject: "s".into(),
            in_reply_to: None,
            references: &[],
            message_id: "m@example.org",
            date: Utc::now(),
            auto_submitted: Some("auto-replied"),
        };
        let sent = seal_message(&settings, &ring, &env, "text", &[], None, "").unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(&sent.bytes)
            .unwrap();
        let value = parsed.header_raw("Autocrypt").unwrap();
        // Folded lines, each short, none longer than the 78 characters of RFC 5322.
        assert!(value.lines().all(|l| l.len() <= 78), "{value}");
        let unfolded: String = value.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            unfolded.starts_with("addr=security@example.org; prefer-encrypt=mutual; keydata="),
            "{unfolded}"
        );
        let (_, b64) = unfolded.split_once("keydata=").unwrap();
        let key = base64::engine::general_purpose::STANDARD
            .decode(b64.replace(' ', ""))
            .unwrap();
        let want = crate::crypto::publication::autocrypt_keydata(
            ring.signing_cert().unwrap(),
            "security@example.org",
        )
        .unwrap();
        assert_eq!(key, want);
    }

    #[test]
    fn signed_bytes_drop_only_the_boundary_crlf() {
        assert_eq!(signed_bytes(b"a\r\nb\r\n".to_vec()), b"a\r\nb");
        assert_eq!(signed_bytes(b"a".to_vec()), b"a");
    }
}
