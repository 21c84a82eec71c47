//! Inline OpenPGP: armored messages and cleartext-signed blocks inside text.

use super::mime::decode_charset;
use super::{Body, Ctx, Form, OpenError};
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
        self.limits.check(
            crate::config::Limit::MaxOpenpgpLayers,
            "nested layers",
            depth as u64,
        )?;
        let mut rest = bytes;
        // Where the next search for an armor line starts: past a BEGIN line quoted in
        // prose, which stays part of the text around it.
        let mut from = 0;
        loop {
            let msg_at = find_from(rest, BEGIN_MESSAGE.as_bytes(), from);
            let signed_at = find_from(rest, BEGIN_SIGNED.as_bytes(), from);
            match (msg_at, signed_at) {
                (Some(m), s) if s.is_none_or(|s| m < s) => {
                    let Some(block_end) =
                        find_from(rest, END_MESSAGE.as_bytes(), m).map(|e| e + END_MESSAGE.len())
                    else {
                        if armor_data_follows(rest.get(m..).unwrap_or_default()) {
                            return Err(OpenError::Corrupt(
                                "armored message has no END line".into(),
                            ));
                        }
                        // A BEGIN line with no OpenPGP data after it and no END line
                        // (a report about an OpenPGP bug quoting one) is text.
                        from = m + BEGIN_MESSAGE.len();
                        continue;
                    };
                    let (before, block, after) = split3(rest, m, block_end);
                    self.push_decoded(before, charset);
                    if self.out.form == Form::Plain {
                        self.out.form = Form::Inline;
                    }
                    let block = armor_as_gnupg_reads(&armor_line_ends(block));
                    let (plaintext, status, decrypted) = self.decrypt_verified(&block)?;
                    let inner_charset =
                        plaintext_charset(&plaintext, charset, armor_charset(&block));
                    self.opened_layer(status, decrypted, |ctx| {
                        ctx.plaintext(&plaintext, inner_charset.as_deref(), depth + 1)
                    })?;
                    rest = after;
                    from = 0;
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
                    self.apply(verdict, self.encrypted_depth > 0, false);
                    self.under(status, |ctx| ctx.push_decoded(&text, charset));
                    rest = after;
                    from = 0;
                }
                _ => {
                    self.push_decoded(rest, charset);
                    return Ok(());
                }
            }
        }
    }

    /// What an armored message decrypted to: a MIME entity when it starts with MIME
    /// headers (the encrypted part of a PGP/MIME message a provider rewrote, a client
    /// that encrypts MIME inline, GpgOL's internal form), else text in `charset`,
    /// possibly clearsigned again.
    pub(super) fn plaintext(
        &mut self,
        bytes: &[u8],
        charset: Option<&str>,
        depth: usize,
    ) -> Result<(), OpenError> {
        if starts_with_mime_headers(bytes) {
            self.entity(bytes, depth)
        } else {
            self.text_part(bytes, charset, depth)
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
        match self.out.body.last_mut() {
            Some(Body::Text(t)) => {
                t.push_str("\n\n");
                t.push_str(trimmed);
            }
            _ => self.out.body.push(Body::Text(trimmed.to_string())),
        }
    }

    /// An HTML body part, kept in order with the text (an HTML part is content like
    /// any other: outside the signature, it means the signature does not cover all).
    pub(super) fn push_html(&mut self, html: String) {
        if html.trim().is_empty() {
            return;
        }
        self.content_read();
        self.out.body.push(Body::Html(html));
    }
}

/// Whether OpenPGP data follows an armor BEGIN line (`at` is where the line starts):
/// the line ends after the marker, optional `Key: value` armor headers and a blank
/// line follow, then a line of radix-64 that starts an OpenPGP packet. A report that
/// quotes the line in prose has none of that, and is read as text.
fn armor_data_follows(at: &[u8]) -> bool {
    let text = String::from_utf8_lossy(at.get(..at.len().min(4096)).unwrap_or(at));
    let mut lines = text
        .split('\n')
        .map(|l| l.trim_end_matches(['\r', ' ', '\t']));
    if lines.next() != Some(BEGIN_MESSAGE) {
        return false;
    }
    let mut lines = lines.skip_while(|l| is_armor_header(l));
    // RFC 4880 section 6.2: a blank line ends the armor headers. Some writers leave it
    // out; the data line is recognised either way.
    let data = match lines.next() {
        Some("") => lines.next(),
        other => other,
    };
    let Some(data) = data.filter(|d| d.len() >= 4) else {
        return false;
    };
    if !data
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return false;
    }
    use base64::Engine as _;
    let head = data.get(..data.len() / 4 * 4).unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(head)
        .unwrap_or_default();
    // Every OpenPGP packet header has its top bit set (RFC 4880 section 4.2).
    decoded.first().is_some_and(|b| b & 0x80 != 0)
}

/// An armor header line (`Version: GnuPG v2`, `Charset: ISO-8859-15`).
fn is_armor_header(line: &str) -> bool {
    line.split_once(": ").is_some_and(|(key, _)| {
        !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// The armor's `Charset:` header (RFC 4880 section 6.2), if it has one.
fn armor_charset(block: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(block.get(..block.len().min(4096)).unwrap_or(block));
    text.split('\n')
        .skip(1)
        .take_while(|l| is_armor_header(l))
        .find_map(|l| {
            let (key, value) = l.split_once(": ")?;
            key.eq_ignore_ascii_case("charset")
                .then(|| value.trim().to_string())
        })
        .filter(|c| !c.is_empty())
}

/// The charset decrypted inline text is read in. Text that is valid UTF-8 with
/// characters beyond ASCII is UTF-8 (GnuPG encrypts what the sender's terminal or
/// editor wrote, whatever charset the mail part later got; legacy text is almost
/// never valid UTF-8 by chance). Any other text is in the charset of the part the
/// armor came from (a client that encrypts inline encrypts the text it would have
/// sent in that part), unless that names only ASCII; then in the armor's `Charset:`
/// header; else none, which reads UTF-8 with any invalid byte marked.
fn plaintext_charset(
    plaintext: &[u8],
    part: Option<&str>,
    armor: Option<String>,
) -> Option<String> {
    if !plaintext.is_ascii() && std::str::from_utf8(plaintext).is_ok() {
        return Some("utf-8".into());
    }
    part.filter(|c| !names_ascii(c))
        .map(str::to_string)
        .or(armor.filter(|c| !names_ascii(c)))
}

fn names_ascii(charset: &str) -> bool {
    let c = charset.trim().trim_matches('"').to_ascii_lowercase();
    matches!(
        c.as_str(),
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso646-us" | "us" | "csascii"
    )
}

/// An armored block with every line end (CRLF, LF, CR, LF CR, and the CR CR LF a
/// quoted-printable `=0D` before a line break makes) turned into LF, and trailing
/// whitespace dropped, which RFC 4880 section 6.2 says readers ignore: clients
/// (KMail) write armor with CRLF, and parts converted along the way mix them.
fn armor_line_ends(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len());
    let mut bytes = block.iter().copied().peekable();
    let end_line = |out: &mut Vec<u8>| {
        while out.last().is_some_and(|b| matches!(b, b' ' | b'\t')) {
            out.pop();
        }
        out.push(b'\n');
    };
    let mut after_lf = false;
    while let Some(b) = bytes.next() {
        match b {
            // LF CR: the CR belongs to the line end before it.
            b'\r' if after_lf && bytes.peek() != Some(&b'\n') => {}
            b'\r' => {
                while bytes.next_if_eq(&b'\r').is_some() {}
                let _ = bytes.next_if_eq(&b'\n');
                end_line(&mut out);
            }
            b'\n' => end_line(&mut out),
            b => out.push(b),
        }
        after_lf = b == b'\n';
    }
    out
}

/// An armored message (after [`armor_line_ends`]) as GnuPG reads it, which is more
/// forgiving than sequoia's armor reader in ways mail meets (issue 25): armor
/// headers (`Version: GnuPG v2`, `Comment: ...`) followed by the data with no blank
/// line between them (a mailer or relay that drops blank lines), read by GnuPG with
/// a warning and by sequoia not at all; bytes outside the radix-64 alphabet in the
/// data lines (a no-break space a charset conversion or an editor left), which GnuPG
/// skips and sequoia stops at; the data ending at its padding (see [`RadixData`]);
/// the END line glued to the line before it. Here the blank line is put back, such
/// bytes dropped, the data ended at its padding and the END line given its own line;
/// nothing else changes. Dropping bytes from ciphertext or a signed message cannot
/// make it say anything else: the encryption's integrity check and the signature
/// still decide.
fn armor_as_gnupg_reads(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len() + 1);
    let mut lines = block.split(|b| *b == b'\n');
    if let Some(begin) = lines.next() {
        out.extend_from_slice(begin);
        out.push(b'\n');
    }
    let mut in_headers = true;
    let mut data = RadixData::default();
    for line in lines {
        if in_headers {
            if std::str::from_utf8(line).is_ok_and(is_armor_header) {
                out.extend_from_slice(line);
                out.push(b'\n');
                continue;
            }
            in_headers = false;
            out.push(b'\n');
            if line.is_empty() {
                continue;
            }
        }
        // The END line glued to the line before it (the checksum or the last data)
        // is two lines to GnuPG.
        let (text, end) = match find_from(line, b"-----END", 0) {
            Some(at) => line.split_at(at),
            None => (line, &b""[..]),
        };
        let radix: Vec<u8> = text
            .iter()
            .copied()
            .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            .collect();
        data.line(&radix, &mut out);
        out.extend_from_slice(end);
        if !end.is_empty() {
            out.push(b'\n');
        }
    }
    out
}

/// The radix-64 data lines of an armored message, read as GnuPG reads them: the
/// data ends at its padding (`=`), and what follows the padding on that line (the
/// checksum line, joined to it when a quoted-printable decoder took `=` and the line
/// break for a soft line break) and any data line after it are not data. A `=` at
/// the start of a four-character group is not padding but a checksum glued to the
/// data. sequoia's reader decodes on after the padding and makes a bogus packet of
/// the checksum ("Malformed packet: Truncated packet", issue 25).
#[derive(Default)]
struct RadixData {
    /// Data characters so far (modulo 4 tells where a group starts).
    chars: usize,
    /// The data ended (padding or a checksum seen).
    ended: bool,
    /// A checksum line was written (one at most).
    checksum: bool,
}

impl RadixData {
    fn line(&mut self, radix: &[u8], out: &mut Vec<u8>) {
        if radix.is_empty() {
            return;
        }
        if radix.first() == Some(&b'=') {
            // The checksum line ends the data.
            if !self.checksum {
                out.extend_from_slice(radix);
                out.push(b'\n');
            }
            self.ended = true;
            self.checksum = true;
            return;
        }
        if self.ended {
            return;
        }
        let data_len = radix.iter().position(|b| *b == b'=').unwrap_or(radix.len());
        let (body, rest) = radix.split_at(data_len);
        out.extend_from_slice(body);
        self.chars += body.len();
        if !rest.is_empty() {
            self.ended = true;
            if self.chars.is_multiple_of(4) {
                // Not padding: the checksum, glued to the last line of data.
                out.push(b'\n');
                out.extend(rest.iter().take(5));
                self.checksum = true;
            } else {
                // Padding, completed to the end of its group; what follows it on
                // the line is not data.
                out.extend(std::iter::repeat_n(b'=', 4 - self.chars % 4));
            }
        }
        out.push(b'\n');
    }
}

/// Whether decrypted bytes begin with a MIME header section that names a
/// Content-Type: every line up to the first blank one is a header field (or the
/// continuation of one). Report text such as "Title: XSS" has no Content-Type.
pub(super) fn starts_with_mime_headers(bytes: &[u8]) -> bool {
    let head = bytes.get(..bytes.len().min(64 * 1024)).unwrap_or(bytes);
    let mut content_type = false;
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return content_type;
        }
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return false;
        };
        let name = line.get(..colon).unwrap_or_default();
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
            return false;
        }
        content_type |= name.eq_ignore_ascii_case(b"content-type");
    }
    false
}

/// The text of an HTML part, for finding and opening the OpenPGP armor in it: tags
/// that break lines (`<br>`, `<div>`, `<p>`...) end a line, other tags go, entities
/// are decoded, `<style>`/`<script>`/`<head>` are dropped. Where the HTML has such
/// tags, its own line breaks are spaces (as a browser shows them); where it has none
/// (armor pasted into a bare `text/html` part), they stay line breaks. Linear, and
/// never fails: the armor itself has no markup in it.
pub(super) fn html_armor_text(html: &str) -> String {
    const BREAKS: [&str; 12] = [
        "br",
        "div",
        "p",
        "pre",
        "tr",
        "li",
        "h1",
        "h2",
        "h3",
        "blockquote",
        "table",
        "body",
    ];
    const HIDDEN: [&str; 4] = ["style", "script", "head", "title"];
    let lower = html.to_ascii_lowercase();
    let tagged = BREAKS
        .iter()
        .any(|t| lower.contains(&format!("<{t}>")) || lower.contains(&format!("<{t} ")));
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        let after = rest.get(c.len_utf8()..).unwrap_or_default();
        match c {
            '<' => {
                let end = after.find('>').map_or(after.len(), |e| e + 1);
                let tag = after.get(..end.saturating_sub(1)).unwrap_or_default();
                let name: String = tag
                    .trim_start_matches('/')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
                    .to_ascii_lowercase();
                rest = after.get(end..).unwrap_or_default();
                if HIDDEN.contains(&name.as_str()) && !tag.starts_with('/') {
                    // Searched in the lower-cased copy (same byte offsets), from here
                    // on only: the walk stays linear however many such tags there are.
                    let here = html.len() - rest.len();
                    let close = format!("</{name}");
                    let at = lower
                        .get(here..)
                        .and_then(|l| l.find(&close))
                        .unwrap_or(rest.len());
                    rest = rest.get(at..).unwrap_or_default();
                } else if BREAKS.contains(&name.as_str()) && (name == "br" || !out.ends_with('\n'))
                {
                    end_line(&mut out);
                }
                continue;
            }
            '&' => {
                // Entities are short: look for the `;` only near, not to the end.
                let end = after
                    .char_indices()
                    .take(12)
                    .find(|(_, c)| *c == ';')
                    .map(|(e, _)| e);
                let decoded = end.and_then(|e| after.get(..e)).and_then(entity);
                if let (Some(e), Some(ch)) = (end, decoded) {
                    push_html_char(&mut out, ch, tagged);
                    rest = after.get(e + 1..).unwrap_or_default();
                    continue;
                }
                push_html_char(&mut out, '&', tagged);
            }
            '\r' => {}
            '\n' if !tagged => end_line(&mut out),
            c => push_html_char(&mut out, c, tagged),
        }
        rest = after;
    }
    out
}

/// Ends a line, without the spaces that were before the break.
fn end_line(out: &mut String) {
    while out.ends_with(' ') {
        out.pop();
    }
    out.push('\n');
}

fn push_html_char(out: &mut String, c: char, tagged: bool) {
    // A no-break space is shown wherever it is, even alone on a line (Outlook writes
    // the blank line after an armor header as `<div>&nbsp;</div>`).
    if c == '\u{a0}' {
        out.push(' ');
        return;
    }
    let c = if tagged && c.is_whitespace() { ' ' } else { c };
    // A browser does not show spaces at the start of a line.
    if c == ' ' && tagged && (out.is_empty() || out.ends_with('\n')) {
        return;
    }
    out.push(c);
}

/// The character an HTML entity (without `&` and `;`) stands for.
fn entity(name: &str) -> Option<char> {
    let number = |digits: &str, radix| {
        u32::from_str_radix(digits, radix)
            .ok()
            .and_then(char::from_u32)
    };
    match name {
        "nbsp" => Some('\u{a0}'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => match name.strip_prefix('#') {
            Some(hex) if hex.starts_with(['x', 'X']) => number(hex.get(1..)?, 16),
            Some(dec) => number(dec, 10),
            None => None,
        },
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
    fn html_to_armor_text() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "a <div> per line, &nbsp; lines, entities",
                "<html><head><style>p { x: 1; }</style></head><body>\n<div>-----BEGIN</div>\n<div>&nbsp;</div>\n<div>ab&#43;c&#x2F;d</div>\n<div>-----END</div>\n</body></html>",
                "\n-----BEGIN\n\nab+c/d\n-----END\n",
            ),
            (
                "<br> line breaks, source newlines are spaces",
                "line one<br>\nline\ntwo<BR/>",
                "line one\nline two\n",
            ),
            (
                "no tags: the part's own line breaks stay",
                "-----BEGIN\r\n\r\nabc\r\n-----END\r\n",
                "-----BEGIN\n\nabc\n-----END\n",
            ),
            (
                "bogus entities and tags kept or dropped, never a panic",
                "<p>&bogus; &amp &#xZZ; &#99999999; <unclosed",
                "\n&bogus; &amp &#xZZ; &#99999999; ",
            ),
            (
                "non-ASCII text",
                "<p>caf\u{e9}\u{a0}ok</p>",
                "\ncaf\u{e9} ok\n",
            ),
        ];
        for (name, html, want) in cases {
            assert_eq!(html_armor_text(html), *want, "{name}");
        }
        // Linear however hostile: many unclosed hidden tags and lone ampersands.
        let hostile = format!("<p>{}{}", "<style>".repeat(20_000), "&".repeat(200_000));
        let started = std::time::Instant::now();
        let _ = html_armor_text(&hostile);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn mime_headers_or_report_text() {
        for (bytes, want) in [
            (
                &b"Content-Type: text/plain\r\nSubject: x\r\n\r\nbody"[..],
                true,
            ),
            (
                b"Subject: x\n content-type continues\nCONTENT-TYPE: multipart/mixed; b=1\n\n",
                true,
            ),
            (b"Title: XSS in search\nImpact: high\n\nDescription", false),
            (b"Content-Type: text/plain", false),
            (b"Hello,\nContent-Type: text/plain\n\n", false),
            (b"", false),
        ] {
            assert_eq!(
                starts_with_mime_headers(bytes),
                want,
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn armor_line_ends_are_lf() {
        assert_eq!(
            armor_line_ends(b"-----BEGIN\r\nA: b \r\n\r\nabc\r\r\nde\rf\n\rg\n-----END\r\n"),
            b"-----BEGIN\nA: b\n\nabc\nde\nf\ng\n-----END\n"
        );
    }

    #[test]
    fn armor_is_read_as_gnupg_reads_it() {
        let cases: &[(&str, &[u8], &[u8])] = &[
            (
                "as written",
                b"-----BEGIN PGP MESSAGE-----\nVersion: GnuPG v2\n\nhQEM\nA0Zk\n=JJFP\n-----END PGP MESSAGE-----",
                b"-----BEGIN PGP MESSAGE-----\nVersion: GnuPG v2\n\nhQEM\nA0Zk\n=JJFP\n-----END PGP MESSAGE-----\n",
            ),
            (
                "no blank line after the headers",
                b"-----BEGIN PGP MESSAGE-----\nVersion: GnuPG v2\nComment: Using GnuPG with KMail\nhQEM\n-----END PGP MESSAGE-----",
                b"-----BEGIN PGP MESSAGE-----\nVersion: GnuPG v2\nComment: Using GnuPG with KMail\n\nhQEM\n-----END PGP MESSAGE-----\n",
            ),
            (
                "no headers, no blank line",
                b"-----BEGIN PGP MESSAGE-----\nhQEM\n-----END PGP MESSAGE-----",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\n-----END PGP MESSAGE-----\n",
            ),
            (
                "the END line glued to the checksum, and to the data",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0Zk\n=JJFP-----END PGP MESSAGE-----",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0Zk\n=JJFP\n-----END PGP MESSAGE-----\n",
            ),
            (
                "the END line glued to the data",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0Z=-----END PGP MESSAGE-----",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0Z=\n-----END PGP MESSAGE-----\n",
            ),
            (
                "the checksum joined to the last data line by a soft line break",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0Z=Cume\n-----END PGP MESSAGE-----",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0Z=\n-----END PGP MESSAGE-----\n",
            ),
            (
                "one of two padding characters lost, the checksum after it",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0=\n=Cume\n-----END PGP MESSAGE-----",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0==\n=Cume\n-----END PGP MESSAGE-----\n",
            ),
            (
                "a checksum glued to whole groups of data",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0Zk=Cume\n-----END PGP MESSAGE-----",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0Zk\n=Cume\n-----END PGP MESSAGE-----\n",
            ),
            (
                "data after the padding",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0Z=\nmore\n=Cume\n-----END PGP MESSAGE-----",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0Z=\n=Cume\n-----END PGP MESSAGE-----\n",
            ),
            (
                "no-break spaces (UTF-8 and Latin-1) and a tab in the data",
                b"-----BEGIN PGP MESSAGE-----\n\nhQ\xc2\xa0EM\nA0\xa0Zk\tx\n-----END PGP MESSAGE-----",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEM\nA0Zkx\n-----END PGP MESSAGE-----\n",
            ),
        ];
        for (name, block, want) in cases {
            assert_eq!(
                String::from_utf8_lossy(&armor_as_gnupg_reads(block)),
                String::from_utf8_lossy(want),
                "{name}"
            );
        }
    }

    #[test]
    fn openpgp_data_after_a_begin_line() {
        for (text, want) in [
            ("-----BEGIN PGP MESSAGE-----\n\nhQEMA0Zk\n", true),
            (
                "-----BEGIN PGP MESSAGE-----\r\nVersion: GnuPG v2\r\n\r\nhQEMA0Zk\r\n",
                true,
            ),
            ("-----BEGIN PGP MESSAGE-----\nhQEMA0Zk\n", true),
            (
                "-----BEGIN PGP MESSAGE-----\n\nand then more prose\n",
                false,
            ),
            (
                "-----BEGIN PGP MESSAGE-----` lines crash it\n\nhQEMA0Zk\n",
                false,
            ),
            ("-----BEGIN PGP MESSAGE-----\n\nAAAAAAAA\n", false),
            ("-----BEGIN PGP MESSAGE-----", false),
        ] {
            assert_eq!(armor_data_follows(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn decrypted_text_charset() {
        let armor = |c: &str| {
            armor_charset(
                format!("-----BEGIN PGP MESSAGE-----\r\nCharset: {c}\r\n\r\nhQEMA\r\n").as_bytes(),
            )
        };
        assert_eq!(armor("ISO-8859-15").as_deref(), Some("ISO-8859-15"));
        assert_eq!(
            armor_charset(b"-----BEGIN PGP MESSAGE-----\n\nCharset: x\n"),
            None
        );
        let latin9 = b"Gr\xfc\xdfe, 5 \xa4";
        let utf8 = "Gr\u{fc}\u{df}e, 5 \u{20ac}".as_bytes();
        for (text, part, armor_header, want) in [
            (
                &latin9[..],
                Some("iso-8859-15"),
                Some("utf-8"),
                Some("iso-8859-15"),
            ),
            (
                latin9,
                Some("US-ASCII"),
                Some("ISO-8859-15"),
                Some("ISO-8859-15"),
            ),
            (latin9, None, Some("ISO-8859-15"), Some("ISO-8859-15")),
            (latin9, Some("us-ascii"), None, None),
            (latin9, None, None, None),
            // UTF-8 text pasted into a Latin-1 part is still UTF-8.
            (utf8, Some("iso-8859-1"), None, Some("utf-8")),
            (
                b"ascii only",
                Some("iso-8859-15"),
                None,
                Some("iso-8859-15"),
            ),
        ] {
            assert_eq!(
                plaintext_charset(text, part, armor_header.map(str::to_string)).as_deref(),
                want,
                "{part:?} {armor_header:?}"
            );
        }
    }

    #[test]
    fn find_and_split() {
        assert_eq!(find(b"xxabcxx", b"abc"), Some(2));
        assert_eq!(find_from(b"abcabc", b"abc", 1), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        let (a, b, c) = split3(b"0123456789", 2, 5);
        assert_eq!((a, b, c), (&b"01"[..], &b"234"[..], &b"56789"[..]));
    }
}
