//! The MIME walk: which parts of a message (or of decrypted or signed content) are
//! text, HTML, files, keys, and which are OpenPGP layers to open.

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};
use sequoia_openpgp::Cert;

use super::armor::{BEGIN_MESSAGE, BEGIN_SIGNED, find};
use super::mime::{canonical_crlf, children, contents_of, is_type, transfer_decoded};
use super::{Attachment, Ctx, Form, OpenError};
use crate::crypto::KeySource;

impl Ctx<'_> {
    /// Handles one MIME entity (a whole message, or decrypted/signed content).
    pub(super) fn entity(&mut self, bytes: &[u8], depth: usize) -> Result<(), OpenError> {
        self.limits
            .check("max_openpgp_layers", "nested layers", depth as u64)?;
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
    pub(super) fn pgp_mime_encrypted(
        &mut self,
        msg: &Message<'_>,
        depth: usize,
    ) -> Result<(), OpenError> {
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
    pub(super) fn pgp_mime_signed(
        &mut self,
        msg: &Message<'_>,
        depth: usize,
    ) -> Result<(), OpenError> {
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

    /// An ordinary message: its text, HTML, attachments, keys, and any inline
    /// OpenPGP blocks in the text.
    pub(super) fn collect(&mut self, msg: &mut Message<'_>, depth: usize) -> Result<(), OpenError> {
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

    pub(super) fn attachment(
        &mut self,
        part: &mut MessagePart<'_>,
        depth: usize,
    ) -> Result<(), OpenError> {
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
            "max_attachments",
            "attachments",
            self.out.attachments.len() as u64 + 1,
        )?;
        self.limits.check(
            "max_attachment_bytes",
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
    pub(super) fn offered_keys(&self, bytes: &[u8]) -> Vec<Cert> {
        if bytes.len() as u64 > self.limits.max_key_bytes {
            return Vec::new();
        }
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
