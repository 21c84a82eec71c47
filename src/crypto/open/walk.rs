//! The MIME walk: which parts of a message (or of decrypted or signed content) are
//! text, HTML, files, keys, and which are OpenPGP layers to open.

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};
use sequoia_openpgp::Cert;

use super::armor::{BEGIN_MESSAGE, BEGIN_SIGNED, find, html_armor_text};
use super::mime::{children, contents_of, flowed, is_type, transfer_decoded, unflow};
use super::{Attachment, Ctx, Form, OpenError};
use crate::crypto::KeySource;

impl Ctx<'_> {
    /// Handles one MIME entity (a whole message, or decrypted/signed content).
    pub(super) fn entity(&mut self, bytes: &[u8], depth: usize) -> Result<(), OpenError> {
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
        let root = msg.root_part();
        if root.headers.is_empty() && !matches!(root.body, PartType::Multipart(_)) {
            // Decrypted content with no MIME headers at all is plain text.
            return self.text_part(bytes, None, depth);
        }
        self.part(&mut msg, 0, depth)
    }

    /// Handles one part of a parsed entity and, for a multipart, its children in
    /// order: an encrypted or signed entity is opened wherever it sits in the tree
    /// (providers and lists wrap it in `multipart/mixed`; an S/MIME signature may
    /// wrap it), and everything else is text, HTML, a key or a file.
    fn part(&mut self, msg: &mut Message<'_>, id: u32, depth: usize) -> Result<(), OpenError> {
        let Some(part) = msg.parts.get(id as usize) else {
            return Ok(());
        };
        match Layer::of(msg, part) {
            Layer::Encrypted => self.pgp_mime_encrypted(msg, id, depth),
            Layer::PgpSigned => self.pgp_mime_signed(msg, id, depth),
            Layer::SmimeSigned(first) => {
                // We cannot check an S/MIME signature, and it proves nothing about an
                // OpenPGP key: read what it signs as if it were not there.
                self.part(msg, first, depth)
            }
            Layer::Smime(what) => Err(OpenError::Smime(what)),
            Layer::Multipart(ids) => {
                for child in ids {
                    self.part(msg, child, depth)?;
                }
                Ok(())
            }
            Layer::Leaf => self.leaf(msg, id, depth),
        }
    }

    /// RFC 3156 section 4: multipart/encrypted with a version part and the armored
    /// OpenPGP message.
    fn pgp_mime_encrypted(
        &mut self,
        msg: &mut Message<'_>,
        id: u32,
        depth: usize,
    ) -> Result<(), OpenError> {
        let parent = msg.part(id);
        let children = parent.map(|p| children(msg, p)).unwrap_or_default();
        if self.encrypted_depth > 0 && !children.iter().any(|p| holds_openpgp(p)) {
            return self.gpgol_wrapper(msg, id, depth);
        }
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

    /// GpgOL's internal form (Outlook): the decrypted content is itself a
    /// `multipart/encrypted` with the version part and an "encrypted" part that holds
    /// the message in the clear, its MIME or its text. Inside a layer one of our keys
    /// decrypted, such a wrapper is read as what it holds; it adds no encryption.
    fn gpgol_wrapper(
        &mut self,
        msg: &mut Message<'_>,
        id: u32,
        depth: usize,
    ) -> Result<(), OpenError> {
        let ids = match msg.part(id).map(|p| &p.body) {
            Some(PartType::Multipart(ids)) => ids.clone(),
            _ => Vec::new(),
        };
        for child in ids {
            let Some(part) = msg.part(child) else {
                continue;
            };
            if is_type(part, "application", "pgp-encrypted") {
                continue;
            }
            if is_type(part, "application", "octet-stream") && part.attachment_name().is_none() {
                let held = contents_of(part).to_vec();
                let charset = part
                    .content_type()
                    .and_then(|c| c.attribute("charset"))
                    .map(str::to_string);
                self.plaintext(&held, charset.as_deref(), depth + 1)?;
            } else {
                self.part(msg, child, depth)?;
            }
        }
        Ok(())
    }

    /// RFC 3156 section 5: the first part is signed as it stands on the wire, with
    /// CRLF line ends, up to but not including the CRLF before the boundary.
    fn pgp_mime_signed(
        &mut self,
        msg: &Message<'_>,
        id: u32,
        depth: usize,
    ) -> Result<(), OpenError> {
        let parent = msg.part(id);
        let children = parent.map(|p| children(msg, p)).unwrap_or_default();
        let (Some(signed), Some(sig)) = (children.first(), children.get(1)) else {
            return Err(OpenError::Malformed(
                "multipart/signed without two parts".into(),
            ));
        };
        let raw = msg.raw_message();
        let signed_bytes = raw
            .get(signed.offset_header as usize..signed.offset_end as usize)
            .ok_or_else(|| OpenError::Malformed("multipart/signed part out of range".into()))?;
        let verdict = self.verify_detached(signed_bytes, contents_of(sig))?;
        let status = verdict.status;
        self.apply(verdict, self.encrypted_depth > 0, false);
        if self.out.form == Form::Plain {
            self.out.form = Form::PgpMime;
        }
        self.under(status, |ctx| ctx.entity(signed_bytes, depth + 1))
    }

    /// A part that is not a multipart: body text, HTML, or a file. Which text and
    /// HTML parts are the body is mail-parser's reading (an HTML alternative to a
    /// plain-text part is not read, so it is not content either).
    fn leaf(&mut self, msg: &mut Message<'_>, id: u32, depth: usize) -> Result<(), OpenError> {
        let Some(part) = msg.parts.get(id as usize) else {
            return Ok(());
        };
        let in_text = msg.text_body.contains(&id);
        let html_only = || {
            !msg.text_body
                .iter()
                .any(|t| matches!(msg.part(*t).map(|p| &p.body), Some(PartType::Text(_))))
        };
        match &part.body {
            PartType::Text(text) if in_text => {
                if text.contains(BEGIN_MESSAGE) || text.contains(BEGIN_SIGNED) {
                    let bytes = transfer_decoded(msg, part);
                    let charset = part.content_type().and_then(|c| c.attribute("charset"));
                    self.text_part(&bytes, charset, depth)
                } else {
                    let text = match flowed(part) {
                        Some(delsp) => unflow(text, delsp),
                        None => text.to_string(),
                    };
                    self.push_text(&text);
                    Ok(())
                }
            }
            PartType::Html(html) if in_text || (msg.html_body.contains(&id) && html_only()) => {
                let html = html.to_string();
                self.html_part(html, depth)
            }
            _ if msg.attachments.contains(&id) => self.attachment(msg, id, depth),
            _ => Ok(()),
        }
    }

    /// An HTML body part: inline OpenPGP in it is opened from its text (mailers put
    /// armor in HTML line by line, in `<div>`s or `<br>`s); any other HTML is kept
    /// as it is, every part of it in order.
    fn html_part(&mut self, html: String, depth: usize) -> Result<(), OpenError> {
        if html.contains(BEGIN_MESSAGE) || html.contains(BEGIN_SIGNED) {
            let text = html_armor_text(&html);
            if self.out.form == Form::Plain {
                self.out.form = Form::Inline;
            }
            return self.text_part(text.as_bytes(), None, depth);
        }
        self.push_html(html);
        Ok(())
    }

    fn attachment(
        &mut self,
        msg: &mut Message<'_>,
        id: u32,
        depth: usize,
    ) -> Result<(), OpenError> {
        let Some(part) = msg.parts.get(id as usize) else {
            return Ok(());
        };
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
        if content_type == "application/pgp-encrypted" && is_version_part(data) {
            // The RFC 3156 version part of a multipart/encrypted that a provider
            // rewrote into multipart/mixed (Exchange, Google Workspace): it says
            // nothing, and the encrypted part beside it is opened as PGP/MIME.
            if self.out.form == Form::Plain {
                self.out.form = Form::PgpMime;
            }
            return Ok(());
        }
        // The encrypted part of such a rewritten message, or an inline-PGP message
        // attached as a file (`encrypted.asc`).
        if content_type != "application/pgp-signature"
            && !matches!(part.body, PartType::Message(_))
            && data.len() < 64 * 1024 * 1024
            && find(data, BEGIN_MESSAGE.as_bytes()).is_some()
            && !self.out.encrypted
        {
            return self.text_part(data, None, depth);
        }
        self.keep_file(msg, id, content_type)
    }

    /// Every other part, a forwarded message (`message/rfc822`) included, is content:
    /// outside the signature it means the signature does not cover all, and it counts
    /// against the attachment limits. A forwarded message is kept as a file, never
    /// opened as ours. The bytes are moved out of the parsed message, not copied: a
    /// large file is held once.
    fn keep_file(
        &mut self,
        msg: &mut Message<'_>,
        id: u32,
        content_type: String,
    ) -> Result<(), OpenError> {
        let Some(part) = msg.parts.get_mut(id as usize) else {
            return Ok(());
        };
        self.content_read();
        self.attachment_bytes += contents_of(part).len() as u64;
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

    /// Parses keys a message offers, within the size limit; keys over it are
    /// ignored, not an error (the report itself is still good).
    /// Revocation signatures standing alone (not in a certificate) are kept for the
    /// pipeline to merge into the keys it holds.
    pub(super) fn offered_keys(&mut self, bytes: &[u8]) -> Vec<Cert> {
        if bytes.len() as u64 > self.limits.max_key_bytes {
            return Vec::new();
        }
        let room = crate::crypto::certs::MAX_OFFERED_REVOCATIONS
            .saturating_sub(self.out.revocations.len());
        let revocations = crate::crypto::certs::revocation_signatures(bytes);
        self.out
            .revocations
            .extend(revocations.into_iter().take(room));
        crate::crypto::parse_certs(bytes).0
    }

    pub(super) fn add_keys(&mut self, certs: Vec<Cert>, source: KeySource) {
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

    pub(super) fn prescan_keys(&mut self, msg: &Message<'_>) {
        let mut found = Vec::new();
        for part in &msg.parts {
            if is_type(part, "application", "pgp-keys") {
                found.extend(self.offered_keys(contents_of(part)));
            }
        }
        self.add_keys(found, KeySource::Attached);
    }
}

/// What a part is to the walk.
enum Layer {
    /// RFC 3156 multipart/encrypted.
    Encrypted,
    /// RFC 3156 multipart/signed.
    PgpSigned,
    /// An S/MIME multipart/signed: the id of the part it signs.
    SmimeSigned(u32),
    /// S/MIME content we cannot read (`application/pkcs7-mime`), and what it is.
    Smime(&'static str),
    /// Any other multipart: its children.
    Multipart(Vec<u32>),
    Leaf,
}

impl Layer {
    fn of(msg: &Message<'_>, part: &MessagePart<'_>) -> Layer {
        let ids = match &part.body {
            PartType::Multipart(ids) => ids.clone(),
            _ => return Layer::leaf(part),
        };
        let Some(ct) = part.content_type() else {
            return Layer::Multipart(ids);
        };
        let subtype = ct.subtype().unwrap_or_default().to_ascii_lowercase();
        let protocol = ct
            .attribute("protocol")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let second = ids.get(1).and_then(|id| msg.part(*id));
        let second_is = |t: &str| second.is_some_and(|p| is_type(p, "application", t));
        match subtype.as_str() {
            "encrypted" => Layer::Encrypted,
            "signed" if protocol.ends_with("pgp-signature") || second_is("pgp-signature") => {
                Layer::PgpSigned
            }
            "signed"
                if protocol.ends_with("pkcs7-signature")
                    || second_is("pkcs7-signature")
                    || second_is("x-pkcs7-signature") =>
            {
                match ids.first() {
                    Some(first) => Layer::SmimeSigned(*first),
                    None => Layer::Multipart(ids),
                }
            }
            _ => Layer::Multipart(ids),
        }
    }

    fn leaf(part: &MessagePart<'_>) -> Layer {
        let smime = is_type(part, "application", "pkcs7-mime")
            || is_type(part, "application", "x-pkcs7-mime")
            || part
                .attachment_name()
                .is_some_and(|n| n.eq_ignore_ascii_case("smime.p7m"));
        if !smime {
            return Layer::Leaf;
        }
        let kind = part
            .content_type()
            .and_then(|c| c.attribute("smime-type"))
            .unwrap_or_default()
            .to_ascii_lowercase();
        Layer::Smime(match kind.as_str() {
            "signed-data" => "signed with S/MIME in a form only S/MIME can read (signed-data)",
            "enveloped-data" | "authenveloped-data" => "encrypted with S/MIME",
            _ => "S/MIME (application/pkcs7-mime)",
        })
    }
}

/// Whether a part holds OpenPGP data: an armored message, or binary packets in a
/// binary part (the first byte of every OpenPGP packet has its top bit set; a text
/// part may start with any character).
fn holds_openpgp(part: &MessagePart<'_>) -> bool {
    let data = contents_of(part);
    let binary = matches!(part.body, PartType::Binary(_) | PartType::InlineBinary(_));
    find(data, BEGIN_MESSAGE.as_bytes()).is_some()
        || (binary
            && !is_type(part, "application", "pgp-encrypted")
            && data.first().is_some_and(|b| b & 0x80 != 0))
}

/// Whether a part is RFC 3156's "Version: 1" identification and nothing else.
fn is_version_part(data: &[u8]) -> bool {
    data.len() < 256
        && String::from_utf8_lossy(data)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .all(|l| l.to_ascii_lowercase().starts_with("version:"))
}
