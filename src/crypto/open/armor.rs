//! Inline OpenPGP: armored messages and cleartext-signed blocks inside text.

use super::mime::decode_charset;
use super::{Ctx, Form, OpenError};
use crate::crypto::KeySource;

pub(super) const BEGIN_MESSAGE: &str = "-----BEGIN PGP MESSAGE-----";
pub(super) const END_MESSAGE: &str = "-----END PGP MESSAGE-----";
pub(super) const BEGIN_SIGNED: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
pub(super) const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";
pub(super) const BEGIN_PUBKEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
pub(super) const END_PUBKEY: &str = "-----END PGP PUBLIC KEY BLOCK-----";

impl Ctx<'_> {
    /// A text body that may hold inline OpenPGP blocks, as transfer-decoded bytes in
    /// the part's own charset (clearsigned text is signed in that charset).
    pub(super) fn text_part(
        &mut self,
        bytes: &[u8],
        charset: Option<&str>,
        depth: usize,
    ) -> Result<(), OpenError> {
        self.limits
            .check("max_openpgp_layers", "nested layers", depth as u64)?;
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

    pub(super) fn push_decoded(&mut self, bytes: &[u8], charset: Option<&str>) {
        let text = decode_charset(bytes, charset);
        self.push_text(&text);
    }

    pub(super) fn push_text(&mut self, text: &str) {
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
}

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    find_from(hay, needle, 0)
}

pub(super) fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

pub(super) fn split3(bytes: &[u8], start: usize, end: usize) -> (&[u8], &[u8], &[u8]) {
    let (head, tail) = bytes.split_at(start.min(bytes.len()));
    let (mid, rest) = tail.split_at(end.saturating_sub(start).min(tail.len()));
    (head, mid, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_and_split() {
        assert_eq!(find(b"xxabcxx", b"abc"), Some(2));
        assert_eq!(find_from(b"abcabc", b"abc", 1), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        let (a, b, c) = split3(b"0123456789", 2, 5);
        assert_eq!((a, b, c), (&b"01"[..], &b"234"[..], &b"56789"[..]));
    }
}
